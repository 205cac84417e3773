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
    from mirante.tools.kube import tool_version

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

    expected = [
        # Before anything changes: the EBS CSI driver, without which no volume is made.
        [*ctx, "get", "csidriver", "ebs.csi.aws.com", "--ignore-not-found", "-o", "name"],
        [*ctx, "apply", "-f", ".mirante/k8s/dev/storageclass.yaml"],
        namespace("monitoring"),
    ]
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
        "# note: loki on s3://mirante-staging-logs-111111111111 (eu-west-1), service account "
        "loki annotated eks.amazonaws.com/role-arn="
        "arn:aws:iam::111111111111:role/mirante-staging-loki"
    ) in done.stdout
    assert "# note: tempo on s3://mirante-staging-traces-111111111111 (eu-west-1)" in done.stdout
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
    # The StorageClass install makes (cluster-scoped: kubectl diff shows it as new itself).
    assert shlex.join(["kubectl", "--context", "mirante-dev", "diff", "-f",
                       ".mirante/k8s/dev/storageclass.yaml"]) in lines  # fmt: skip
    checks = [line for line in lines if line.endswith("--ignore-not-found -o name")]
    assert len(checks) == len(RELEASES) + 1
    assert checks[-1] == shlex.join(
        ["kubectl", "--context", "mirante-dev", "get", "namespace", "mirante-dev",
         "--ignore-not-found", "-o", "name"]
    )  # fmt: skip
    steps = [line for line in lines if not line.startswith("# note")]
    assert steps[-1] == (
        "# mirante: kubectl --context mirante-dev diff -k k8s/overlays/dev  (or every object "
        "as new, without the namespace)"
    )
    # The observed services it scrapes there, ServiceMonitors of the generated values.
    assert "# note: observed services scraped and alerted on: app (mirante-dev/app, port http)" in (
        lines
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
    assert mirante_steps[-2] == "# mirante: seed the staging database"
    # Then the smoke test the reset runbook asks for: does the stack still ingest?
    assert mirante_steps[-1].startswith("# mirante: smoke test through port-forwards: ")
    assert "secret" not in done.stdout


@pytest.mark.parametrize(
    ("task", "context"),
    [(("k8s.install", "dev"), "mirante-dev"), (("staging.reset",), "mirante-staging")],
)
def test_install_and_reset_end_with_the_smoke_test(
    kube, task: tuple[str, ...], context: str
) -> None:
    done = kube(context)(*task, "--dry-run")
    assert done.returncode == 0, done.stderr
    steps = [line for line in done.stdout.splitlines() if not line.startswith("# note")]
    env = "dev" if task[0] == "k8s.install" else "staging"
    assert steps[-1] == (
        "# mirante: smoke test through port-forwards: a span and a log line sent to the collector "
        "come back from Tempo and Loki; validate.service against the app's Service (evidence: "
        f"artifacts/smoke/{env}/)"
    )


def test_the_smoke_test_against_an_unreachable_cluster_fails_with_its_evidence(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real kubectl port-forward, against an API server that does not answer."""
    import json

    from mirante import errors, settings
    from mirante.remote import smoke
    from tests.helpers import write_kubeconfig

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "mirante-staging", None)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    config = settings.load(root, environ={})
    staging = config.environments.get("staging")
    report = smoke.run_smoke(config, staging, smoke.forwards(staging), seconds=1)
    assert [c.status for c in report.checks if c.name.startswith("reach ")] == ["fail"] * 4
    assert report.checks[0].reason.startswith(
        "no port-forward to monitoring/service/opentelemetry-collector:4318: "
    )
    assert report.path is not None
    manifest = json.loads(report.path.read_text())
    assert manifest["summary"] == {"pass": 0, "fail": 6, "skipped": 0}
    assert report.path.is_relative_to(root / "artifacts" / "smoke" / "staging")
    with pytest.raises(errors.ClusterNotReady, match=r"^staging: installed, but the smoke test "
                       r"failed: reach collector: no port-forward"):  # fmt: skip
        smoke.verdict(report, root)


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
    assert done.stdout.strip() == "k8s/overlays/dev: 4 objects render and check"


def test_a_real_run_against_an_unreachable_cluster_says_what_reaching_it_needs(kube) -> None:
    """The real kubectl against a server that does not exist, as a private EKS API is."""
    done = kube("mirante-staging")("deploy.history", "app", "--env", "staging")
    assert done.returncode == 1
    assert done.stderr.startswith(
        "error: the staging API (https://staging.k8s.mirante.internal:6443) does not answer "
        "from here (Unable to connect to the server: "
    ), done.stderr
    assert done.stderr.rstrip().endswith(
        "its endpoint is private to the VPC; run from inside it, or over the VPN or bastion "
        "whose range is in api_allowed_cidrs (terraform/envs/staging), or add your address to "
        "public_access_cidrs, then `invoke infra.apply staging`; nothing was changed"
    ), done.stderr
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


def test_prod_install_checks_the_grafana_database_before_any_change(kube) -> None:
    """Two Grafanas share one database: without its URL, a Secret made by hand must hold it."""
    done = kube("mirante-prod")("k8s.install", "prod", "--dry-run")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("# guard")]
    check = lines.index(
        "# mirante: check: it holds GF_DATABASE_TYPE, GF_DATABASE_HOST, GF_DATABASE_NAME, "
        "GF_DATABASE_USER, GF_DATABASE_PASSWORD"
    )
    assert lines[check - 1] == shlex.join(
        ["kubectl", "--context", "mirante-prod", "--namespace", "monitoring", "get", "secret",
         "grafana-db", "--ignore-not-found", "-o", "jsonpath={.data}"]
    )  # fmt: skip
    changes = [i for i, line in enumerate(lines) if " apply " in line or line.startswith("helm")]
    assert check < min(changes)  # nothing changes on a cluster that lacks it


def test_prod_install_makes_the_grafana_database_secret_from_its_url(kube) -> None:
    url = "postgresql://grafana:pa%24%24@grafana-db.prod.internal:5432/grafana?sslmode=verify-full"
    done = kube("mirante-prod")("k8s.install", "prod", "--dry-run", PROD_GRAFANA_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert (
        "# mirante: Secret monitoring/grafana-db: the database 2 Grafanas share, from "
        "PROD_GRAFANA_DATABASE_URL (never printed)"
    ) in done.stdout
    assert "pa%24" not in done.stdout + done.stderr
    assert "pa$$" not in done.stdout + done.stderr


def test_grafana_database_settings_come_from_the_url() -> None:
    from mirante.remote.steps import grafana_database_env

    values, bare = grafana_database_env(
        "postgresql://gra%40fana:pa%24%24@db.internal:6432/grafana?sslmode=verify-full"
    )
    assert values == {
        "GF_DATABASE_TYPE": "postgres",
        "GF_DATABASE_HOST": "db.internal:6432",
        "GF_DATABASE_NAME": "grafana",
        "GF_DATABASE_USER": "gra@fana",
        "GF_DATABASE_PASSWORD": "pa$$",
        "GF_DATABASE_SSL_MODE": "verify-full",
    }
    assert "pa" not in bare.split("@")[0].split(":", 2)[-1]
    assert grafana_database_env("postgresql://g:p@db/grafana")[0]["GF_DATABASE_SSL_MODE"] == (
        "require"
    )
