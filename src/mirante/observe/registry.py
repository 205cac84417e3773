"""The services the stack observes: ``config/services.yaml``, read, checked and rewritten.

Each observed service is a Prometheus job of its own. Where its metrics are is a URL: on
this machine (a process on the host, reached from Prometheus's container through
``host.docker.internal``) or a container on the stack's network. Its contract level is
``http``, or ``http`` and ``llm``. Every target gets the labels the API and LLM alerts and
the golden-signals and LLM dashboards select on (``contract``, ``llm``), so a developer's
own service is alerted on and drawn as the sample app is, which is an entry like any other.

The file is rewritten with ruamel.yaml's round trip (comments and order kept), under a lock,
atomically: two ``service.add`` at once both land.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mirante import files, loader
from mirante.errors import ServicesError
from mirante.settings import Settings

SERVICES_FILE = Path("config") / "services.yaml"
CONTRACTS = ("http", "llm")
# A Prometheus job and label value, and a compose-like name: ASCII, starts with a letter.
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
# A namespace, a Service and a port name in a cluster (a DNS label).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Its OpenTelemetry service.name, when that is not its name: quoted into TraceQL and LogQL.
OTEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
HOST_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "host.docker.internal"})  # noqa: S104
HOST_GATEWAY = "host.docker.internal"  # how Prometheus's container reaches this machine
TARGETS_DIR = "observed"  # under .mirante/targets/: one file_sd file per service
# The labels every observed target carries: the rules and dashboards select on them.
CONTRACT_LABEL, LLM_LABEL = "contract", "llm"


@dataclass(frozen=True)
class Placement:
    """Where an observed service runs in one cluster environment."""

    namespace: str
    service: str
    port: str


@dataclass(frozen=True)
class Observed:
    """One observed service."""

    name: str
    metrics: str  # its /metrics URL, as given
    contract: tuple[str, ...] = ("http",)
    environments: Mapping[str, Placement] = field(default_factory=dict)
    otel_name: str = ""  # its OTEL_SERVICE_NAME, when not its name

    @property
    def service_name(self) -> str:
        """The ``service.name`` its traces and logs carry (Tempo's and Loki's key)."""
        return self.otel_name or self.name

    @property
    def llm(self) -> bool:
        """Whether it declares the LLM families (alerts and dashboard)."""
        return "llm" in self.contract

    @property
    def on_host(self) -> bool:
        """Whether its metrics are on this machine (a process, not a container)."""
        return (urlsplit(self.metrics).hostname or "") in HOST_NAMES

    @property
    def host_port(self) -> tuple[str, int]:
        """The host and port of its metrics URL."""
        parts = urlsplit(self.metrics)
        return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def target(self) -> str:
        """``host:port`` as Prometheus, in its container, scrapes it."""
        host, port = self.host_port
        return f"{HOST_GATEWAY if self.on_host else host}:{port}"

    @property
    def path(self) -> str:
        """The metrics path."""
        return urlsplit(self.metrics).path or "/metrics"

    @property
    def base(self) -> str:
        """The service's base URL as this machine reaches it (its health endpoint's)."""
        parts = urlsplit(self.metrics)
        return f"{parts.scheme}://{parts.netloc}"

    def labels(self) -> dict[str, str]:
        """The labels its target carries (the job is its name)."""
        return {
            "job": self.name,
            "service": self.name,
            CONTRACT_LABEL: "http",
            LLM_LABEL: "true" if self.llm else "false",
        }


def path_of(settings: Settings) -> Path:
    """The services file of the checkout."""
    return settings.root / SERVICES_FILE


def check_name(name: str) -> str:
    """A service name usable as a Prometheus job and label value.

    Raises:
        ServicesError: naming what is accepted.
    """
    return _matching(
        NAME,
        name,
        "cannot name a service: lower-case ASCII letters, digits, '-' or '_', starting with "
        "a letter (it becomes its Prometheus job)",
    )


def _matching(pattern: re.Pattern[str], value: str, otherwise: str) -> str:
    """``value`` when it matches ``pattern``; else what is accepted, as one error."""
    if not pattern.match(value):
        raise ServicesError(f"{value[:40]!r} {otherwise}")
    return value


def check_url(url: str) -> str:
    """A metrics URL: http(s), a host, a port that is one, a path.

    Raises:
        ServicesError: saying what is wrong.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = urlsplit(""), None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServicesError(
            f"{url[:80]!r} is not the URL of a service's metrics, such as "
            "http://127.0.0.1:8080/metrics (a process here) or http://shop:8080/metrics (a "
            "container on the stack's network)"
        )
    if port == 0:
        raise ServicesError(f"{url[:80]!r}: the port must be from 1 to 65535")
    return url


def check_otel_name(name: str) -> str:
    """An OpenTelemetry service name mirante can look its traces and logs up by.

    Raises:
        ServicesError: naming what is accepted.
    """
    return _matching(
        OTEL_NAME,
        name,
        "cannot be looked up as a service.name: ASCII letters, digits, '.', '_', '/' or '-', "
        "up to 128 (its OTEL_SERVICE_NAME)",
    )


def _document(path: Path) -> Any:
    """The file as ruamel reads it (round trip), checked.

    Raises:
        ServicesError: missing, unreadable, not YAML, or of the wrong shape.
    """
    shown = SERVICES_FILE
    document = loader.load_round_trip(path, shown, ServicesError, "restore it from git")
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise ServicesError(f"{shown}: expected a `services:` mapping of services")
    for name, body in document["services"].items():
        _entry(str(name) if isinstance(name, str) else repr(name), body, name)
    return document


def _entry(shown: str, body: Any, name: Any) -> Observed:
    """One entry of the file, checked; every error names the file and the service.

    Raises:
        ServicesError: what is wrong with it.
    """
    where = f"{SERVICES_FILE}: service {shown}"
    try:
        return _checked_entry(where, body, name)
    except ServicesError as exc:
        if str(exc).startswith(str(SERVICES_FILE)):
            raise
        raise ServicesError(f"{where}: {exc}") from None


def _checked_entry(where: str, body: Any, name: Any) -> Observed:
    if not isinstance(name, str):
        raise ServicesError(f"{where}: a service's name is text, not {type(name).__name__}")
    check_name(name)
    if not isinstance(body, dict):
        raise ServicesError(f"{where} must be a mapping with metrics: and contract:")
    metrics = body.get("metrics")
    if not isinstance(metrics, str):
        raise ServicesError(f"{where}: metrics must be the URL of its /metrics")
    check_url(metrics)
    contract = body.get("contract", ["http"])
    if (
        not isinstance(contract, list)
        or "http" not in contract
        or not all(c in CONTRACTS for c in contract)
    ):
        raise ServicesError(f"{where}: contract must be [http] or [http, llm]")
    otel_name = body.get("otel_service_name", "")
    if not isinstance(otel_name, str):
        raise ServicesError(f"{where}: otel_service_name must be its OTEL_SERVICE_NAME")
    if otel_name:
        check_otel_name(otel_name)
    places: dict[str, Placement] = {}
    for env, place in (body.get("environments") or {}).items():
        keys = ("namespace", "service", "port")
        if (
            not isinstance(env, str)
            or not isinstance(place, dict)
            or set(place) != set(keys)
            or not all(isinstance(place[k], str) and _DNS_LABEL.match(place[k]) for k in keys)
        ):
            raise ServicesError(
                f"{where}: environments.{str(env)[:20]} must give namespace, service and port "
                "(the Service's port name), each a Kubernetes name"
            )
        places[env] = Placement(place["namespace"], place["service"], place["port"])
    return Observed(name, metrics, tuple(str(c) for c in contract), places, otel_name)


def load(settings: Settings) -> list[Observed]:
    """Every observed service, in the file's order.

    Raises:
        ServicesError: the file is missing, not YAML, or breaks its schema.
    """
    document = _document(path_of(settings))
    return [_entry(str(n), body, n) for n, body in document["services"].items()]


def get(settings: Settings, name: str) -> Observed:
    """One observed service.

    Raises:
        ServicesError: no such service, listing the known ones.
    """
    found = {s.name: s for s in load(settings)}
    if name not in found:
        raise ServicesError(
            f"no observed service {name[:40]!r}; the stack observes: {', '.join(found) or 'none'}"
        )
    return found[name]


def write_entry(
    settings: Settings,
    service: Observed,
    replace: bool = False,
    place: tuple[str, Placement] | None = None,
) -> None:
    """Add ``service`` to the file (or, with ``place``, declare where it runs in a cluster).

    Under the file's lock, from read to rename: two commands at once both land.

    Raises:
        ServicesError: a duplicate name (unless ``replace``), or an unknown one with
            ``place``.
    """
    path = path_of(settings)
    with files.locked(settings.state_dir / "services.lock", settings.lock_timeout, "service.add"):
        files.remove_stale_temps(path)
        document = _document(path)
        services = document["services"]
        if place is not None:
            if service.name not in services:
                raise ServicesError(f"no observed service {service.name!r}: add it first")
            env, where = place
            environments = services[service.name].setdefault("environments", {})
            environments[env] = {
                "namespace": where.namespace,
                "service": where.service,
                "port": where.port,
            }
        else:
            if service.name in services and not replace:
                raise ServicesError(
                    f"{service.name} is observed already ({services[service.name]['metrics']}); "
                    f"`invoke service.remove {service.name}` first to change it"
                )
            services[service.name] = {
                "metrics": service.metrics,
                "contract": list(service.contract),
            }
            if service.otel_name and service.otel_name != service.name:
                services[service.name]["otel_service_name"] = service.otel_name
        files.atomic_write(path, loader.dump_round_trip(document), mode=path.stat().st_mode & 0o777)


def remove_entry(settings: Settings, name: str) -> Observed:
    """Take ``name`` out of the file; what it was.

    Raises:
        ServicesError: no such service.
    """
    path = path_of(settings)
    with files.locked(settings.state_dir / "services.lock", settings.lock_timeout, "service.add"):
        document = _document(path)
        services = document["services"]
        if name not in services:
            known = ", ".join(str(n) for n in services) or "none"
            raise ServicesError(f"no observed service {name[:40]!r}; the stack observes: {known}")
        gone = _entry(name, services[name], name)
        del services[name]
        files.atomic_write(path, loader.dump_round_trip(document), mode=path.stat().st_mode & 0o777)
    return gone


def write_targets(settings: Settings, running: Iterable[str]) -> list[str]:
    """One file_sd file per observed service; what Prometheus now scrapes, by job.

    A service on this machine is always a target (its process is the user's); one in a
    container of the stack (the sample app) only while that container runs. A file of a
    service no longer observed is removed: Prometheus stops scraping it.
    """
    from mirante.services import BY_NAME

    running = set(running)
    directory = settings.state_dir / "targets" / TARGETS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    scraped = []
    wanted = set()
    for service in load(settings):
        stack_service = service.host_port[0] in BY_NAME
        live = service.on_host or not stack_service or service.host_port[0] in running
        groups = []
        if live:
            labels = {**service.labels(), "env": "local", "__metrics_path__": service.path}
            if urlsplit(service.metrics).scheme == "https":
                labels["__scheme__"] = "https"
            groups = [{"targets": [service.target], "labels": labels}]
            scraped.append(service.name)
        text = json.dumps(groups, indent=2) + "\n"
        path = directory / f"{service.name}.json"
        wanted.add(path.name)
        if not path.is_file() or path.read_text() != text:
            files.atomic_write(path, text, 0o644)
    for stale in directory.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink(missing_ok=True)
    return scraped


def place(
    settings: Settings, name: str, env: str, namespace: str, service: str, port: str
) -> Placement:
    """Declare where observed service ``name`` runs in cluster environment ``env``.

    Raises:
        ServicesError: an unknown service, or a name that is not a Kubernetes one.
        UnknownEnvironment: ``env`` is not in config/environments.yaml.
    """
    settings.environments.get(env)
    for what, value in (("namespace", namespace), ("service", service), ("port name", port)):
        if not _DNS_LABEL.match(value):
            raise ServicesError(
                f"{what} {value[:40]!r} is not a Kubernetes name (lower-case letters, digits, '-')"
            )
    where = Placement(namespace, service, port)
    write_entry(settings, Observed(check_name(name), ""), place=(env, where))
    return where
