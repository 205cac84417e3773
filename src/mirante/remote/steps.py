"""The steps every remote plan is made of: the releases' values, the overlay, Secrets, volumes.

Shared by the plans of :mod:`~mirante.remote.k8s`, :mod:`~mirante.remote.staging`,
:mod:`~mirante.remote.deploy` and :mod:`~mirante.remote.provision`; :func:`kube_plan` makes a
:class:`~mirante.plans.Plan` whose commands are kubectl and helm.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mirante import loader
from mirante.environments import ALERTING_SECRET, Environment
from mirante.errors import (
    ClusterNotReady,
    ClusterUnreachable,
    KubeWaitFailed,
    ManifestError,
    MiranteError,
    ToolError,
)
from mirante.plans import Guard, Plan, Step
from mirante.remote import diagnose, generated
from mirante.runner import Command
from mirante.settings import VARIABLES, Settings
from mirante.tools import kube
from mirante.tools.kube import Helm, Kubectl, Release, tool_version


def kube_plan(
    settings: Settings,
    task: str,
    env: Environment,
    guard: Guard,
    steps: list[Step],
    notes: list[str] | None = None,
    ask: bool = False,
) -> Plan:
    """A plan whose commands are kubectl and helm, each given the k8s timeout (and a minute).

    A command the cluster's API did not let through stops the plan with
    :func:`api_refusal`'s line.
    """

    def runs(command: Command, root: Path) -> str:
        return kube.run_kube(command, timeout=settings.k8s_timeout + 60, cwd=root).stdout

    def explain(error: ToolError, done: int) -> MiranteError | None:
        problem = diagnose.api_problem(error.stderr)
        return api_refusal(env, problem, error, done) if problem else None

    return Plan(task, env, guard, steps, notes or [], ask, runs=runs, explain=explain)


def api_refusal(env: Environment, problem: str, exc: ToolError, done: int) -> MiranteError:
    """Why the cluster's API was not reached, and what an operator needs for it.

    EKS's API is private to its VPC (terraform/modules/eks), and only identities with an
    access entry may use it.
    """
    said = " ".join(str(exc).split(": ", 1)[-1].split())
    changed = "nothing was changed" if done == 0 else f"{done} step(s) had run"
    terraform = f"terraform/envs/{env.name}"
    if problem == "unreachable":
        return ClusterUnreachable(
            f"the {env.name} API ({env.api_server}) does not answer from here ({said}): its "
            f"endpoint is private to the VPC; run from inside it, or over the VPN or bastion "
            f"whose range is in api_allowed_cidrs ({terraform}), or add your address to "
            f"public_access_cidrs, then `invoke infra.apply {env.name}`; {changed}"
        )
    return ClusterUnreachable(
        f"the {env.name} API refuses this identity ({said}): EKS lets in the cluster's "
        f"creator and the roles with an access entry; add your role to operator_role_arns or "
        f"ci_role_arns ({terraform}) and `invoke infra.apply {env.name}`, then refresh the "
        f"kubeconfig (aws eks update-kubeconfig); {changed}"
    )


def values_files(settings: Settings, env: Environment, release: Release) -> list[Path]:
    """The values files of a release, in order, relative to the checkout.

    The common file, then the environment's, then the one generated for the environment
    (:mod:`mirante.remote.generated`).
    """
    common = generated.common_values(settings, release)
    files = [p for p in (common, env.helm_values / f"{release.name}.yaml") if p.is_file()]
    if not files:
        raise ManifestError(f"no values file for helm release {release.name} ({common})")
    made = generated.write_values(settings, env, release)
    if made is not None:
        files.append(made)
    return [relative(settings, p) for p in files]


def relative(settings: Settings, path: Path) -> Path:
    """``path`` as plans show and run it: relative to the checkout when inside it."""
    return path.relative_to(settings.root) if path.is_relative_to(settings.root) else path


def render_overlay(env: Environment) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of the environment's overlay, checked for what mirante relies on.

    Raises:
        ManifestError: missing overlay; an object outside the environment's namespace or
            without its exact ``env`` label.
    """
    if not (env.overlay / "kustomization.yaml").is_file():
        raise ManifestError(f"no kustomize overlay at {env.overlay} (kustomization.yaml missing)")
    tool_version("kubectl")
    documents = [
        d for d in loader.safe_load_all(kube.run_kube(Kubectl.kustomize(env.overlay)).stdout) if d
    ]
    for doc in documents:
        kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
        meta = doc.get("metadata", {})
        where = meta.get("name") if kind == "Namespace" else meta.get("namespace")
        if where != env.app_namespace:
            raise ManifestError(
                f"{env.overlay}: {kind}/{name} is in namespace {where!r}, but environments.yaml "
                f"puts {env.name}'s app in {env.app_namespace!r}"
            )
        if meta.get("labels", {}).get("env") != env.name:
            raise ManifestError(f"{env.overlay}: {kind}/{name} lacks the label env={env.name}")
    return documents


def deployments(documents: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Deployment name -> its container names, from rendered manifests."""
    return {
        d["metadata"]["name"]: [c["name"] for c in d["spec"]["template"]["spec"]["containers"]]
        for d in documents
        if d.get("kind") == "Deployment"
    }


def apply_and_wait(
    settings: Settings, env: Environment, kubectl: Kubectl, documents: list[dict[str, Any]]
) -> list[Step]:
    """``kubectl apply -k`` of the overlay, then a rollout status per Deployment in it."""
    steps = [
        Step("apply the app's overlay", kubectl.apply_kustomize(relative(settings, env.overlay)))
    ]
    steps += [rollout_step(settings, env, kubectl, name) for name in deployments(documents)]
    return steps


def rollout_step(settings: Settings, env: Environment, kubectl: Kubectl, name: str) -> Step:
    """``kubectl rollout status``; when it gives up, why: replicas, pods, their last events."""

    def why(exc: ToolError) -> MiranteError:
        rollback = f"invoke deploy.rollback {name} --env {env.name}"
        try:
            scope = ("--namespace", env.app_namespace)
            deployment = json_of(
                kube.run_kube(kubectl(*scope, "get", f"deployment/{name}", "-o", "json"))
            )
            selector = ",".join(
                f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
            )
            pods = json_of(
                kube.run_kube(kubectl(*scope, "get", "pods", "--selector", selector, "-o", "json"))
            )
            events = json_of(kube.run_kube(kubectl(*scope, "get", "events", "-o", "json")))
            said = diagnose.rollout_stuck(
                deployment, pods.get("items", []), events.get("items", []), rollback
            )
        except (MiranteError, KeyError, TypeError, ValueError):
            said = f"(the cluster did not say more). To go back: {rollback}"
        return KubeWaitFailed(f"rollout of {name} in {env.app_namespace} did not finish: {said}")

    return Step(
        f"rollout of {name}",
        kubectl.rollout_status(env.app_namespace, name, settings.k8s_timeout),
        on_failure=why,
    )


def json_of(result: Any) -> dict[str, Any]:
    """A kubectl ``-o json`` result as a mapping (empty when it printed nothing)."""
    import json

    loaded: dict[str, Any] = json.loads(result.stdout or "{}")
    return loaded


def crd_steps(env: Environment, kubectl: Kubectl) -> list[Step]:
    """Before anything changes: the ServiceMonitor CRD (kube-prometheus-stack's) exists."""
    crd = "servicemonitors.monitoring.coreos.com"

    def check(listed: str) -> str:
        if not diagnose.object_names(listed):
            raise ClusterNotReady(
                f"the {env.name} cluster has no ServiceMonitor CRD ({crd}), which the app's "
                f"overlay uses: install kube-prometheus-stack first (`invoke k8s.install "
                f"{env.name}`); nothing was changed"
            )
        return "the ServiceMonitor CRD is installed"

    return [
        Step(
            "the ServiceMonitor CRD must exist (kube-prometheus-stack installed)",
            kubectl("get", "crd", crd, "--ignore-not-found", "-o", "name"),
        ),
        Step("check: the ServiceMonitor CRD exists", action=check),
    ]


GRAFANA_SECRET = "grafana-admin"  # noqa: S105 (a Secret's name; the values file reads it)


FLAGS_CONFIGMAP = "mirante-features"


DB_SECRET = "mirante-db"  # noqa: S105 (a Secret's name)


def namespace_step(kubectl: Kubectl, namespace: str) -> Step:
    """Create the namespace unless it exists (the Secrets below must go into it first)."""
    return Step(
        f"namespace {namespace}",
        Command(
            kubectl("create", "namespace", namespace, "--dry-run=client", "-o", "yaml").argv,
            kubectl("apply", "-f", "-").argv,
        ),
    )


def grafana_secret_step(env: Environment, kubectl: Kubectl) -> Step:
    """The Secret Grafana's admin login reads: made once, from a generated password.

    Never printed, never on a command line (an env file of mode 0600, removed at once);
    an existing Secret is kept as it is, as the compose stack's ``.env`` is.
    """
    ns = env.observability_namespace
    scope = ("--namespace", ns)

    def ensure(_: str) -> str:
        found = kube.run_kube(kubectl(*scope, "get", "secret", GRAFANA_SECRET, "--ignore-not-found",
                            "-o", "name")).stdout  # fmt: skip
        if diagnose.object_names(found):
            return f"Secret {ns}/{GRAFANA_SECRET} exists: kept"
        with env_file_of({"admin-user": "admin", "admin-password": secrets.token_urlsafe(24)}) as f:
            kube.run_kube(kubectl(*scope, "create", "secret", "generic", GRAFANA_SECRET,
                        f"--from-env-file={f}"))  # fmt: skip
        return (
            f"Secret {ns}/{GRAFANA_SECRET} created with a generated password; read it with "
            f"kubectl --context {env.context} -n {ns} get secret {GRAFANA_SECRET} "
            "-o jsonpath='{.data.admin-password}' | base64 -d"
        )

    return Step(
        f"Secret {ns}/{GRAFANA_SECRET}: created once with a generated admin password (never "
        "printed), kept on later installs",
        action=ensure,
    )


def alerting_secret_steps(env: Environment, kubectl: Kubectl) -> list[Step]:
    """Before Alertmanager reads them: the Secret holds the keys the receivers need."""
    if not env.alerting.secrets:
        return []
    ns = env.observability_namespace
    wanted = (["slack_webhook_url"] if env.alerting.slack_channel else []) + (
        ["smtp_password"] if env.alerting.smtp_username else []
    )

    def check(listed: str) -> str:
        import json

        have = set(json.loads(listed or "{}")) if listed.strip() else set()
        missing = [key for key in wanted if key not in have]
        if missing:
            files = " ".join(f"--from-file={key}=FILE" for key in wanted)
            raise ClusterNotReady(
                f"environments.yaml turns on {', '.join(wanted)} for {env.name}, but the Secret "
                f"{ns}/{ALERTING_SECRET} has no {', '.join(missing)}: create it with `kubectl "
                f"--context {env.context} -n {ns} create secret generic {ALERTING_SECRET} "
                f"{files}`; nothing was changed"
            )
        return f"Secret {ns}/{ALERTING_SECRET} holds {', '.join(wanted)}"

    return [
        Step(
            f"the keys of Secret {ns}/{ALERTING_SECRET} (Alertmanager's Slack / SMTP secrets)",
            kubectl(
                "--namespace",
                ns,
                "get",
                "secret",
                ALERTING_SECRET,
                "--ignore-not-found",
                "-o",
                "jsonpath={.data}",
            ),
        ),
        Step(f"check: it holds {', '.join(wanted)}", action=check),
    ]


def flags_step(settings: Settings, env: Environment, kubectl: Kubectl) -> Step:
    """The app's feature flags: a ConfigMap made from config/features.yaml.

    It has no ``env`` label: ``staging.reset`` keeps it.
    """
    features = relative(settings, settings.root / "config" / "features.yaml")
    return Step(
        f"ConfigMap {env.app_namespace}/{FLAGS_CONFIGMAP} from {features} (the flags)",
        Command(
            kubectl("--namespace", env.app_namespace, "create", "configmap", FLAGS_CONFIGMAP,
                    f"--from-file=features.yaml={features}", "--dry-run=client",
                    "-o", "yaml").argv,
            kubectl("apply", "-f", "-").argv,
        ),
    )  # fmt: skip


def database_step(settings: Settings, env: Environment, kubectl: Kubectl) -> Step | None:
    """The app's database connection (libpq's PG* variables) as a Secret.

    Made from the environment's database URL; no step when the URL is not set.
    """
    from mirante.db.postgres import split_password

    url = settings.database_urls.get(env.name, "")
    if not url:
        return None
    ns = env.app_namespace

    def write(_: str) -> str:
        from urllib.parse import unquote, urlsplit

        bare, password = split_password(url)
        parts = urlsplit(bare)
        values = {
            "PGHOST": parts.hostname or "",
            "PGPORT": str(parts.port or 5432),
            "PGUSER": unquote(parts.username or ""),
            "PGPASSWORD": password,
            "PGDATABASE": parts.path.lstrip("/"),
        }
        with env_file_of(values) as path:
            kube.run_kube(
                Command(
                    kubectl("--namespace", ns, "create", "secret", "generic", DB_SECRET,
                            f"--from-env-file={path}", "--dry-run=client", "-o", "yaml").argv,
                    kubectl("apply", "-f", "-").argv,
                )
            )  # fmt: skip
        return f"Secret {ns}/{DB_SECRET} holds the connection to {bare}"

    return Step(
        f"Secret {ns}/{DB_SECRET}: the app's database connection, from "
        f"{database_variable(env.name)} (never printed)",
        action=write,
    )


def database_variable(env: str) -> str:
    """The setting that holds an environment's database URL."""
    return next(v.name for v in VARIABLES if v.path == ("database_urls", env))


@contextmanager
def env_file_of(values: dict[str, str]) -> Iterator[Path]:
    """A 0600 env file of ``values``, removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="mirante-k8s-") as scratch:
        path = Path(scratch) / "values.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(f"{k}={v}\n" for k, v in values.items()))
        yield path


def tools_of(env: Environment) -> tuple[Kubectl, Helm]:
    """Kubectl and helm against the environment's context."""
    return Kubectl(env.context), Helm(env.context, tool_version("helm")[0])


def volume_steps(settings: Settings, env: Environment, kubectl: Kubectl) -> tuple[list[Step], Step]:
    """The EBS CSI driver must be there (checks); then the StorageClass every claim names.

    Without the driver (the aws-ebs-csi-driver add-on) no volume is ever made: every
    release with one would wait, time out and roll back. Checked before anything changes.
    """
    driver = generated.EBS_CSI_DRIVER

    def check(listed: str) -> str:
        if not diagnose.object_names(listed):
            raise ClusterNotReady(
                f"the {env.name} cluster has no EBS CSI driver ({driver}): no volume can be "
                "made, so every release with one would time out and roll back; install the "
                f"aws-ebs-csi-driver add-on (`invoke infra.apply {env.name}` does, "
                "terraform/modules/eks); nothing was changed"
            )
        return f"the EBS CSI driver ({driver}) is installed"

    made = relative(settings, generated.write_storage_class(settings, env))
    _, source = generated.volumes_key(settings, env)
    checks = [
        Step(
            "the EBS CSI driver must exist (the aws-ebs-csi-driver add-on)",
            kubectl("get", "csidriver", driver, "--ignore-not-found", "-o", "name"),
        ),
        Step("check: the EBS CSI driver exists", action=check),
    ]
    return checks, Step(
        f"StorageClass {generated.STORAGE_CLASS}: gp3, encrypted (key: {source}), the default, "
        "bound where the pod is scheduled",
        kubectl("apply", "-f", str(made)),
    )


GRAFANA_DB_SECRET = "grafana-db"  # noqa: S105 (a Secret's name; the prod values read it)


GRAFANA_DB_KEYS = ("GF_DATABASE_TYPE", "GF_DATABASE_HOST", "GF_DATABASE_NAME",
                   "GF_DATABASE_USER", "GF_DATABASE_PASSWORD")  # fmt: skip


def grafana_database_steps(
    settings: Settings, env: Environment, kubectl: Kubectl
) -> tuple[list[Step], list[Step]]:
    """Several Grafanas share a Postgres database, read from the Secret grafana-db.

    Returns the checks (run before anything changes) and the changes. The Secret is made
    from the environment's Grafana database URL when it is set (never printed); otherwise
    one made by hand must hold the GF_DATABASE_* keys. Nothing where one Grafana keeps
    its own database.
    """
    from mirante.remote import parity

    kps = parity.release_values(settings, env, generated.GENERATED_RELEASE)
    replicas = parity.grafana_replicas(kps)
    if replicas <= 1:
        return [], []
    ns = env.observability_namespace
    scope = ("--namespace", ns)
    variable = next(v.name for v in VARIABLES if v.path == ("grafana_database_urls", env.name))
    url = settings.grafana_database_urls.get(env.name, "")
    if url:

        def write(_: str) -> str:
            values, bare = grafana_database_env(url)
            with env_file_of(values) as path:
                kube.run_kube(
                    Command(
                        kubectl(*scope, "create", "secret", "generic", GRAFANA_DB_SECRET,
                                f"--from-env-file={path}", "--dry-run=client", "-o", "yaml").argv,
                        kubectl("apply", "-f", "-").argv,
                    )
                )  # fmt: skip
            return f"Secret {ns}/{GRAFANA_DB_SECRET} holds Grafana's database {bare}"

        title = (
            f"Secret {ns}/{GRAFANA_DB_SECRET}: the database {replicas} Grafanas share, from "
            f"{variable} (never printed)"
        )
        return [], [Step(title, action=write)]

    def check(listed: str) -> str:
        import json

        have = set(json.loads(listed or "{}")) if listed.strip() else set()
        missing = [key for key in GRAFANA_DB_KEYS if key not in have]
        if missing:
            raise ClusterNotReady(
                f"{env.name} runs {replicas} Grafanas, which share one Postgres database: set "
                f"{variable} (postgresql://user:password@host:5432/grafana) in .env, or make "
                f"the Secret {ns}/{GRAFANA_DB_SECRET} with {', '.join(GRAFANA_DB_KEYS)} "
                f"(missing: {', '.join(missing)}); nothing was changed"
            )
        return f"Secret {ns}/{GRAFANA_DB_SECRET} holds Grafana's database (made by hand)"

    listed = kubectl(
        *scope, "get", "secret", GRAFANA_DB_SECRET, "--ignore-not-found", "-o", "jsonpath={.data}"
    )
    checks = [
        Step(f"the keys of Secret {ns}/{GRAFANA_DB_SECRET} (no {variable}: made by hand)", listed),
        Step(f"check: it holds {', '.join(GRAFANA_DB_KEYS)}", action=check),
    ]
    return checks, []


def grafana_database_env(url: str) -> tuple[dict[str, str], str]:
    """Grafana's GF_DATABASE_* settings from a postgres URL, and the URL without password."""
    from urllib.parse import parse_qs, unquote, urlsplit

    from mirante.db.postgres import split_password

    bare, password = split_password(url)
    parts = urlsplit(bare)
    ssl = parse_qs(parts.query).get("sslmode", ["require"])[0]
    return {
        "GF_DATABASE_TYPE": "postgres",
        "GF_DATABASE_HOST": f"{parts.hostname or ''}:{parts.port or 5432}",
        "GF_DATABASE_NAME": parts.path.lstrip("/"),
        "GF_DATABASE_USER": unquote(parts.username or ""),
        "GF_DATABASE_PASSWORD": password,
        "GF_DATABASE_SSL_MODE": ssl,
    }, bare


def observed_notes(settings: Settings, env: Environment) -> list[str]:
    """The observed services ``env`` scrapes (ServiceMonitors in the generated values)."""
    from mirante.observe import registry as observed

    placed = [
        f"{s.name} ({s.environments[env.name].namespace}/{s.environments[env.name].service}, "
        f"port {s.environments[env.name].port})"
        for s in observed.load(settings)
        if env.name in s.environments
    ]
    if not placed:
        return [f"no observed service is declared in {env.name} (config/services.yaml)"]
    return [f"observed services scraped and alerted on: {', '.join(placed)}"]


def smoke_step(settings: Settings, env: Environment) -> Step:
    """The end of install and reset: the stack ingests, and the app honours the contract."""
    from mirante.remote import smoke

    def check(_: str) -> str:
        return smoke.verdict(smoke.run_smoke(settings, env, smoke.forwards(env)), settings.root)

    return Step(
        "smoke test through port-forwards: a span and a log line sent to the collector come "
        "back from Tempo and Loki; validate.service against the app's Service (evidence: "
        f"artifacts/smoke/{env.name}/)",
        action=check,
    )


def storage_notes(settings: Settings, env: Environment) -> list[str]:
    """Where logs and traces are kept in ``env``, through which IRSA roles, said by whom."""
    storage, source = generated.storage_of(settings, env)
    if storage is None:
        return ["logs and traces on the pods' volumes (no storage in environments.yaml)"]
    return [
        f"buckets and roles from {source}",
        f"loki on s3://{storage.logs_bucket} ({storage.region}), service account loki "
        f"annotated {generated.IRSA}={storage.loki_role}",
        f"tempo on s3://{storage.traces_bucket} ({storage.region}), service account tempo "
        f"annotated {generated.IRSA}={storage.tempo_role}",
    ]


def helm_failure(
    env: Environment, kubectl: Kubectl, release: str, timeout: float
) -> Callable[[ToolError], MiranteError]:
    """What a release that did not finish was waiting on (hook Jobs first, then pods)."""

    def why(exc: ToolError) -> MiranteError:
        said = " ".join(str(exc).split())
        if "timed out" not in said and "deadline exceeded" not in said:
            return exc
        scope = ("--namespace", env.observability_namespace)
        try:
            jobs = json_of(kube.run_kube(kubectl(*scope, "get", "jobs", "-o", "json")))
            pods = json_of(kube.run_kube(kubectl(*scope, "get", "pods", "-o", "json")))
            waited = diagnose.helm_waited(jobs.get("items", []), pods.get("items", []), release)
        except (MiranteError, KeyError, TypeError, ValueError):
            waited = f"release {release} (the cluster did not say on what)"
        return KubeWaitFailed(
            f"helm gave up after {timeout:g} s (MIRANTE_K8S_TIMEOUT, which covers each hook "
            f"Job too): {waited}; it rolled the release back"
        )

    return why
