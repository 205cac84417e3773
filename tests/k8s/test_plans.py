"""The --dry-run plans, command by command, as `invoke` prints them to a user."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO

TIMEOUT = "600s"
ALL_RELEASES = yaml.safe_load((REPO / "k8s/helm/releases.yaml").read_text())["releases"]


def releases_of(env: str) -> list[dict[str, object]]:
    return [r for r in ALL_RELEASES if env in r.get("environments", [env])]


RELEASES = releases_of("dev")


def commands(stdout: str) -> list[list[str]]:
    """The plan's command lines (comments and notes left out), split as a shell would."""
    return [shlex.split(line) for line in stdout.splitlines() if line and not line.startswith("#")]


def helm_major() -> int:
    from mirante.remote.kube import tool_version

    return tool_version("helm")[0]


def test_install_plan(kube, root: Path) -> None:
    done = kube("mirante-dev")("k8s.install", "dev", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert (
        "# guard: ok: context 'mirante-dev' at https://dev.k8s.mirante.internal:6443" in done.stdout
    )
    wait = (
        ["--wait=watcher", "--rollback-on-failure"] if helm_major() >= 4 else ["--wait", "--atomic"]
    )
    ctx = ["kubectl", "--context", "mirante-dev"]

    def namespace(name: str) -> list[str]:
        return [*ctx, "create", "namespace", name, "--dry-run=client", "-o", "yaml", "|",
                *ctx, "apply", "-f", "-"]  # fmt: skip

    expected = [namespace("monitoring")]
    for r in RELEASES:
        values = [
            f"k8s/helm/values/common/{r['name']}.yaml",
            f"k8s/helm/values/dev/{r['name']}.yaml",
        ]
        if r["name"] != "loki":  # dev keeps its logs on the pod's volume: nothing generated
            values.append(f".mirante/k8s/dev/{r['name']}.generated.yaml")
        expected.append(
            ["helm", "--kube-context", "mirante-dev", "upgrade", "--install", r["name"], r["chart"],
             "--repo", r["repo"], "--version", str(r["version"]), "--namespace", "monitoring",
             "--create-namespace", *[a for v in values for a in ("--values", v)], *wait,
             "--timeout", TIMEOUT]
        )  # fmt: skip
    expected += [
        namespace("mirante-dev"),
        [*ctx, "--namespace", "mirante-dev", "create", "configmap", "mirante-features",
         "--from-file=features.yaml=config/features.yaml", "--dry-run=client", "-o", "yaml", "|",
         *ctx, "apply", "-f", "-"],
        [*ctx, "apply", "-k", "k8s/overlays/dev"],
        [*ctx, "--namespace", "mirante-dev", "rollout", "status", "deployment/app",
         f"--timeout={TIMEOUT}"],
    ]  # fmt: skip
    assert commands(done.stdout) == expected
    lines = done.stdout.splitlines()
    # The Secret Grafana's login reads, before the release that needs it; never a password.
    secret = lines.index(
        "# mirante: Secret monitoring/grafana-admin: created once with a generated admin "
        "password (never printed), kept on later installs"
    )
    assert lines[secret - 1] == (
        "kubectl --context mirante-dev create namespace monitoring --dry-run=client -o yaml | "
        "kubectl --context mirante-dev apply -f -"
    )
    assert lines[secret + 1].startswith("helm ")
    assert "# note: no database URL for dev (DEV_DATABASE_URL)" in done.stdout
    generated = yaml.safe_load(
        (root / ".mirante/k8s/dev/kube-prometheus-stack.generated.yaml").read_text()
    )
    assert "APIDown" in str(generated["additionalPrometheusRulesMap"]["api"])
    hooks = generated["alertmanager"]["config"]["receivers"][0]["webhook_configs"]
    assert hooks[0]["url"] == "http://app.mirante-dev.svc:8000/alerts/webhook"


def test_install_plan_shows_the_s3_and_irsa_wiring(kube) -> None:
    done = kube("mirante-staging")("k8s.install", "staging", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert (
        "# note: loki on s3://mirante-staging-logs (eu-west-1), service account loki annotated "
        "eks.amazonaws.com/role-arn=arn:aws:iam::111111111111:role/mirante-staging-loki"
    ) in done.stdout
    assert "# note: tempo on s3://mirante-staging-traces (eu-west-1)" in done.stdout
    helm = [c for c in commands(done.stdout) if c[:1] == ["helm"]]
    tempo = next(c for c in helm if c[5] == "tempo")
    assert tempo[6] == "tempo-distributed"
    assert ".mirante/k8s/staging/tempo.generated.yaml" in tempo


def test_install_plan_makes_the_database_secret_without_showing_the_password(kube) -> None:
    url = "postgresql://reader:s3cr%23t@db.dev.internal:5432/mirante"
    done = kube("mirante-dev")("k8s.install", "dev", "--dry-run", DEV_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert (
        "# mirante: Secret mirante-dev/mirante-db: the app's database connection, from "
        "DEV_DATABASE_URL (never printed)" in done.stdout
    )
    assert "s3cr" not in done.stdout + done.stderr
    assert "no database URL" not in done.stdout


def test_install_plan_checks_the_alerting_secret_first(kube, root: Path, tmp_path: Path) -> None:
    document = yaml.safe_load((REPO / "config" / "environments.yaml").read_text())
    document["environments"]["dev"]["alerting"] = {"slack_channel": "#dev-alerts"}
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(document))
    done = kube("mirante-dev")(
        "k8s.install", "dev", "--dry-run", MIRANTE_ENVIRONMENTS_FILE=str(path)
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    check = lines.index("# mirante: check: it holds slack_webhook_url")
    assert lines[check - 1] == shlex.join(
        ["kubectl", "--context", "mirante-dev", "--namespace", "monitoring", "get", "secret",
         "mirante-alerting", "--ignore-not-found", "-o", "jsonpath={.data}"]
    )  # fmt: skip
    assert lines[check + 1].startswith("helm ")  # before anything is installed
    generated = yaml.safe_load(
        (root / ".mirante/k8s/dev/kube-prometheus-stack.generated.yaml").read_text()
    )
    assert generated["alertmanager"]["alertmanagerSpec"]["secrets"] == ["mirante-alerting"]


def test_diff_plan_shows_everything_as_new_on_a_fresh_cluster(kube) -> None:
    done = kube("mirante-dev")("k8s.diff", "dev", "--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    checks = [line for line in lines if line.endswith("--ignore-not-found -o name")]
    assert len(checks) == len(RELEASES) + 1
    assert checks[-1] == shlex.join(
        ["kubectl", "--context", "mirante-dev", "get", "namespace", "mirante-dev",
         "--ignore-not-found", "-o", "name"]
    )  # fmt: skip
    assert lines[-1] == (
        "# mirante: kubectl --context mirante-dev diff -k k8s/overlays/dev  (or every object "
        "as new, without the namespace)"
    )


@pytest.mark.parametrize(
    ("task", "context"),
    [(("provision", "--profile", "k8s"), "mirante-dev"), (("staging.reset",), "mirante-staging")],
)
def test_plans_that_apply_the_overlay_check_the_crd_before_any_change(
    kube, task: tuple[str, ...], context: str
) -> None:
    done = kube(context)(*task, "--dry-run")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("# guard")]
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    assert lines[first] == shlex.join(
        ["kubectl", "--context", context, "get", "crd", "servicemonitors.monitoring.coreos.com",
         "--ignore-not-found", "-o", "name"]
    )  # fmt: skip
    assert lines[first + 1] == "# mirante: check: the ServiceMonitor CRD exists"


def test_toggling_a_flag_for_a_cluster_shows_the_configmap_refresh(kube, root: Path) -> None:
    before = (root / "config" / "features.yaml").read_text()
    done = kube("mirante-dev")(
        "features.toggle", "traffic_slow_prompts", "enable", "--env", "dev", "--dry-run"
    )
    assert done.returncode == 0, done.stderr
    assert "# would enable traffic_slow_prompts in config/features.yaml for dev, then:" in (
        done.stdout
    )
    ctx = ["kubectl", "--context", "mirante-dev"]
    assert [*ctx, "--namespace", "mirante-dev", "create", "configmap", "mirante-features",
            "--from-file=features.yaml=config/features.yaml", "--dry-run=client", "-o", "yaml",
            "|", *ctx, "apply", "-f", "-"] in commands(done.stdout)  # fmt: skip
    assert (root / "config" / "features.yaml").read_text() == before


def test_reset_plan(kube, root: Path) -> None:
    done = kube("mirante-staging")("staging.reset", "--dry-run")
    assert done.returncode == 0, done.stderr
    scope = ["kubectl", "--context", "mirante-staging", "--namespace", "mirante-staging"]
    kinds = "deployments.apps,services,configmaps,servicemonitors.monitoring.coreos.com"
    crd, snapshot, preview, delete, apply, rollout = commands(done.stdout)
    assert crd[-5:] == ["crd", "servicemonitors.monitoring.coreos.com", "--ignore-not-found",
                        "-o", "name"]  # fmt: skip
    assert snapshot[:-2] == [*scope, "get", kinds, "--selector", "env=staging", "-o", "yaml"]
    assert snapshot[-2] == ">"
    assert re.fullmatch(r"artifacts/backups/\d{8}T\d{6}Z/staging-objects\.yaml", snapshot[-1])
    assert preview == [
        *scope,
        "delete",
        kinds,
        "--selector",
        "env=staging",
        "--dry-run=server",
        "-o",
        "name",
    ]
    assert delete == [
        *scope,
        "delete",
        kinds,
        "--selector",
        "env=staging",
        "--wait=true",
        f"--timeout={TIMEOUT}",
    ]
    assert apply == [
        "kubectl",
        "--context",
        "mirante-staging",
        "apply",
        "-k",
        "k8s/overlays/staging",
    ]
    assert rollout == [*scope, "rollout", "status", "deployment/app", f"--timeout={TIMEOUT}"]
    lines = done.stdout.splitlines()
    check = lines.index("# mirante: at most 50 objects, then confirmation")
    assert lines[check - 1] == shlex.join(preview)
    assert lines[check + 1] == shlex.join(delete)
    assert "neither dumped nor seeded" in done.stdout  # STAGE_DATABASE_URL is not set here
    assert not (root / "artifacts").exists()


def test_reset_plan_dumps_and_seeds_when_the_database_is_known(kube) -> None:
    url = "postgresql://mirante:secret@db.staging.internal:5432/mirante"
    done = kube("mirante-staging")("staging.reset", "--dry-run", STAGE_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    mirante_steps = [line for line in done.stdout.splitlines() if line.startswith("# mirante:")]
    assert mirante_steps[0] == "# mirante: check: the ServiceMonitor CRD exists"
    assert mirante_steps[1].startswith("# mirante: dump of the staging database into ")
    assert mirante_steps[-1] == "# mirante: seed the staging database"
    assert "secret" not in done.stdout


def test_deploy_plan(kube) -> None:
    done = kube("mirante-staging")(
        "deploy.service", "app", "--env", "staging", "--tag", "v1.2.3", "--dry-run"
    )
    assert done.returncode == 0, done.stderr
    scope = ["kubectl", "--context", "mirante-staging", "--namespace", "mirante-staging"]
    assert "# mirante: build the app image as mirante/app:v1.2.3" in done.stdout
    assert commands(done.stdout) == [
        [*scope, "set", "image", "deployment/app", "app=mirante/app:v1.2.3"],
        [*scope, "annotate", "deployment/app", "--overwrite",
         "kubernetes.io/change-cause=mirante deploy.service app v1.2.3"],
        [*scope, "rollout", "status", "deployment/app", f"--timeout={TIMEOUT}"],
    ]  # fmt: skip
    assert "mirante/app:v1.2.3 is not pushed" in done.stdout


def test_deploy_plan_pushes_where_a_registry_is_configured(kube, tmp_path: Path) -> None:
    text = (REPO / "config/environments.yaml").read_text()
    envs = tmp_path / "environments.yaml"
    envs.write_text(text.replace('registry: ""', 'registry: "registry.example.internal:5000/team"'))
    done = kube("mirante-dev")(
        "deploy.service", "app", "--env", "dev", "--tag", "v2", "--dry-run",
        MIRANTE_ENVIRONMENTS_FILE=str(envs),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    image = "registry.example.internal:5000/team/mirante/app:v2"
    assert ["docker", "push", image] == commands(done.stdout)[0]
    assert f"app={image}" in commands(done.stdout)[1]


def test_rollback_and_history_plans(kube) -> None:
    invoke = kube("mirante-staging")
    scope = ["kubectl", "--context", "mirante-staging", "--namespace", "mirante-staging"]
    back = invoke("deploy.rollback", "app", "--env", "staging", "--revision", "3", "--dry-run")
    assert back.returncode == 0, back.stderr
    assert commands(back.stdout) == [
        [*scope, "rollout", "undo", "deployment/app", "--to-revision=3"],
        [*scope, "rollout", "status", "deployment/app", f"--timeout={TIMEOUT}"],
    ]
    previous = invoke("deploy.rollback", "app", "--env", "staging", "--dry-run")
    assert commands(previous.stdout)[0] == [*scope, "rollout", "undo", "deployment/app"]
    history = invoke("deploy.history", "app", "--env", "staging", "--dry-run")
    assert commands(history.stdout) == [[*scope, "rollout", "history", "deployment/app"]]


def test_uninstall_plan_deletes_the_app_then_the_releases_in_reverse(kube) -> None:
    done = kube("mirante-dev")("k8s.uninstall", "dev", "--dry-run")
    assert done.returncode == 0, done.stderr
    first, *releases = commands(done.stdout)
    assert first[:6] == ["kubectl", "--context", "mirante-dev", "delete", "-k", "k8s/overlays/dev"]
    assert [r[4] for r in releases] == [r["name"] for r in reversed(RELEASES)]
    assert all(r[:4] == ["helm", "--kube-context", "mirante-dev", "uninstall"] for r in releases)


def test_provision_validate_only_renders_the_dev_overlay(kube) -> None:
    done = kube("")("provision", "--profile", "k8s", "--validate-only")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "k8s/overlays/dev: 5 objects render and check"


def test_a_real_run_against_an_unreachable_cluster_fails_in_one_line(kube) -> None:
    done = kube("mirante-staging")("deploy.history", "app", "--env", "staging")
    assert done.returncode == 1
    assert done.stderr.startswith("error: `kubectl rollout history deployment/app` exited 1: ")
    assert len(done.stderr.strip().splitlines()) == 1


SCRIPTS = [
    ("scripts/deployment/deploy_service.sh app staging v9 --dry-run",
     "deploy.service app --env staging --tag v9 --dry-run"),
    ("scripts/deployment/rollback_service.sh app staging 2 --dry-run",
     "deploy.rollback app --env staging --revision 2 --dry-run"),
    ("scripts/infra/reset-staging.sh --dry-run", "staging.reset --dry-run"),
    ("scripts/infra/provision-dev.sh k8s --validate-only",
     "provision --profile k8s --validate-only"),
]  # fmt: skip


@pytest.mark.parametrize(("script", "task"), SCRIPTS, ids=[s.split()[0] for s, _ in SCRIPTS])
def test_the_runbook_scripts_run_the_same_plans(kube, script: str, task: str) -> None:
    runner = kube("mirante-staging")
    direct, wrapped = runner(*task.split()), runner.command(["bash", *script.split()])
    assert direct.returncode == 0, direct.stderr + wrapped.stderr
    assert wrapped.returncode == 0, direct.stderr + wrapped.stderr
    stamp = re.compile(r"\d{8}T\d{6}Z")  # the reset's snapshot directory is named by the second
    assert stamp.sub("T", wrapped.stdout) == stamp.sub("T", direct.stdout)
