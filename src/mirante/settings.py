"""Typed settings for mirante, read from the environment and ``.env``, validated on load.

Precedence: the command line (``overrides``) > environment > ``.env`` > the defaults.
Every variable is declared once, on the field of :class:`Settings` (or of one of its
groups: ``app``, ``backup``, ``alerting``, ``health``) that it sets; :data:`VARIABLES`
collects them, in that order. ``.env.example`` is rendered from them
(:func:`render_env_example`) and a test keeps the committed file equal to it. Passwords
have no default: :func:`ensure_secrets` generates them into ``.env`` (mode 0600).
"""

from __future__ import annotations

import functools
import ipaddress
import math
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mirante.errors import ProjectNotFound, SettingsError
from mirante.files import atomic_write, locked

if TYPE_CHECKING:
    from mirante.environments import Environments

ENV_FILE = ".env"
COMPOSE_FILE = Path("compose") / "docker-compose.yml"


@dataclass(frozen=True)
class Variable:
    """One setting: its variable name, default, form and meaning.

    Declared on the :class:`Settings` field it sets (:func:`_setting`, :func:`_keyed`);
    ``path`` is where that field is, from :class:`Settings` down (filled in when the fields
    are collected into :data:`VARIABLES`): ``("health", "probes")``, ``("ports", "app")``.
    """

    name: str
    default: str
    form: str
    doc: str
    secret: bool = False  # never printed; commented out in .env.example
    generate: bool = False  # generated into .env on first use when unset
    path: tuple[str, ...] = ()


_VARIABLE, _KEYED, _GROUP = "mirante.variable", "mirante.keyed", "mirante.group"


def _setting(
    name: str, default: str, form: str, doc: str, *, secret: bool = False, generate: bool = False
) -> Any:
    """A settings field, declared with the variable that sets it."""
    variable = Variable(name, default, form, doc, secret=secret, generate=generate)
    return field(metadata={_VARIABLE: variable})


def _keyed(variables: Mapping[str, Variable]) -> Any:
    """A mapping field (images, ports, database URLs), one variable per key."""
    return field(metadata={_KEYED: dict(variables)})


def _group(cls: type) -> Any:
    """A field holding a group of settings (its own dataclass)."""
    return field(metadata={_GROUP: cls})


def _image(service: str, ref: str) -> Variable:
    return Variable(
        f"MIRANTE_{service.upper().replace('-', '_')}_IMAGE",
        ref,
        "image",
        f"{service} image from the registry, pinned (name:tag or name@sha256:...)",
    )


def _port(name: str, default: int, what: str) -> Variable:
    return Variable(
        f"MIRANTE_{name.upper().replace('-', '_')}_PORT",
        str(default),
        "port",
        f"host port for {what}",
    )


# The one place where image tags are pinned: the images field of Settings.


@dataclass(frozen=True)
class App:
    """The sample app's settings, passed to its container: breaker, traffic, exports."""

    image: str = _setting(
        "MIRANTE_APP_IMAGE",
        "",
        "image-or-empty",
        "sample app image; empty = built from app/ and tagged by its content",
    )
    cb_threshold: int = _setting(
        "MIRANTE_CB_THRESHOLD",
        "3",
        "positive-int",
        "app circuit breaker: consecutive failures that open it",
    )
    cb_timeout: float = _setting(
        "MIRANTE_CB_TIMEOUT",
        "60",
        "positive-number",
        "app circuit breaker: seconds open before a half-open trial",
    )
    traffic_rps: float = _setting(
        "MIRANTE_TRAFFIC_RPS",
        "2",
        "non-negative-number",
        "app traffic generator: requests per second (0 turns it off)",
    )
    llm_latency: float = _setting(
        "MIRANTE_LLM_LATENCY",
        "0.3",
        "non-negative-number",
        "simulated LLM provider: mean seconds per healthy call",
    )
    llm_error_rate: float = _setting(
        "MIRANTE_LLM_ERROR_RATE",
        "0.02",
        "fraction",
        "simulated LLM provider: share of calls that fail in healthy mode (0 to 1)",
    )
    otlp_export_timeout: float = _setting(
        "MIRANTE_OTLP_EXPORT_TIMEOUT",
        "2",
        "positive-number",
        "app: seconds an OTLP export may wait on the collector (it bounds the flush at exit)",
    )
    otlp_endpoint: str = _setting(
        "MIRANTE_OTLP_ENDPOINT",
        "http://otel-collector:4318",
        "url",
        "OTLP/HTTP endpoint the app exports to (as seen from inside the stack)",
    )


@dataclass(frozen=True)
class Backup:
    """Where backup sets go, what ``backup.prune`` keeps, where ``db.backup`` uploads."""

    dir_setting: str = _setting(
        "MIRANTE_BACKUP_DIR",
        "backups",
        "path",
        "where backup sets are written (relative to the checkout, or absolute)",
    )
    keep_last: int = _setting(
        "MIRANTE_BACKUP_KEEP_LAST",
        "7",
        "count",
        "backup.prune keeps the newest N sets (and every set younger than KEEP_DAYS)",
    )
    keep_days: float = _setting(
        "MIRANTE_BACKUP_KEEP_DAYS",
        "30",
        "days",
        "backup.prune keeps every set younger than this many days",
    )
    s3_bucket: str = _setting(
        "MIRANTE_S3_BUCKET",
        "",
        "bucket-or-empty",
        "when set, db.backup also uploads each dump to this S3-compatible bucket",
    )
    s3_endpoint: str = _setting(
        "MIRANTE_S3_ENDPOINT",
        "",
        "url-or-empty",
        "S3-compatible endpoint, such as a MinIO URL (empty: AWS S3)",
    )
    s3_prefix: str = _setting(
        "MIRANTE_S3_PREFIX",
        "mirante/db",
        "path",
        "key prefix of uploaded dumps: <prefix>/<env>/<file>",
    )


@dataclass(frozen=True)
class Alerting:
    """Where Alertmanager sends alerts besides the app's webhook: Slack, email."""

    slack_webhook_url: str = _setting(
        "MIRANTE_SLACK_WEBHOOK_URL",
        "",
        "url-or-empty",
        "Slack incoming-webhook URL; when set, critical and warning alerts also go to Slack",
        secret=True,
    )
    slack_channel: str = _setting(
        "MIRANTE_SLACK_CHANNEL",
        "#alerts",
        "text",
        "Slack channel for alerts",
    )
    smtp_smarthost: str = _setting(
        "MIRANTE_SMTP_SMARTHOST",
        "",
        "host-or-empty",
        "SMTP host:port; with MIRANTE_SMTP_FROM and MIRANTE_ALERT_EMAIL_TO: email critical alerts",
    )
    smtp_from: str = _setting(
        "MIRANTE_SMTP_FROM",
        "",
        "email-or-empty",
        "sender address of alert emails",
    )
    smtp_username: str = _setting(
        "MIRANTE_SMTP_USERNAME",
        "",
        "text",
        "SMTP user name (empty: no authentication)",
    )
    smtp_password: str = _setting(
        "MIRANTE_SMTP_PASSWORD",
        "",
        "text",
        "SMTP password",
        secret=True,
    )
    email_to: str = _setting(
        "MIRANTE_ALERT_EMAIL_TO",
        "",
        "email-or-empty",
        "where critical alerts are emailed",
    )


@dataclass(frozen=True)
class Health:
    """The thresholds of ``invoke health``."""

    probes: int = _setting(
        "MIRANTE_HEALTH_PROBES",
        "20",
        "positive-int",
        "health: requests sent to the app to measure its p95 latency",
    )
    p95_warn: float = _setting(
        "MIRANTE_HEALTH_P95_WARN",
        "0.25",
        "positive-number",
        "health: app p95 latency (seconds) above which the app is WARN",
    )
    p95_critical: float = _setting(
        "MIRANTE_HEALTH_P95_CRITICAL",
        "1",
        "positive-number",
        "health: app p95 latency (seconds) above which the app is CRITICAL",
    )
    disk_warn: float = _setting(
        "MIRANTE_HEALTH_DISK_WARN",
        "15",
        "percent",
        "health: free space (% of the disk) below which the Docker or backup disk is WARN",
    )
    disk_critical: float = _setting(
        "MIRANTE_HEALTH_DISK_CRITICAL",
        "5",
        "percent",
        "health: free space (% of the disk) below which it is CRITICAL",
    )
    backup_warn_hours: float = _setting(
        "MIRANTE_HEALTH_BACKUP_WARN_HOURS",
        "26",
        "hours",
        "health: age of the newest verified backup above which backups are WARN",
    )
    backup_critical_hours: float = _setting(
        "MIRANTE_HEALTH_BACKUP_CRITICAL_HOURS",
        "72",
        "hours",
        "health: age of the newest verified backup above which backups are CRITICAL",
    )


@dataclass(frozen=True)
class Settings:
    """Every setting mirante reads, validated, grouped by what reads it. Build it with :func:`load`.

    The stack's own settings are at the top; ``app``, ``backup``, ``alerting`` and
    ``health`` hold the others. Each field is declared with the variable that sets it.
    """

    root: Path
    project_name: str = _setting(
        "MIRANTE_PROJECT_NAME",
        "mirante",
        "project",
        "compose project name: prefixes containers, volumes and the network",
    )
    bind: str = _setting(
        "MIRANTE_BIND",
        "127.0.0.1",
        "ip",
        "address every published port binds to; keep loopback unless you mean to expose the stack",
    )
    expose: str = _setting(
        "MIRANTE_EXPOSE",
        "no",
        "yes-no",
        "yes: you mean a MIRANTE_BIND beyond loopback (the Prometheus admin API and Postgres "
        "are then reachable from the network)",
    )
    image_source: str = _setting(
        "MIRANTE_IMAGE_SOURCE",
        "auto",
        "source",
        "registry | local | auto (= local when no registry answers)",
    )
    registry: str = _setting(
        "MIRANTE_REGISTRY",
        "registry-1.docker.io",
        "host",
        "registry probed by image source auto (https://HOST/v2/)",
    )
    debian_mirror: str = _setting(
        "MIRANTE_DEBIAN_MIRROR",
        "http://deb.debian.org/debian",
        "url",
        "Debian mirror for locally built images (debootstrap and apt)",
    )
    images: Mapping[str, str] = _keyed(
        {
            "prometheus": _image("prometheus", "prom/prometheus:v3.15.0"),
            "alertmanager": _image("alertmanager", "prom/alertmanager:v0.34.1"),
            "grafana": _image("grafana", "grafana/grafana:13.2.2"),
            "loki": _image("loki", "grafana/loki:3.7.8"),
            "tempo": _image("tempo", "grafana/tempo:2.10.0"),
            "otel-collector": _image(
                "otel-collector", "otel/opentelemetry-collector-contrib:0.149.0"
            ),
            "node-exporter": _image("node-exporter", "prom/node-exporter:v1.12.1"),
            "postgres": _image("postgres", "postgres:18.3"),
        }
    )
    ports: Mapping[str, int] = _keyed(
        {
            "prometheus": _port("prometheus", 9090, "Prometheus"),
            "alertmanager": _port("alertmanager", 9093, "Alertmanager"),
            "grafana": _port("grafana", 3000, "Grafana"),
            "loki": _port("loki", 3100, "Loki"),
            "tempo": _port("tempo", 3200, "Tempo"),
            "tempo-otlp": _port(
                "tempo-otlp",
                4418,
                "Tempo's own OTLP/HTTP receiver (traces that bypass the collector)",
            ),
            "otlp-grpc": _port("otlp-grpc", 4317, "the collector's OTLP/gRPC receiver"),
            "otlp-http": _port("otlp-http", 4318, "the collector's OTLP/HTTP receiver"),
            "node-exporter": _port("node-exporter", 9100, "node-exporter"),
            "postgres": _port("postgres", 5432, "Postgres"),
            "app": _port("app", 8000, "the sample app"),
        }
    )
    prometheus_retention: str = _setting(
        "MIRANTE_PROMETHEUS_RETENTION",
        "15d",
        "duration",
        "Prometheus TSDB retention (a Prometheus duration: 12h, 15d, 2w)",
    )
    loki_retention: str = _setting(
        "MIRANTE_LOKI_RETENTION",
        "168h",
        "duration",
        "Loki log retention (a duration: 72h, 168h)",
    )
    tempo_retention: str = _setting(
        "MIRANTE_TEMPO_RETENTION",
        "48h",
        "duration",
        "Tempo trace block retention (a duration: 24h, 48h)",
    )
    grafana_admin_user: str = _setting(
        "MIRANTE_GRAFANA_ADMIN_USER",
        "admin",
        "name",
        "Grafana admin user name",
    )
    grafana_admin_password: str = _setting(
        "MIRANTE_GRAFANA_ADMIN_PASSWORD",
        "",
        "secret",
        "Grafana admin password; generated into .env on the first stack.up",
        secret=True,
        generate=True,
    )
    postgres_user: str = _setting(
        "MIRANTE_POSTGRES_USER",
        "mirante",
        "name",
        "Postgres superuser of the stack",
    )
    postgres_db: str = _setting(
        "MIRANTE_POSTGRES_DB",
        "mirante",
        "name",
        "Postgres database created on first start",
    )
    postgres_password: str = _setting(
        "MIRANTE_POSTGRES_PASSWORD",
        "",
        "secret",
        "Postgres password; generated into .env on the first stack.up",
        secret=True,
        generate=True,
    )
    postgres_app_user: str = _setting(
        "MIRANTE_POSTGRES_APP_USER",
        "mirante_app",
        "name",
        "Postgres role the app reads the catalog as (login, read-only, no superuser)",
    )
    postgres_app_password: str = _setting(
        "MIRANTE_POSTGRES_APP_PASSWORD",
        "",
        "secret",
        "password of the app's Postgres role; generated into .env on the first stack.up",
        secret=True,
        generate=True,
    )
    lock_timeout: float = _setting(
        "MIRANTE_LOCK_TIMEOUT",
        "30",
        "positive-number",
        "seconds a backup, restore, prune or flag toggle waits for another one to finish",
    )
    environments_file: str = _setting(
        "MIRANTE_ENVIRONMENTS_FILE",
        "config/environments.yaml",
        "path",
        "the remote environments (kube context, API server, namespaces, protection)",
    )
    k8s_timeout: float = _setting(
        "MIRANTE_K8S_TIMEOUT",
        "600",
        "positive-number",
        "seconds helm --wait and kubectl rollout status wait on a remote environment",
    )
    database_urls: Mapping[str, str] = _keyed(
        {
            "dev": Variable(
                "DEV_DATABASE_URL",
                "",
                "postgres-url-or-empty",
                "db.backup / db.healthcheck --env dev: postgresql://user:password@host:port/db",
                secret=True,
            ),
            "staging": Variable(
                "STAGE_DATABASE_URL",
                "",
                "postgres-url-or-empty",
                "idem for --env staging",
                secret=True,
            ),
            "prod": Variable(
                "PROD_DATABASE_URL",
                "",
                "postgres-url-or-empty",
                "idem for --env prod",
                secret=True,
            ),
        }
    )
    grafana_database_urls: Mapping[str, str] = _keyed(
        {
            "dev": Variable(
                "DEV_GRAFANA_DATABASE_URL",
                "",
                "postgres-url-or-empty",
                "k8s.install dev: a Postgres database Grafana shares between its replicas (needed "
                "when the environment runs more than one)",
                secret=True,
            ),
            "staging": Variable(
                "STAGE_GRAFANA_DATABASE_URL",
                "",
                "postgres-url-or-empty",
                "idem for k8s.install staging",
                secret=True,
            ),
            "prod": Variable(
                "PROD_GRAFANA_DATABASE_URL",
                "",
                "postgres-url-or-empty",
                "idem for k8s.install prod (two Grafanas: required, or the Secret grafana-db made "
                "by hand)",
                secret=True,
            ),
        }
    )
    stack_timeout: float = _setting(
        "MIRANTE_STACK_TIMEOUT",
        "180",
        "positive-number",
        "seconds stack.up waits for services to become healthy",
    )
    app: App = _group(App)
    backup: Backup = _group(Backup)
    alerting: Alerting = _group(Alerting)
    health: Health = _group(Health)

    @property
    def compose_file(self) -> Path:
        """The compose file of the checkout."""
        return self.root / COMPOSE_FILE

    @property
    def backup_dir(self) -> Path:
        """Where backup sets are written (relative settings are under the checkout)."""
        path = Path(self.backup.dir_setting)
        return path if path.is_absolute() else self.root / path

    @property
    def state_dir(self) -> Path:
        """Generated, git-ignored files (rendered compose env, Prometheus targets)."""
        return self.root / ".mirante"

    @functools.cached_property
    def environments(self) -> Environments:
        """The remote environments of ``MIRANTE_ENVIRONMENTS_FILE``, validated once per Settings.

        Settings is frozen: the file it names does not change under it.

        Raises:
            EnvironmentsError: the file is missing, is not YAML, or holds a bad value.
        """
        from mirante.environments import load_environments

        path = Path(self.environments_file)
        return load_environments(path if path.is_absolute() else self.root / path, self.root)

    def value_of(self, variable: Variable) -> str:
        """The value of one variable, as text, as compose and .env files carry it."""
        value: Any = self
        for part in variable.path:
            value = value[part] if isinstance(value, Mapping) else getattr(value, part)
        return f"{value:g}" if isinstance(value, float) else str(value)


def _collect(cls: type, path: tuple[str, ...] = ()) -> Iterator[Variable]:
    """Every variable declared on ``cls``'s fields and its groups', with its path."""
    for item in fields(cls):
        here = (*path, item.name)
        if _VARIABLE in item.metadata:
            yield replace(item.metadata[_VARIABLE], path=here)
        elif _KEYED in item.metadata:
            for key, variable in item.metadata[_KEYED].items():
                yield replace(variable, path=(*here, key))
        elif _GROUP in item.metadata:
            yield from _collect(item.metadata[_GROUP], here)


def _built(cls: type, values: Mapping[tuple[str, ...], Any], path: tuple[str, ...] = ()) -> Any:
    """``cls`` (Settings or a group) from the parsed value of each variable, by path."""
    given: dict[str, Any] = {}
    for item in fields(cls):
        here = (*path, item.name)
        if _KEYED in item.metadata:
            given[item.name] = {key: values[(*here, key)] for key in item.metadata[_KEYED]}
        elif _GROUP in item.metadata:
            given[item.name] = _built(item.metadata[_GROUP], values, here)
        else:  # a variable's field, or root
            given[item.name] = values[here]
    return cls(**given)


VARIABLES: tuple[Variable, ...] = tuple(_collect(Settings))
SECRET_VARIABLES = tuple(v for v in VARIABLES if v.secret)
HIDDEN = "<secret, not shown>"
GENERATED_VARIABLES = tuple(v for v in VARIABLES if v.generate)


_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$", re.ASCII)
_DURATION_RE = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$", re.ASCII)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text: str) -> float | None:
    """A Prometheus duration (``15d``, ``1h30m``, ``500ms``) in seconds; None if it is not one."""
    if not _DURATION_RE.match(text):
        return None
    return sum(
        int(n) * _DURATION_UNITS[unit] for n, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    )


_IMAGE_RE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::\d+/[a-z0-9]+(?:[._/-][a-z0-9]+)*)?)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def number(
    text: str, low: float, high: float, *, integer: bool = False, above_low: bool = False
) -> float | None:
    """``text`` as a number in [low, high] (or (low, high] with ``above_low``), else None.

    The one numeric parser of every setting and flag: ASCII digits and one point only, so
    no sign, exponent, NaN, infinity or other script's digit (``²``, ``٣``) gets through.
    """
    text = text.strip()
    if not (_INTEGER if integer else _DECIMAL).fullmatch(text):
        return None
    value = int(text) if integer else float(text)
    inside = (value > low if above_low else value >= low) and value <= high
    return value if inside else None


def _parse_port(v: Variable, text: str) -> int:
    value = number(text, 1, 65535, integer=True)
    if value is None:
        raise SettingsError(v.name, text, "a port number from 1 to 65535")
    return int(value)


def _parse_positive_int(v: Variable, text: str) -> int:
    value = number(text, 1, math.inf, integer=True)
    if value is None:
        raise SettingsError(v.name, text, "a whole number of at least 1")
    return int(value)


def _parse_count(v: Variable, text: str) -> int:
    value = number(text, 0, math.inf, integer=True)
    if value is None:
        raise SettingsError(v.name, text, "a whole number of at least 0")
    return int(value)


def _number(
    low: float, high: float, accepted: str, *, above_low: bool = False
) -> Callable[[Variable, str], float]:
    """A parser for numbers in [low, high] (or (low, high] with ``above_low``)."""

    def parse(v: Variable, text: str) -> float:
        value = number(text, low, high, above_low=above_low)
        if value is None:
            raise SettingsError(v.name, text, accepted)
        return value

    return parse


def _parse_ip(v: Variable, text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise SettingsError(v.name, text, "an IP address such as 127.0.0.1 or 0.0.0.0") from None


def _parse_yes_no(v: Variable, text: str) -> str:
    if text not in ("yes", "no"):
        raise SettingsError(v.name, text, "yes or no")
    return text


def _parse_source(v: Variable, text: str) -> str:
    if text not in ("auto", "registry", "local"):
        raise SettingsError(v.name, text, "one of auto, registry, local")
    return text


def unpinned(ref: str) -> str:
    """Why an image reference is not pinned; '' when it has a tag other than latest, or a digest."""
    match = _IMAGE_RE.match(ref)
    if not match or not (match["tag"] or match["digest"]):
        return "a pinned image reference, name:tag or name@sha256:..."
    if match["tag"] == "latest" and not match["digest"]:
        return "a pinned tag; `latest` is not pinned"
    return ""


def _parse_image(v: Variable, text: str) -> str:
    if why := unpinned(text):
        raise SettingsError(v.name, text, why)
    return text


def _parse_image_or_empty(v: Variable, text: str) -> str:
    return _parse_image(v, text) if text else ""


def _parse_url(v: Variable, text: str) -> str:
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", text):
        raise SettingsError(v.name, text, "an http:// or https:// URL")
    return text.rstrip("/")


def _parse_regex(pattern: re.Pattern[str], accepted: str) -> Callable[[Variable, str], str]:
    def parse(v: Variable, text: str) -> str:
        if not pattern.match(text):
            raise SettingsError(v.name, text, accepted)
        return text

    return parse


_POSTGRES_URL = re.compile(r"^postgres(ql)?://[^\s/]+(/[^\s]*)?$")
POSTGRES_URL_FORM = "a URL like postgresql://user:password@host:5432/dbname (or empty)"


def _parse_postgres_url_or_empty(v: Variable, text: str) -> str:
    """A libpq URL whose host and port libpq and mirante can both read (or empty)."""
    from urllib.parse import urlsplit

    if not text:
        return ""
    if not _POSTGRES_URL.match(text):
        raise SettingsError(v.name, text, POSTGRES_URL_FORM)
    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError: "abc", 99999, an unclosed "[::1"
        host = parts.hostname
    except ValueError:
        raise SettingsError(
            v.name, text, f"{POSTGRES_URL_FORM}, with a port from 1 to 65535"
        ) from None
    if not host or port == 0:
        raise SettingsError(v.name, text, f"{POSTGRES_URL_FORM}, naming a host")
    return text


def _parse_url_or_empty(v: Variable, text: str) -> str:
    return _parse_url(v, text) if text else ""


def _parse_host_or_empty(v: Variable, text: str) -> str:
    if text and not re.match(r"^[A-Za-z0-9.-]+:\d{1,5}$", text, re.ASCII):
        raise SettingsError(v.name, text, "host:port, such as smtp.example.org:587 (or empty)")
    return text


def _parse_email_or_empty(v: Variable, text: str) -> str:
    if text and not re.match(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$", text):
        raise SettingsError(v.name, text, "an email address (or empty)")
    return text


def _parse_secret(v: Variable, text: str) -> str:
    if text and len(text) < 12:
        raise SettingsError(
            v.name, "***", "at least 12 characters (or leave it unset to generate one)"
        )
    return text


PARSERS: dict[str, Callable[[Variable, str], Any]] = {
    "port": _parse_port,
    "positive-int": _parse_positive_int,
    "count": _parse_count,
    "days": _number(0, 3650, "a number of days from 0 to 3650"),
    "postgres-url-or-empty": _parse_postgres_url_or_empty,
    "bucket-or-empty": _parse_regex(
        re.compile(r"^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"), "an S3 bucket name (or empty)"
    ),
    "positive-number": _number(0, 1e9, "a number of seconds greater than 0", above_low=True),
    "non-negative-number": _number(0, 100, "a number from 0 to 100"),
    "percent": _number(0, 100, "a percentage from 0 to 100"),
    "hours": _number(0, 87600, "a number of hours greater than 0", above_low=True),
    "fraction": _number(0, 1, "a fraction from 0 to 1, such as 0.02"),
    "ip": _parse_ip,
    "yes-no": _parse_yes_no,
    "source": _parse_source,
    "image": _parse_image,
    "image-or-empty": _parse_image_or_empty,
    "url": _parse_url,
    "secret": _parse_secret,
    "url-or-empty": _parse_url_or_empty,
    "host-or-empty": _parse_host_or_empty,
    "email-or-empty": _parse_email_or_empty,
    "text": lambda v, text: text,
    "path": _parse_regex(re.compile(r"^[^\0]+$"), "a directory path"),
    "project": _parse_regex(
        _PROJECT_RE, "lower-case letters, digits, '-' or '_', starting with a letter or digit"
    ),
    "name": _parse_regex(
        _NAME_RE, "letters, digits and '_', starting with a letter or '_' (at most 63)"
    ),
    "host": _parse_regex(_HOST_RE, "a host name, optionally with :port"),
    "duration": _parse_regex(_DURATION_RE, "a Prometheus duration such as 12h, 15d or 2w"),
}


def find_root(start: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The mirante checkout: ``MIRANTE_ROOT``, else the first parent holding the compose file.

    Raises:
        ProjectNotFound: when neither names a checkout.
    """
    environ = os.environ if environ is None else environ
    if environ.get("MIRANTE_ROOT"):
        root = Path(environ["MIRANTE_ROOT"]).resolve()
        if not (root / COMPOSE_FILE).is_file():
            raise ProjectNotFound(
                f"MIRANTE_ROOT={root} holds no {COMPOSE_FILE}; point it at a mirante checkout."
            )
        return root
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / COMPOSE_FILE).is_file():
            return candidate
    raise ProjectNotFound(
        f"no mirante checkout at or above {here} (looked for {COMPOSE_FILE}); "
        "run from the repository or set MIRANTE_ROOT."
    )


def _char_name(char: str) -> str:
    names = {"\r": "a carriage return (CR)", "\x0b": "a vertical tab", "\x0c": "a form feed"}
    return names.get(char) or f"U+{ord(char):04X} ({unicodedata.name(char, 'a control')})"


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a dotenv file: ``KEY=VALUE`` lines, ``#`` comments, optional quotes, no expansion.

    Raises:
        SettingsError: on a line that is not an assignment.
    """
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    from mirante import loader
    from mirante.errors import Unreadable

    try:
        text = loader.read_text(path, 256 << 10)
    except Unreadable as exc:
        raise SettingsError(path.name, "<not shown>", f"a dotenv file ({exc.reason})") from None
    # Lines are what an editor shows: split at \n only (str.splitlines() also splits at a
    # bare \r and at U+2028, and would name a line number no editor has).
    for number, raw in enumerate(text.split("\n"), start=1):
        raw = raw.removesuffix("\r")
        if odd := [c for c in raw if c in "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"]:
            key = raw.partition("=")[0].strip()[:40]
            raise SettingsError(
                f"{path.name} line {number}",
                f"{key}=<value not shown>",
                f"one line per KEY=VALUE: it holds {_char_name(odd[0])} "
                "inside, which editors show as a line break or not at all; remove it",
            )
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise SettingsError(f"{path.name} line {number}", raw, "KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def load(
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Read and validate every setting.

    Args:
        root: the checkout; found with :func:`find_root` when omitted.
        environ: the environment to read (``os.environ`` when omitted).
        overrides: values given on the command line, by variable name (``backup --dest``
            is ``MIRANTE_BACKUP_DIR``); they win over the environment and are checked the
            same way.

    Raises:
        SettingsError: naming the first invalid variable and the accepted form.
        ProjectNotFound: when no checkout is found.
    """
    environ = os.environ if environ is None else environ
    root = root.resolve() if root else find_root(environ=environ)
    from_file = read_env_file(root / ENV_FILE)
    values: dict[tuple[str, ...], Any] = {("root",): root}
    port_owner: dict[int, str] = {}
    for variable in VARIABLES:
        text = environ.get(variable.name, from_file.get(variable.name, variable.default))
        text = (overrides or {}).get(variable.name, text).strip()
        try:
            if "'" in text or "\n" in text:
                raise SettingsError(
                    variable.name, text, "a value without single quotes or newlines"
                )
            value = PARSERS[variable.form](variable, text)
        except SettingsError as exc:
            if variable.secret:  # the message names the variable, never shows its value
                raise SettingsError(variable.name, HIDDEN, exc.accepted) from None
            raise
        if variable.form == "port":
            if value in port_owner:
                raise SettingsError(
                    variable.name, text, f"a port not already used by {port_owner[value]}"
                )
            port_owner[value] = variable.name
        values[variable.path] = value
    settings: Settings = _built(Settings, values)
    if not ipaddress.ip_address(settings.bind).is_loopback and settings.expose != "yes":
        raise SettingsError(
            "MIRANTE_BIND",
            settings.bind,
            "a loopback address, or MIRANTE_EXPOSE=yes as well: any other address publishes "
            "the Prometheus admin API and Postgres to the network",
        )
    if settings.postgres_app_user.startswith("pg_"):
        raise SettingsError(
            "MIRANTE_POSTGRES_APP_USER",
            settings.postgres_app_user,
            "a role name not starting with pg_ (Postgres reserves those)",
        )
    if settings.postgres_app_user == settings.postgres_user:
        raise SettingsError(
            "MIRANTE_POSTGRES_APP_USER",
            settings.postgres_app_user,
            f"a role other than MIRANTE_POSTGRES_USER ({settings.postgres_user}): the app "
            "reads as its own read-only role, never as the superuser",
        )
    return settings


def ensure_secrets(settings: Settings) -> tuple[Settings, list[str]]:
    """Generate every secret that has no value into ``.env`` (mode 0600, written atomically).

    Returns:
        The settings with the generated values, and the names of the variables generated
        (empty when every secret had a value already).
    """
    unset = [v for v in GENERATED_VARIABLES if not settings.value_of(v)]
    if not unset:
        env_file = settings.root / ENV_FILE
        if env_file.exists():
            env_file.chmod(0o600)  # it holds passwords, whoever made it
        return settings, []
    # Two first commands at once must not each generate (and keep) different passwords.
    with locked(settings.state_dir / ".env.lock", settings.lock_timeout, "first stack command"):
        return _generate_secrets(settings, unset)


def _generate_secrets(settings: Settings, unset: list[Variable]) -> tuple[Settings, list[str]]:
    path = settings.root / ENV_FILE
    on_file = read_env_file(path)  # written since these settings were loaded
    known: dict[str, Any] = {_top(v): on_file[v.name] for v in unset if on_file.get(v.name)}
    settings = replace(settings, **known)
    missing = [v for v in unset if not on_file.get(v.name)]
    if not missing:
        if path.exists():
            path.chmod(0o600)
        return settings, []
    values = {v.name: secrets.token_urlsafe(24) for v in missing}
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    text += "# generated by mirante on first stack.up; keep this file private (mode 0600)\n"
    text += "".join(f"{name}={value}\n" for name, value in values.items())
    atomic_write(path, text, 0o600)
    fresh: dict[str, Any] = {_top(v): values[v.name] for v in missing}
    updated = replace(settings, **fresh)
    return updated, list(values)


def _top(variable: Variable) -> str:
    """The Settings field a generated secret is (they are all at the top)."""
    (name,) = variable.path
    return name


def render_env_example() -> str:
    """The text of ``.env.example``: every variable, one comment each, with its default."""
    lines = [
        "# mirante settings. Copy to .env to change any of them; the environment wins over .env.",
        "# Passwords have no default: the first `invoke stack.up` generates them into .env (0600).",
        "",
    ]
    for variable in VARIABLES:
        lines.append(f"# {variable.doc}")
        lines.append(f"{'# ' if variable.secret else ''}{variable.name}={variable.default}")
    lines += [
        "",
        "# Tests only: 1 makes integration tests fail, not skip, when no Docker daemon answers.",
        "# MIRANTE_REQUIRE_DOCKER=0",
        "# Tests only: 1 makes tests/k8s fail, not skip, when kubectl or helm is missing.",
        "# MIRANTE_REQUIRE_KUBE_TOOLS=0",
        "# Tests only: a directory of `helm pull`ed charts, to helm-template them with our values.",
        "# MIRANTE_TEST_HELM_CHARTS=",
        "# Where the checkout is, when commands run from elsewhere.",
        "# MIRANTE_ROOT=",
        "# Set by stack.up, not by you: the collector's healthcheck helper (a static busybox).",
        "# MIRANTE_HEALTHPROBE_IMAGE=",
        "# The app alone (outside compose): where its traffic generator sends requests.",
        "# MIRANTE_TRAFFIC_TARGET=http://127.0.0.1:8000",
        "# The app alone: its feature flags file and the environment whose flags it follows.",
        "# MIRANTE_FEATURES_FILE=/etc/mirante/config/features.yaml",
        "# MIRANTE_ENV=local",
    ]
    return "\n".join(lines) + "\n"
