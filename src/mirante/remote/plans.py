"""Remote environments: guarded plans of kubectl and helm commands, run or printed.

Every remote task builds a :class:`Plan` first: the context guard's verdict
(:mod:`mirante.remote.guard`) and the list of steps, each one an exact command (or a named
step of mirante's own, such as a snapshot). ``--dry-run`` prints the plan; a real run
executes the very same steps.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mirante.errors import (
    ClusterNotReady,
    ClusterUnreachable,
    GuardRefused,
    KubeCommandError,
    KubeWaitFailed,
    ManifestError,
    MiranteError,
    ProtectionRefused,
)
from mirante.files import atomic_write
from mirante.remote import diagnose, generated
from mirante.remote.environments import ALERTING_SECRET, Environment
from mirante.remote.generated import releases
from mirante.remote.guard import Guard, authorise, exact_selector, guarded
from mirante.remote.kube import Helm, Kubectl, Release, run_kube, tool_version
from mirante.runner import Command
from mirante.settings import VARIABLES, Settings

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REVISION = re.compile(r"^[1-9][0-9]{0,8}$")


@dataclass(frozen=True)
class Step:
    """One step of a plan: an exact command, or a step of mirante's own (``action``).

    ``action`` receives the output of the step before it and returns a line for the
    report. ``save_to`` keeps a command's output in a file (snapshots).
    """

    title: str
    command: Command | None = None
    action: Callable[[str], str] | None = None
    save_to: Path | None = None
    # Turns the command's failure into one that says why (what a rollout waited on).
    on_failure: Callable[[KubeCommandError], MiranteError] | None = None
    # Ask before this step, once the plan's output so far has been shown (infra.apply).
    confirm: bool = False

    def shown(self) -> str:
        """The step as one line, as dry-run prints it."""
        if self.command is None:
            return f"# mirante: {self.title}"
        saved = f" > {self.save_to}" if self.save_to else ""
        return self.command.shown() + saved


@dataclass
class Plan:
    """The guarded steps of one remote task, shown by dry-run and run as shown."""

    task: str
    env: Environment
    guard: Guard
    steps: list[Step]
    notes: list[str] = field(default_factory=list)
    ask: bool = False  # the environment's protection wants a confirmation first

    def lines(self) -> list[str]:
        """Every step as one line."""
        return [step.shown() for step in self.steps]

    def run(
        self,
        root: Path,
        timeout: float,
        before: Callable[[Step], None] = lambda step: None,
        after: Callable[[Step, str], None] = lambda step, output: None,
    ) -> None:
        """Execute the steps in order; the first failure stops the plan.

        Raises:
            GuardRefused: the guard did not pass (checked again here, before any step).
            KubeCommandError: a command failed, with its command line and stderr.
        """
        if self.guard.status != "ok":
            raise GuardRefused(f"{self.task}: {self.guard.detail}")
        output = ""
        for done, step in enumerate(self.steps):
            before(step)
            if step.command is not None:
                try:
                    output = run_kube(step.command, timeout=timeout + 60, cwd=root).stdout
                except KubeCommandError as exc:
                    problem = diagnose.api_problem(exc.stderr)
                    if problem:
                        raise api_refusal(self.env, problem, exc, done) from None
                    if step.on_failure is None:
                        raise
                    raise step.on_failure(exc) from None
            elif step.action is not None:
                output = step.action(output)
            if step.save_to is not None:
                target = root / step.save_to
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(target, output, mode=0o600)
                output = f"saved {len(output.splitlines())} lines to {step.save_to}"
            after(step, output)


def api_refusal(env: Environment, problem: str, exc: KubeCommandError, done: int) -> MiranteError:
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


# -- what is installed ------------------------------------------------------------------


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
        d for d in yaml.safe_load_all(run_kube(Kubectl.kustomize(env.overlay)).stdout) if d
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


# -- the plans ---------------------------------------------------------------------------


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

    def why(exc: KubeCommandError) -> MiranteError:
        rollback = f"invoke deploy.rollback {name} --env {env.name}"
        try:
            scope = ("--namespace", env.app_namespace)
            deployment = _json(run_kube(kubectl(*scope, "get", f"deployment/{name}", "-o", "json")))
            selector = ",".join(
                f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
            )
            pods = _json(
                run_kube(kubectl(*scope, "get", "pods", "--selector", selector, "-o", "json"))
            )
            events = _json(run_kube(kubectl(*scope, "get", "events", "-o", "json")))
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


def _json(result: Any) -> dict[str, Any]:
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
        found = run_kube(kubectl(*scope, "get", "secret", GRAFANA_SECRET, "--ignore-not-found",
                            "-o", "name")).stdout  # fmt: skip
        if diagnose.object_names(found):
            return f"Secret {ns}/{GRAFANA_SECRET} exists: kept"
        with _env_file({"admin-user": "admin", "admin-password": secrets.token_urlsafe(24)}) as f:
            run_kube(kubectl(*scope, "create", "secret", "generic", GRAFANA_SECRET,
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
    from mirante.postgres import split_password

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
        with _env_file(values) as path:
            run_kube(
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
    return next(v.name for v in VARIABLES if v.field == "database_urls" and v.key == env)


@contextmanager
def _env_file(values: dict[str, str]) -> Iterator[Path]:
    """A 0600 env file of ``values``, removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="mirante-k8s-") as scratch:
        path = Path(scratch) / "values.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(f"{k}={v}\n" for k, v in values.items()))
        yield path


def _tools(env: Environment) -> tuple[Kubectl, Helm]:
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
    variable = next(
        v.name for v in VARIABLES if v.field == "grafana_database_urls" and v.key == env.name
    )
    url = settings.grafana_database_urls.get(env.name, "")
    if url:

        def write(_: str) -> str:
            values, bare = grafana_database_env(url)
            with _env_file(values) as path:
                run_kube(
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

    from mirante.postgres import split_password

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


def install_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """Run helm upgrade --install of every release, then the app's overlay and its rollouts."""
    guard = guarded(env, dry_run)
    documents = render_overlay(env)
    kubectl, helm = _tools(env)
    ns = env.observability_namespace
    volume_checks, storage_class = volume_steps(settings, env, kubectl)
    grafana_checks, grafana_database = grafana_database_steps(settings, env, kubectl)
    steps = [
        *volume_checks,  # checks first: nothing changes on a cluster that lacks them
        *grafana_checks,
        storage_class,
        namespace_step(kubectl, ns),
        grafana_secret_step(env, kubectl),
        *grafana_database,
        *alerting_secret_steps(env, kubectl),
    ]
    steps += [
        Step(
            f"helm release {r.name}",
            helm.upgrade_install(r, ns, values_files(settings, env, r), settings.k8s_timeout),
            on_failure=helm_failure(env, kubectl, r.name, settings.k8s_timeout),
        )
        for r in releases(settings, env)
    ]
    steps += [namespace_step(kubectl, env.app_namespace), flags_step(settings, env, kubectl)]
    database = database_step(settings, env, kubectl)
    notes = []
    if database is not None:
        steps.append(database)
    else:
        notes.append(
            f"no database URL for {env.name} ({database_variable(env.name)}): the app runs "
            "without a database and GET /catalog answers 503"
        )
    steps += apply_and_wait(settings, env, kubectl, documents)
    steps.append(smoke_step(settings, env))
    notes += storage_notes(settings, env) + observed_notes(settings, env)
    return Plan(f"k8s.install {env.name}", env, guard, steps, notes, ask=authorise(env, "change"))


def observed_notes(settings: Settings, env: Environment) -> list[str]:
    """The observed services ``env`` scrapes (ServiceMonitors in the generated values)."""
    from mirante import observed

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
        return smoke.verdict(smoke.run(settings, env, smoke.forwards(env)), settings.root)

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
) -> Callable[[KubeCommandError], MiranteError]:
    """What a release that did not finish was waiting on (hook Jobs first, then pods)."""

    def why(exc: KubeCommandError) -> MiranteError:
        said = " ".join(str(exc).split())
        if "timed out" not in said and "deadline exceeded" not in said:
            return exc
        scope = ("--namespace", env.observability_namespace)
        try:
            jobs = _json(run_kube(kubectl(*scope, "get", "jobs", "-o", "json")))
            pods = _json(run_kube(kubectl(*scope, "get", "pods", "-o", "json")))
            waited = diagnose.helm_waited(jobs.get("items", []), pods.get("items", []), release)
        except (MiranteError, KeyError, TypeError, ValueError):
            waited = f"release {release} (the cluster did not say on what)"
        return KubeWaitFailed(
            f"helm gave up after {timeout:g} s (MIRANTE_K8S_TIMEOUT, which covers each hook "
            f"Job too): {waited}; it rolled the release back"
        )

    return why


def flags_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """The app's flags ConfigMap refreshed from config/features.yaml (the pods reload it)."""
    guard = guarded(env, dry_run)
    kubectl, _ = _tools(env)
    steps = [namespace_step(kubectl, env.app_namespace), flags_step(settings, env, kubectl)]
    return Plan(f"flags of {env.name}", env, guard, steps, ask=authorise(env, "change"))


def diff_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """What install would change: helm template | kubectl diff, and kubectl diff -k."""
    guard = guarded(env, dry_run)
    documents = render_overlay(env)
    kubectl, _ = _tools(env)
    ns = env.observability_namespace
    made = relative(settings, generated.write_storage_class(settings, env))
    steps = [
        Step(
            f"StorageClass {generated.STORAGE_CLASS} (cluster-wide)",
            kubectl("diff", "-f", str(made), ok_codes=(0, 1)),
        )
    ]
    for r in releases(settings, env):
        template = Helm.template(r, ns, values_files(settings, env, r))
        diff = Command(template.argv, kubectl("--namespace", ns, "diff", "-f", "-").argv, (0, 1))
        steps += diff_or_new(kubectl, ns, diff, functools.partial(_rendered, template))
    overlay = kubectl("diff", "-k", str(relative(settings, env.overlay)), ok_codes=(0, 1))
    steps += diff_or_new(kubectl, env.app_namespace, overlay, lambda: _names(documents))
    return Plan(f"k8s.diff {env.name}", env, guard, steps, observed_notes(settings, env))


def diff_or_new(
    kubectl: Kubectl, namespace: str, diff: Command, objects: Callable[[], list[str]]
) -> list[Step]:
    """``diff``, or every object listed as new where the namespace does not exist yet.

    ``kubectl diff`` fails on a fresh cluster (``namespaces "<ns>" not found``): exactly
    where "what would install change" matters most.
    """

    def run_diff(listed: str) -> str:
        if not diagnose.object_names(listed):
            made = objects()
            return f"namespace {namespace} does not exist: all {len(made)} objects are new\n" + (
                "\n".join(f"+ {name}" for name in made)
            )
        return run_kube(diff).stdout or "no differences"

    return [
        Step(
            f"does namespace {namespace} exist",
            kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name"),
        ),
        Step(f"{diff.shown()}  (or every object as new, without the namespace)", action=run_diff),
    ]


def _rendered(template: Command) -> list[str]:
    return _names(d for d in yaml.safe_load_all(run_kube(template).stdout) if d)


def _names(documents: Iterable[dict[str, Any]]) -> list[str]:
    return [f"{d.get('kind', '?')}/{d.get('metadata', {}).get('name', '?')}" for d in documents]


def status_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """The plan of ``k8s.status``."""
    guard = guarded(env, dry_run)
    kubectl, helm = _tools(env)
    steps = [
        Step(
            f"release {r.name}", helm("status", r.name, "--namespace", env.observability_namespace)
        )
        for r in releases(settings, env)
    ]
    steps.append(
        Step(
            "the app",
            kubectl(
                "--namespace",
                env.app_namespace,
                "get",
                "deployments,pods,services",
                "--selector",
                exact_selector("env", env.name),
                "-o",
                "wide",
            ),
        )
    )
    return Plan(f"k8s.status {env.name}", env, guard, steps)


def uninstall_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """The app's overlay deleted, then every release uninstalled in reverse order."""
    ask = authorise(env, "destructive")
    guard = guarded(env, dry_run)
    render_overlay(env)
    kubectl, helm = _tools(env)
    timeout = f"{settings.k8s_timeout:g}s"
    steps = [
        Step(
            "the app's overlay",
            kubectl(
                "delete",
                "-k",
                str(relative(settings, env.overlay)),
                "--ignore-not-found",
                "--wait=true",
                f"--timeout={timeout}",
            ),
        )
    ]
    steps += [
        Step(
            f"helm release {r.name}",
            helm(
                "uninstall",
                r.name,
                "--namespace",
                env.observability_namespace,
                "--wait",
                "--timeout",
                timeout,
            ),
        )
        for r in reversed(releases(settings, env))
    ]
    return Plan(f"k8s.uninstall {env.name}", env, guard, steps, ask=ask)


def provision_k8s_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """The dev overlay applied and waited on (after rendering and checking it)."""
    guard = guarded(env, dry_run)
    documents = render_overlay(env)
    kubectl, _ = _tools(env)
    steps = [*crd_steps(env, kubectl), *apply_and_wait(settings, env, kubectl, documents)]
    ask = authorise(env, "change")
    return Plan(f"provision --profile k8s ({env.name})", env, guard, steps, ask=ask)


def reset_plan(
    settings: Settings,
    env: Environment,
    dry_run: bool,
    confirm: Callable[[list[str]], None],
    seed: Callable[[], str] | None,
    snapshot_db: Callable[[Path], str] | None,
) -> Plan:
    """Snapshot, preview (server-side dry run), confirm, delete by exact label, reapply, seed.

    Raises:
        ProtectionRefused: the environment forbids destructive tasks.
        ManifestError: no reset policy for this environment in environments.yaml.
    """
    authorise(env, "destructive")
    if env.reset is None:
        raise ManifestError(
            f"environments.yaml has no reset policy (reset.kinds, reset.max_objects) for {env.name}"
        )
    guard = guarded(env, dry_run)
    documents = render_overlay(env)
    kubectl, _ = _tools(env)
    selector = exact_selector("env", env.name)
    kinds = ",".join(env.reset.kinds)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = settings.root / "artifacts" / "backups" / stamp
    scope = ("--namespace", env.app_namespace)
    limit = env.reset.max_objects

    def check_preview(listed: str) -> str:
        names = diagnose.object_names(listed)  # not "No resources found"
        if len(names) > limit:
            raise ProtectionRefused(
                f"the reset would delete {len(names)} objects, more than reset.max_objects "
                f"({limit}); nothing was deleted. Check what {selector} selects in "
                f"{env.app_namespace}"
            )
        confirm(names)
        return f"{len(names)} objects to delete: {', '.join(names) or 'none'}"

    steps = [
        *crd_steps(env, kubectl),
        Step(
            f"snapshot of the objects labelled {selector}",
            kubectl(*scope, "get", kinds, "--selector", selector, "-o", "yaml"),
            save_to=relative(settings, backup / f"{env.name}-objects.yaml"),
        ),
    ]
    if snapshot_db is not None:
        steps.append(
            Step(
                f"dump of the {env.name} database into {backup}",
                action=lambda _: snapshot_db(backup),
            )
        )
    steps += [
        Step(
            "preview: what the delete would remove (server-side dry run)",
            kubectl(
                *scope, "delete", kinds, "--selector", selector, "--dry-run=server", "-o", "name"
            ),
        ),
        Step(f"at most {limit} objects, then confirmation", action=check_preview),
        Step(
            f"delete the objects labelled {selector}",
            kubectl(
                *scope,
                "delete",
                kinds,
                "--selector",
                selector,
                "--wait=true",
                f"--timeout={settings.k8s_timeout:g}s",
            ),
        ),
    ]
    steps += apply_and_wait(settings, env, kubectl, documents)
    notes = [f"snapshot recorded under {backup.relative_to(settings.root)}/"]
    if snapshot_db is None:
        notes.append(f"no database URL for {env.name}: the database is neither dumped nor seeded")
    if seed is not None:
        steps.append(Step(f"seed the {env.name} database", action=lambda _: seed()))
    steps.append(smoke_step(settings, env))
    return Plan(f"staging.reset ({env.name})", env, guard, steps, notes)


def _deployment(env: Environment, name: str) -> str:
    known = deployments(render_overlay(env))
    if name not in known:
        raise ManifestError(
            f"unknown service {name!r} in {env.name}; the overlay deploys: {', '.join(known)}"
        )
    if name not in known[name]:
        raise ManifestError(f"deployment {name} has no container named {name}")
    return name


def image_for(env: Environment, name: str, tag: str) -> str:
    """The image reference of a service at a tag in an environment's registry."""
    if not _TAG.match(tag):
        raise ManifestError(f"invalid image tag {tag!r}: letters, digits, '_', '.', '-' (max 128)")
    image = f"mirante/{name}:{tag}"
    return f"{env.registry}/{image}" if env.registry else image


def deploy_plan(
    settings: Settings,
    env: Environment,
    name: str,
    tag: str,
    dry_run: bool,
    build: Callable[[str], str],
) -> Plan:
    """Build the image, tag and push it (when a registry is set), set it, wait for rollout."""
    ask = authorise(env, "change")
    image = image_for(env, name, tag)
    guard = guarded(env, dry_run)
    deployment = _deployment(env, name)
    kubectl, _ = _tools(env)
    scope = ("--namespace", env.app_namespace)
    steps = [Step(f"build the {name} image as {image}", action=lambda _: build(image))]
    notes = []
    if env.registry:
        steps.append(Step(f"push {image}", Command(("docker", "push", image))))
    else:
        notes.append(f"no registry for {env.name} in environments.yaml: {image} is not pushed")
    steps += [
        Step(
            "set the image",
            kubectl(*scope, "set", "image", f"deployment/{deployment}", f"{name}={image}"),
        ),
        Step(
            "record the change cause (shown by deploy.history)",
            kubectl(
                *scope,
                "annotate",
                f"deployment/{deployment}",
                "--overwrite",
                f"kubernetes.io/change-cause=mirante deploy.service {name} {tag}",
            ),
        ),
        Step(
            "rollout", kubectl.rollout_status(env.app_namespace, deployment, settings.k8s_timeout)
        ),
    ]
    return Plan(f"deploy.service {name} ({env.name}, {tag})", env, guard, steps, notes, ask)


def rollback_plan(
    settings: Settings, env: Environment, name: str, revision: str, dry_run: bool
) -> Plan:
    """Roll back with kubectl rollout undo (to a revision, or the previous one), and wait."""
    ask = authorise(env, "change")
    if revision and not _REVISION.match(revision):
        raise ManifestError(f"invalid revision {revision!r}: a positive whole number")
    guard = guarded(env, dry_run)
    deployment = _deployment(env, name)
    kubectl, _ = _tools(env)
    to = [f"--to-revision={revision}"] if revision else []
    steps = [
        Step(
            f"roll back to {'revision ' + revision if revision else 'the previous revision'}",
            kubectl(
                "--namespace", env.app_namespace, "rollout", "undo", f"deployment/{deployment}", *to
            ),
        ),
        Step(
            "rollout", kubectl.rollout_status(env.app_namespace, deployment, settings.k8s_timeout)
        ),
    ]
    return Plan(f"deploy.rollback {name} ({env.name})", env, guard, steps, ask=ask)


def history_plan(env: Environment, name: str, dry_run: bool) -> Plan:
    """The plan of ``deploy.history``."""
    guard = guarded(env, dry_run)
    deployment = _deployment(env, name)
    kubectl, _ = _tools(env)
    step = Step(
        "revisions",
        kubectl("--namespace", env.app_namespace, "rollout", "history", f"deployment/{deployment}"),
    )
    return Plan(f"deploy.history {name} ({env.name})", env, guard, [step])


def staging_reset_plan(
    settings: Settings, env: Environment, dry_run: bool, confirm: Callable[[list[str]], None]
) -> Plan:
    """:func:`reset_plan`, with the staging database dumped first and seeded last.

    Only when ``STAGE_DATABASE_URL`` names that database.
    """
    from mirante import db, seed

    if not settings.database_urls.get(env.name):
        return reset_plan(settings, env, dry_run, confirm, seed=None, snapshot_db=None)

    def dump(directory: Path) -> str:
        made = db.dump(settings, env.name, directory)
        return f"database dump {made.path} (sha256 {made.sha256[:16]})"

    def seed_env() -> str:
        report = seed.run(settings, env.name)
        return ", ".join(f"{table}: {rows} rows" for table, rows in report.rows.items())

    return reset_plan(settings, env, dry_run, confirm, seed=seed_env, snapshot_db=dump)


def deploy_service_plan(
    settings: Settings, env: Environment, name: str, tag: str, dry_run: bool
) -> Plan:
    """:func:`deploy_plan` building the sample app's image from this checkout."""
    from mirante import images
    from mirante.docker import client

    return deploy_plan(
        settings,
        env,
        name,
        tag,
        dry_run,
        build=lambda image: images.build_app_as(settings, client(settings), image),
    )
