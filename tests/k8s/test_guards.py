"""Every remote task refuses before running anything when the kubeconfig points elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirante import errors
from tests.helpers import SERVERS

# (task args, the environment it targets); each also runs with --dry-run below.
REMOTE_TASKS = [
    (["k8s.install", "dev"], "dev"),
    (["k8s.diff", "dev"], "dev"),
    (["k8s.status", "staging"], "staging"),
    (["k8s.uninstall", "staging", "--yes"], "staging"),
    (["provision", "--profile", "k8s", "--yes"], "dev"),
    (["staging.reset", "--yes", "--env", "staging"], "staging"),
    (["deploy.service", "app", "--env", "staging", "--tag", "v1.2.3", "--yes"], "staging"),
    (["deploy.rollback", "app", "--env", "staging", "--yes"], "staging"),
    (["deploy.history", "app", "--env", "dev"], "dev"),
]


def nothing_written(root: Path) -> None:
    assert not (root / "artifacts").exists(), "a snapshot was taken before the guard"
    assert not (root / ".mirante" / "k8s").exists(), "values were generated before the guard"


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize(
    ("args", "env"), REMOTE_TASKS, ids=[" ".join(a[:2]) for a, _ in REMOTE_TASKS]
)
def test_the_wrong_current_context_is_refused(
    kube, root: Path, args: list[str], env: str, dry_run: bool
) -> None:
    done = kube("other-cluster")(*args, *(["--dry-run"] if dry_run else []))
    assert done.returncode == 3, done.stdout + done.stderr
    assert (
        f"the current kube context is 'other-cluster' but environments.yaml expects 'mirante-{env}'"
        in done.stderr
    )
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert "helm " not in done.stdout
    assert "kubectl --context" not in done.stdout
    nothing_written(root)


@pytest.mark.parametrize(
    ("args", "env"), REMOTE_TASKS, ids=[" ".join(a[:2]) for a, _ in REMOTE_TASKS]
)
def test_the_right_context_at_another_api_server_is_refused(
    kube, root: Path, args: list[str], env: str
) -> None:
    moved = {**SERVERS, f"mirante-{env}": "https://10.9.8.7:6443"}
    done = kube(f"mirante-{env}", moved)(*args)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "points at https://10.9.8.7:6443 but environments.yaml expects" in done.stderr
    nothing_written(root)


def test_without_any_context_a_dry_run_shows_the_plan_and_a_real_run_refuses(kube) -> None:
    invoke = kube("")
    shown = invoke("k8s.install", "dev", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert "# guard: unchecked: no current kube context" in shown.stdout
    assert "helm --kube-context mirante-dev upgrade --install" in shown.stdout
    refused = invoke("k8s.install", "dev")
    assert refused.returncode == 3
    assert "no current kube context" in refused.stderr


@pytest.mark.parametrize("mode", ["--yes", "--dry-run"])
def test_prod_refuses_destructive_tasks_outright(kube, root: Path, mode: str) -> None:
    done = kube("mirante-prod")("k8s.uninstall", "prod", mode)
    assert done.returncode == 3
    assert "prod is protected (no-destructive in environments.yaml)" in done.stderr
    nothing_written(root)


def test_prod_asks_before_a_change_and_refuses_without_a_terminal(kube) -> None:
    done = kube("mirante-prod")("deploy.rollback", "app", "--env", "prod")
    assert done.returncode == 1
    assert "Refusing without a terminal to confirm on: pass --yes" in done.stderr
    assert "--> " not in done.stdout  # no step ran


def test_staging_reset_needs_the_environment_named_with_yes(kube) -> None:
    invoke = kube("mirante-staging")
    unnamed = invoke("staging.reset", "--yes")
    assert unnamed.returncode == 2
    assert "--yes needs --env staging" in unnamed.stderr
    elsewhere = invoke("staging.reset", "--env", "prod", "--dry-run")
    assert elsewhere.returncode == 2
    assert "resets staging only" in elsewhere.stderr


def test_the_reset_preview_aborts_above_the_threshold(
    monkeypatch, tmp_path: Path, root: Path
) -> None:
    from mirante import settings
    from mirante.remote import staging as plans
    from tests.helpers import write_kubeconfig

    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kc", "mirante-staging")))
    s = settings.load(root, environ={})
    staging = s.environments.get("staging")
    asked: list[list[str]] = []
    plan = plans.reset_plan(s, staging, False, asked.append, seed=None, snapshot_db=None)
    (check,) = [step for step in plan.steps if step.title.startswith("at most 50 objects")]
    assert check.action is not None
    listed = "\n".join(f"deployment.apps/app-{n}" for n in range(51))
    with pytest.raises(errors.ProtectionRefused, match="would delete 51 objects, more than"):
        check.action(listed)
    assert asked == []  # refused before asking
    assert "2 objects to delete" in check.action("deployment.apps/app\nservice/app\n")
    assert asked == [["deployment.apps/app", "service/app"]]
    # What kubectl prints when nothing matches is not an object to delete.
    assert check.action("No resources found\n") == "0 objects to delete: none"
    assert asked[-1] == []


BAD_INPUT = [
    ("k8s.install qa", "unknown environment 'qa'; known environments: dev, staging, prod"),
    (
        "deploy.service web --env dev --tag v1",
        "unknown service 'web' in dev; the overlay deploys: app",
    ),
    ("deploy.service app --env dev --tag v1_2!", "invalid image tag 'v1_2!'"),
    ("deploy.service app --tag v1", "name the environment with --env"),
    ("deploy.rollback app --env dev --revision -1", "invalid revision '-1'"),
    ("provision --profile vm", "unknown profile 'vm'; use docker or k8s"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[a for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_changes_nothing(
    kube, root: Path, args: str, message: str
) -> None:
    done = kube("mirante-dev")(*args.split(), "--dry-run")
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    nothing_written(root)


def test_a_malformed_environments_file_is_reported_with_its_line(kube, tmp_path: Path) -> None:
    bad = tmp_path / "environments.yaml"
    bad.write_text("environments:\n  dev:\n    context: [mirante-dev\n")
    done = kube("mirante-dev")("k8s.status", "dev", MIRANTE_ENVIRONMENTS_FILE=str(bad))
    assert done.returncode == 2
    assert "is not valid YAML at line 4, column 1" in done.stderr, done.stderr


def test_missing_kubectl_and_helm_are_named(kube, tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    done = kube("mirante-dev")("k8s.install", "dev", "--dry-run", PATH=str(empty))
    assert done.returncode == 1  # a tool error: ToolNotFound, as for docker and terraform
    assert "`kubectl` is not on PATH: run `bash scripts/ci/bootstrap.sh`" in done.stderr
