"""The remote environments (dev / staging / prod) of ``config/environments.yaml``, validated.

Each environment names the kube context and API server mirante expects, its namespaces,
its kustomize overlay and helm values, and how it is protected. A bad file fails on load
with one line naming the file, the key and what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirante import loader
from mirante.errors import EnvironmentsError, NotUtf8, UnknownEnvironment, Unreadable

PROTECTIONS = ("none", "confirm", "no-destructive")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_KIND = re.compile(r"^[a-z0-9]+(\.[a-z0-9-]+)*$")  # plural resource, optionally .group
_SERVER = re.compile(r"^https?://[^\s/]+(/\S*)?$")
URL_KEYS = ("app", "prometheus", "alertmanager")
ALERTING_KEYS = ("slack_channel", "email_to", "smtp_smarthost", "smtp_from", "smtp_username")
# The Secret (observability namespace) Alertmanager reads Slack's webhook URL and the SMTP
# password from, mounted by the operator at /etc/alertmanager/secrets/<name>/.
ALERTING_SECRET = "mirante-alerting"  # noqa: S105 (a Secret's name, not its value)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_HOSTPORT = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$", re.ASCII)
_REGISTRY = re.compile(r"^$|^[A-Za-z0-9.-]+(:\d{1,5})?(/[a-z0-9._-]+)*$", re.ASCII)
FORBIDDEN_KINDS = frozenset({"all", "namespaces", "namespace", "ns", "*"})


@dataclass(frozen=True)
class Alerting:
    """Slack and email for a cluster's Alertmanager, beyond the app's webhook.

    Slack is on with a channel; email with the recipient, smarthost and sender. The
    secrets (Slack's webhook URL, the SMTP password when there is a username) are read from
    the Secret :data:`ALERTING_SECRET`, never from this file.
    """

    slack_channel: str = ""
    email_to: str = ""
    smtp_smarthost: str = ""
    smtp_from: str = ""
    smtp_username: str = ""

    @property
    def secrets(self) -> bool:
        """Whether Alertmanager reads anything from the Secret."""
        return bool(self.slack_channel or self.smtp_username)


@dataclass(frozen=True)
class Storage:
    """Object storage of an environment's logs and traces (Loki and Tempo on S3).

    The pods reach their bucket through IRSA: the role ARN is their service account's
    ``eks.amazonaws.com/role-arn`` annotation; no key is ever in a values file.
    """

    region: str
    logs_bucket: str
    traces_bucket: str
    loki_role: str
    tempo_role: str


@dataclass(frozen=True)
class Aws:
    """The AWS account and region an environment's foundation lives in, and its Terraform.

    ``invoke infra.*`` refuses to run Terraform unless the credentials are this account's;
    ``terraform`` is the directory of the environment's root module.
    """

    account: str
    region: str
    terraform: Path


@dataclass(frozen=True)
class ResetPolicy:
    """What ``staging.reset`` may delete: these kinds, labelled exactly ``env=<name>``."""

    kinds: tuple[str, ...]
    max_objects: int


@dataclass(frozen=True)
class Environment:
    """One remote environment: its cluster, namespaces, protection and URLs."""

    name: str
    context: str
    api_server: str
    observability_namespace: str
    app_namespace: str
    overlay: Path
    helm_values: Path
    protection: str
    registry: str = ""
    reset: ResetPolicy | None = None
    urls: Mapping[str, str] = field(default_factory=dict)
    # Slack and email beyond the app's webhook (secrets in the Secret ALERTING_SECRET).
    alerting: Alerting = field(default_factory=Alerting)
    # Loki and Tempo on S3 (None: on the pods' volumes, as dev).
    storage: Storage | None = None
    # The AWS foundation (None: no Terraform for it; infra.* refuses it).
    aws: Aws | None = None
    # The KMS key the volumes' StorageClass encrypts with ("": the account's aws/ebs key,
    # unless Terraform's kept outputs name one).
    volumes_kms_key: str = ""

    @property
    def label(self) -> str:
        """The exact label selector of this environment's objects: ``env=<name>``."""
        return f"env={self.name}"


@dataclass(frozen=True)
class Environments:
    """Every environment of ``config/environments.yaml``, by name."""

    path: Path
    by_name: Mapping[str, Environment] = field(default_factory=dict)

    def get(self, name: str) -> Environment:
        """The environment called ``name``.

        Raises:
            UnknownEnvironment: listing the known ones.
        """
        if name not in self.by_name:
            raise UnknownEnvironment(name, list(self.by_name))
        return self.by_name[name]


def load_environments(path: Path, root: Path) -> Environments:
    """Read and validate the environments file; its paths are relative to ``root``.

    Raises:
        EnvironmentsError: naming the file, the line and column of a YAML error, or the key
            whose value is wrong and what it accepts.
    """
    where = _shown(path)
    try:
        document = loader.load_yaml(path)
    except FileNotFoundError:
        raise EnvironmentsError(
            f"{where} does not exist; create it (see the one in the mirante repository) or "
            "point MIRANTE_ENVIRONMENTS_FILE at yours"
        ) from None
    except Unreadable as exc:
        raise EnvironmentsError(f"{where}: {exc.reason}") from None
    except NotUtf8 as exc:
        raise EnvironmentsError(str(exc)) from None
    envs = _mapping(document, "the top level", where).get("environments")
    envs = _mapping(envs, "environments", where)
    if not envs:
        raise EnvironmentsError(f"{where}: `environments` defines no environment")
    return Environments(
        path, {str(name): _environment(str(name), body, where, root) for name, body in envs.items()}
    )


def _environment(name: str, body: Any, where: str, root: Path) -> Environment:
    if not _DNS_LABEL.match(name):
        raise EnvironmentsError(f"{where}: environment name {name!r} must be a DNS label")
    body = _mapping(body, f"environments.{name}", where)
    key = f"environments.{name}"

    def text(field_name: str, pattern: re.Pattern[str], accepted: str, default: Any = None) -> str:
        value = body.get(field_name, default)
        if not isinstance(value, str) or not pattern.match(value):
            raise EnvironmentsError(
                f"{where}: {key}.{field_name} is {value!r}; expected {accepted}"
            )
        return value

    namespaces = _mapping(body.get("namespaces"), f"{key}.namespaces", where)
    for role in ("observability", "app"):
        value = namespaces.get(role)
        if not isinstance(value, str) or not _DNS_LABEL.match(value):
            raise EnvironmentsError(
                f"{where}: {key}.namespaces.{role} is {value!r}; expected a namespace name"
            )
    protection = body.get("protection")
    if protection not in PROTECTIONS:
        raise EnvironmentsError(
            f"{where}: {key}.protection is {protection!r}; expected one of {', '.join(PROTECTIONS)}"
        )
    return Environment(
        name=name,
        context=text("context", re.compile(r"^\S+$"), "a kube context name"),
        api_server=text("api_server", _SERVER, "an http(s):// URL of the API server"),
        observability_namespace=namespaces["observability"],
        app_namespace=namespaces["app"],
        overlay=root / text("overlay", re.compile(r"^[^\0\s]+$"), "a directory path"),
        helm_values=root / text("helm_values", re.compile(r"^[^\0\s]+$"), "a directory path"),
        protection=protection,
        registry=text("registry", _REGISTRY, "a registry host[:port][/path] or ''", ""),
        reset=_reset(body.get("reset"), f"{key}.reset", where),
        urls=_urls(body.get("urls"), f"{key}.urls", where),
        alerting=_alerting(body.get("alerting"), f"{key}.alerting", where),
        storage=_storage(body.get("storage"), f"{key}.storage", where),
        aws=_aws(body.get("aws"), f"{key}.aws", where, root, name),
        volumes_kms_key=_volumes(body.get("volumes"), f"{key}.volumes", where),
    )


_KMS_KEY = re.compile(
    r"^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:(key|alias)/[\w/-]{1,256}$", re.ASCII
)


def _volumes(body: Any, key: str, where: str) -> str:
    """The KMS key ARN the volumes are encrypted with (optional)."""
    if body is None:
        return ""
    body = _mapping(body, key, where)
    for name in body:
        if name != "kms_key":
            raise EnvironmentsError(f"{where}: {key}.{name} is not known; expected kms_key")
    value = body.get("kms_key") or ""
    if not isinstance(value, str) or (value and not _KMS_KEY.match(value)):
        raise EnvironmentsError(
            f"{where}: {key}.kms_key is {value!r}; expected a KMS key ARN "
            "(arn:aws:kms:<region>:<account>:key/<id>)"
        )
    return value


def _urls(body: Any, key: str, where: str) -> dict[str, str]:
    """Where ``invoke health --env`` reaches the app, Prometheus and Alertmanager (optional)."""
    if body is None:
        return {}
    body = _mapping(body, key, where)
    urls = {}
    for name, value in body.items():
        if name not in URL_KEYS:
            raise EnvironmentsError(
                f"{where}: {key}.{name} is not known; expected {', '.join(URL_KEYS)}"
            )
        if value in ("", None):
            continue
        if not isinstance(value, str) or not _SERVER.match(value):
            raise EnvironmentsError(f"{where}: {key}.{name} is {value!r}; expected an http(s) URL")
        urls[str(name)] = value.rstrip("/")
    return urls


def _alerting(body: Any, key: str, where: str) -> Alerting:
    """Slack and email for a cluster's Alertmanager (optional); secrets never in the file."""
    if body is None:
        return Alerting()
    body = _mapping(body, key, where)
    for name in body:
        if name not in ALERTING_KEYS:
            raise EnvironmentsError(
                f"{where}: {key}.{name} is not known; expected {', '.join(ALERTING_KEYS)} "
                f"(secrets go in the Secret {ALERTING_SECRET}, never in this file)"
            )
    accepted = {"email_to": (_EMAIL, "an email address"), "smtp_from": (_EMAIL, "an email address"),
                "smtp_smarthost": (_HOSTPORT, "host:port")}  # fmt: skip
    values = {}
    for name in ALERTING_KEYS:
        value = body.get(name) or ""
        pattern, what = accepted.get(name, (re.compile(r"^\S*$"), "one word"))
        if not isinstance(value, str) or (value and not pattern.match(value)):
            raise EnvironmentsError(f"{where}: {key}.{name} is {value!r}; expected {what}")
        values[name] = value
    email = [values[n] for n in ("email_to", "smtp_smarthost", "smtp_from")]
    if any(email) and not all(email):
        raise EnvironmentsError(
            f"{where}: {key} turns email on only with email_to, smtp_smarthost and smtp_from "
            "all set"
        )
    return Alerting(**values)


_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$", re.ASCII)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,128}$", re.ASCII)


def _storage(body: Any, key: str, where: str) -> Storage | None:
    """Loki's and Tempo's buckets, region and IRSA roles (optional)."""
    if body is None:
        return None
    body = _mapping(body, key, where)
    buckets = _mapping(body.get("buckets"), f"{key}.buckets", where)
    roles = _mapping(body.get("roles"), f"{key}.roles", where)

    def value(found: Any, name: str, pattern: re.Pattern[str], accepted: str) -> str:
        if not isinstance(found, str) or not pattern.match(found):
            raise EnvironmentsError(f"{where}: {key}.{name} is {found!r}; expected {accepted}")
        return found

    bucket = "an S3 bucket name (3-63 lower-case letters, digits, '.' or '-')"
    role = "an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"
    return Storage(
        region=value(body.get("region"), "region", _REGION, "an AWS region such as eu-west-1"),
        logs_bucket=value(buckets.get("logs"), "buckets.logs", _BUCKET, bucket),
        traces_bucket=value(buckets.get("traces"), "buckets.traces", _BUCKET, bucket),
        loki_role=value(roles.get("loki"), "roles.loki", _ROLE, role),
        tempo_role=value(roles.get("tempo"), "roles.tempo", _ROLE, role),
    )


_ACCOUNT = re.compile(r"^\d{12}$", re.ASCII)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$", re.ASCII)


def _aws(body: Any, key: str, where: str, root: Path, name: str) -> Aws | None:
    """The environment's AWS account, region and Terraform directory (optional)."""
    if body is None:
        return None
    body = _mapping(body, key, where)
    account, region = str(body.get("account", "")), body.get("region")
    if not _ACCOUNT.match(account):
        raise EnvironmentsError(
            f"{where}: {key}.account is {body.get('account')!r}; expected a 12-digit AWS "
            "account id, quoted"
        )
    if not isinstance(region, str) or not _REGION.match(region):
        raise EnvironmentsError(f"{where}: {key}.region is {region!r}; expected e.g. eu-west-1")
    directory = body.get("terraform", f"terraform/envs/{name}")
    if not isinstance(directory, str) or not directory.strip():
        raise EnvironmentsError(f"{where}: {key}.terraform is {directory!r}; expected a path")
    return Aws(account, region, root / directory)


def _reset(body: Any, key: str, where: str) -> ResetPolicy | None:
    if body is None:
        return None
    body = _mapping(body, key, where)
    kinds = body.get("kinds")
    if not isinstance(kinds, list) or not kinds:
        raise EnvironmentsError(f"{where}: {key}.kinds must list the resource kinds to delete")
    for kind in kinds:
        if not isinstance(kind, str) or not _KIND.match(kind) or kind in FORBIDDEN_KINDS:
            raise EnvironmentsError(
                f"{where}: {key}.kinds holds {kind!r}; expected plural resource names such as "
                "deployments.apps (never all or namespaces)"
            )
    limit = body.get("max_objects")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise EnvironmentsError(f"{where}: {key}.max_objects is {limit!r}; expected a count >= 1")
    return ResetPolicy(tuple(kinds), limit)


def _mapping(value: Any, key: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EnvironmentsError(f"{where}: {key} must be a mapping, not {type(value).__name__}")
    return value


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
