"""What a plan says when the cluster is not as expected.

Each case of a real API server's output is fed to the plan's own steps (there is no
cluster here).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mirante import errors, settings
from mirante.plans import Plan
from mirante.remote import k8s, provision
from mirante.runner import Command, Result
from mirante.tools import kube
from tests.helpers import write_kubeconfig


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, root: Path) -> Any:
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kc", "mirante-dev")))
    return settings.load(root, environ={})


def answers(monkeypatch: pytest.MonkeyPatch, by_word: dict[str, str]) -> list[Command]:
    """Make ``kube.run_kube`` answer each command by the first word of ``by_word`` in it."""
    seen: list[Command] = []

    def run(command: Command, timeout: float | None = None, cwd: Path | None = None) -> Result:
        seen.append(command)
        text = " ".join(command.argv)
        for word, out in by_word.items():
            if word in text:
                return Result(command, 0, out, "")
        return Result(command, 0, "", "")

    monkeypatch.setattr(kube, "run_kube", run)
    return seen


def action(plan: Plan, title: str) -> Any:
    (step,) = [s for s in plan.steps if s.title.startswith(title)]
    return step


def test_a_missing_servicemonitor_crd_stops_before_any_change(config: Any) -> None:
    dev = config.environments.get("dev")
    plan = provision.provision_k8s_plan(config, dev, dry_run=False)
    check = action(plan, "check: the ServiceMonitor CRD exists").action
    with pytest.raises(errors.ClusterNotReady) as caught:
        check("")
    assert "install kube-prometheus-stack first (`invoke k8s.install dev`)" in str(caught.value)
    assert "nothing was changed" in str(caught.value)
    assert check(
        "customresourcedefinition.apiextensions.k8s.io/servicemonitors.monitoring.coreos.com\n"
    )
    # The check comes before the apply.
    titles = [s.title for s in plan.steps]
    assert titles.index("check: the ServiceMonitor CRD exists") < titles.index(
        "apply the app's overlay"
    )


def test_diff_on_a_fresh_cluster_lists_the_objects_as_new(config: Any) -> None:
    dev = config.environments.get("dev")
    plan = k8s.diff_plan(config, dev, dry_run=False)
    last = plan.steps[-1]
    assert last.action is not None
    said = last.action("")  # `kubectl get namespace mirante-dev --ignore-not-found`: nothing
    lines = said.splitlines()
    assert lines[0] == "namespace mirante-dev does not exist: all 4 objects are new"
    assert "+ Deployment/app" in lines
    assert "+ ServiceMonitor/otlp-metrics" in lines


def test_a_stuck_rollout_says_why_and_how_to_go_back(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = {"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "app"}}},
                  "status": {"readyReplicas": 1, "updatedReplicas": 1}}  # fmt: skip
    waiting = {"state": {"waiting": {"reason": "ImagePullBackOff"}}}
    pods = {"items": [{"metadata": {"name": "app-7d9"}, "status": {
        "phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [waiting]}}]}  # fmt: skip
    dev = config.environments.get("dev")
    plan = k8s.install_plan(config, dev, dry_run=False)
    seen = answers(
        monkeypatch,
        {"deployment/app -o json": json.dumps(deployment), "get pods": json.dumps(pods),
         "get events": json.dumps({"items": []})},
    )  # fmt: skip
    rollout = action(plan, "rollout of app")
    assert rollout.on_failure is not None
    timed_out = errors.KubeCommandError(
        ["kubectl", "rollout", "status"], 1, "error: timed out waiting for the condition"
    )
    said = str(rollout.on_failure(timed_out))
    assert said == (
        "rollout of app in mirante-dev did not finish: 1/2 ready, 1 updated: app-7d9 Pending, "
        "ImagePullBackOff. To go back: invoke deploy.rollback app --env dev"
    )
    assert any("--selector" in c.argv and "app=app" in c.argv for c in seen)


def test_a_helm_timeout_names_the_hook_job_it_waited_on(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = {"items": [{"metadata": {"name": "kps-admission-create",
                                    "annotations": {"helm.sh/hook": "pre-install,pre-upgrade"}},
                       "status": {"active": 1}}]}  # fmt: skip
    dev = config.environments.get("dev")
    plan = k8s.install_plan(config, dev, dry_run=False)
    answers(monkeypatch, {"get jobs": json.dumps(jobs), "get pods": json.dumps({"items": []})})
    helm = action(plan, "helm release kube-prometheus-stack")
    assert helm.on_failure is not None
    timed_out = errors.KubeCommandError(
        ["helm", "upgrade"], 1, "Error: UPGRADE FAILED: context deadline exceeded"
    )
    said = str(helm.on_failure(timed_out))
    assert said.startswith("helm gave up after 600 s (MIRANTE_K8S_TIMEOUT, which covers each ")
    assert "the pre-install,pre-upgrade hook Job kps-admission-create (not complete)" in said
    other = errors.KubeCommandError(["helm", "upgrade"], 1, "Error: chart not found")
    assert helm.on_failure(other) is other  # not a wait: kept as helm said it


def test_the_grafana_secret_is_made_once_and_kept(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = config.environments.get("dev")
    plan = k8s.install_plan(config, dev, dry_run=False)
    step = action(plan, "Secret monitoring/grafana-admin")
    files: list[tuple[str, int]] = []

    def run(command: Command, timeout: float | None = None, cwd: Path | None = None) -> Result:
        seen.append(command)
        for arg in command.argv:
            if arg.startswith("--from-env-file="):
                path = Path(arg.split("=", 1)[1])
                files.append((path.read_text(), path.stat().st_mode & 0o777))
        return Result(command, 0, existing, "")

    seen: list[Command] = []
    monkeypatch.setattr(kube, "run_kube", run)
    existing = "secret/grafana-admin\n"
    assert step.action("") == "Secret monitoring/grafana-admin exists: kept"
    assert [c.argv[3:5] for c in seen] == [("--namespace", "monitoring")]
    assert all("create" not in c.argv for c in seen)

    seen.clear()
    existing = ""
    said = step.action("")
    assert said.startswith("Secret monitoring/grafana-admin created with a generated password")
    create = seen[-1].argv
    assert create[5:9] == ("create", "secret", "generic", "grafana-admin")
    ((text, mode),) = files
    assert mode == 0o600
    values = dict(line.split("=", 1) for line in text.splitlines())
    assert values["admin-user"] == "admin"
    assert len(values["admin-password"]) >= 24
    assert values["admin-password"] not in " ".join(create) + said  # never shown
    assert not Path(create[-1].split("=", 1)[1]).exists()  # the file is gone
