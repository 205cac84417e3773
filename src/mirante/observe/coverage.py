"""Is a service really observed? Signal by signal, with the fix for each missing one.

For an observed service (``config/services.yaml``): is it reachable, from this machine and
from Prometheus's container; does Prometheus scrape it, and how many series; do its traces
reach Tempo and its logs reach Loki (by ``service.name``, over the last 5 minutes); does an
exemplar on its latency histogram name a trace that Tempo has. A signal whose component
does not run here is ``skipped`` with the reason: never counted as observed.

``service.add`` runs :func:`admission` first: the observability contract
(``validate.service``), and, for a process on this machine, whether a container can reach
it at all (one bound to 127.0.0.1 cannot: that is said, never shown as a silent "down").
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mirante import stack
from mirante.errors import MiranteError, ServiceUnreachable
from mirante.observe import contract
from mirante.observe import registry as observed
from mirante.observe.registry import Observed
from mirante.services import BY_NAME
from mirante.settings import Settings

OK, MISSING, SKIPPED = "ok", "missing", "skipped"
WINDOW = 300.0  # seconds: "the last 5 minutes"
TIMEOUT = 5.0  # seconds per request to Prometheus, Tempo or Loki


@dataclass
class Signal:
    """One signal of a service: observed, missing (with the fix) or skipped (and why)."""

    name: str
    state: str
    detail: str
    fix: str = ""


@dataclass
class Coverage:
    """Every signal of one service."""

    service: Observed
    signals: list[Signal] = field(default_factory=list)

    @property
    def missing(self) -> list[Signal]:
        """The signals that are not there."""
        return [s for s in self.signals if s.state == MISSING]

    def get(self, name: str) -> Signal | None:
        """The signal called ``name``."""
        return next((s for s in self.signals if s.name == name), None)


def otlp_hint(settings: Settings, service: Observed) -> str:
    """How a service on this machine sends OTLP to the stack's collector."""
    port = settings.ports["otlp-http"]
    return (
        f"set OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{port} and "
        f"OTEL_SERVICE_NAME={service.service_name} in its environment"
    )


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts a TCP connection at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def container_ip(settings: Settings, name: str) -> str:
    """The address of a container on the stack's network, from this machine ("": none)."""
    from mirante.tools.docker import network_address

    return network_address(f"{settings.project_name}_default", name)


def local_base(settings: Settings, service: Observed) -> str:
    """The service's base URL as this machine reaches it.

    A process here: its own URL. A container of the stack: the port it publishes. Another
    container on the stack's network: its address there.

    Raises:
        ServiceUnreachable: a container that does not run on the stack's network.
    """
    host, port = service.host_port
    if service.on_host:
        return service.base
    if host in BY_NAME and BY_NAME[host].port in settings.ports:
        return BY_NAME[host].endpoint(settings, "")
    address = container_ip(settings, host) or container_ip(
        settings, f"{settings.project_name}-{host}-1"
    )
    if not address:
        raise ServiceUnreachable(
            f"no container {host!r} runs on the stack's network ({settings.project_name}_default): "
            f"start it with `--network {settings.project_name}_default --name {host}`"
        )
    scheme = urlsplit(service.metrics).scheme
    return f"{scheme}://{address}:{port}"


def reach_from_containers(service: Observed) -> Signal:
    """For a process on this machine: can Prometheus, in a container, reach it?"""
    from mirante.tools.docker import bridge_gateway

    if not service.on_host:
        return Signal(
            "reachable from Prometheus",
            OK,
            f"a container on the stack's network ({service.target})",
        )
    _, port = service.host_port
    gateway = bridge_gateway()
    if not gateway:
        return Signal(
            "reachable from Prometheus", SKIPPED, "Docker's bridge network is not known here"
        )
    if answers(gateway, port):
        return Signal(
            "reachable from Prometheus",
            OK,
            f"it answers at {gateway}:{port} (host.docker.internal)",
        )
    return Signal(
        "reachable from Prometheus",
        MISSING,
        f"it answers on 127.0.0.1:{port} but not at {gateway}:{port}, where Prometheus's "
        "container reaches this machine (host.docker.internal): it listens on 127.0.0.1 only",
        f"make it listen on 0.0.0.0 (or {gateway}), e.g. `--host 0.0.0.0` or "
        f"HOST=0.0.0.0; 127.0.0.1 is unreachable from any container",
    )


@dataclass
class Admission:
    """What ``service.add`` found before writing anything."""

    checks: list[contract.ContractCheck]
    reach: Signal

    @property
    def failed(self) -> list[str]:
        """Each failed check, with its fix, one line each."""
        lines = [
            f"{c.name}: {c.detail}" + (f" ({c.fix})" if c.fix else "")
            for c in self.checks
            if not c.ok
        ]
        if self.reach.state == MISSING:
            lines.append(f"{self.reach.name}: {self.reach.detail} ({self.reach.fix})")
        return lines


def admission(settings: Settings, service: Observed) -> Admission:
    """The contract checks and the reachability of a service about to be observed.

    Raises:
        ServiceUnreachable: nothing answers at its URL.
    """
    base = local_base(settings, service)
    checks = contract.validate(base, llm=service.llm)
    return Admission(checks, reach_from_containers(service))


def _prometheus(settings: Settings, path: str, **params: str) -> Any:
    import requests

    url = BY_NAME["prometheus"].endpoint(settings, path)
    answer = requests.get(url, params=params, timeout=TIMEOUT)
    answer.raise_for_status()
    return answer.json()["data"]


def _running(settings: Settings) -> set[str]:
    from mirante.tools.docker import service_states

    try:
        states = service_states(settings.project_name)
    except MiranteError:
        return set()
    return {name for name, state in states.items() if state in stack.UP_STATES}


def scrape(settings: Settings, service: Observed) -> list[Signal]:
    """Whether Prometheus scrapes it (state, last scrape, error) and how many series."""
    targets = _prometheus(settings, "/api/v1/targets", state="active")["activeTargets"]
    mine = [t for t in targets if t["labels"].get("job") == service.name]
    if not mine:
        return [
            Signal(
                "scraped",
                MISSING,
                "Prometheus has no target for it yet",
                "wait a few seconds (Prometheus reads the targets file every 5 s), or run "
                "`invoke stack.up`",
            )
        ]
    target = mine[0]
    last = target.get("lastScrape", "")[:19].replace("T", " ")
    if target.get("health") != "up":
        error = target.get("lastError") or target.get("health")
        return [
            Signal(
                "scraped",
                MISSING,
                f"{target.get('scrapeUrl')}: {error} (last scrape {last})",
                "make its /metrics answer where Prometheus scrapes it "
                f"({service.target}{service.path})",
            )
        ]
    count = _prometheus(settings, "/api/v1/query", query=f'count({{job="{service.name}"}})')
    series = int(float(count["result"][0]["value"][1])) if count["result"] else 0
    return [
        Signal("scraped", OK, f"up, last scrape {last} UTC, {series} series"),
    ]


def traces(settings: Settings, service: Observed, running: set[str]) -> Signal:
    """Traces in Tempo over the last 5 minutes, by ``service.name`` (TraceQL: exact)."""
    import requests

    if "tempo" not in running:
        return Signal("traces in Tempo", SKIPPED, "tempo is not running here")
    now = int(time.time())
    url = BY_NAME["tempo"].endpoint(settings, "/api/search")
    params = {"q": f'{{resource.service.name="{service.service_name}"}}',
              "start": str(now - int(WINDOW)), "end": str(now), "limit": "100"}  # fmt: skip
    found = requests.get(url, params=params, timeout=TIMEOUT).json().get("traces") or []
    shown = f"{len(found)}{'+' if len(found) == 100 else ''} traces"
    return _received(settings, service, "traces in Tempo", len(found), shown, "service.name")


def logs(settings: Settings, service: Observed, running: set[str]) -> Signal:
    """Log lines in Loki over the last 5 minutes, by ``service.name``."""
    import requests

    if "loki" not in running:
        return Signal("logs in Loki", SKIPPED, "loki is not running here")
    url = BY_NAME["loki"].endpoint(settings, "/loki/api/v1/query")
    query = f'sum(count_over_time({{service_name="{service.service_name}"}}[5m]))'
    result = requests.get(url, params={"query": query}, timeout=TIMEOUT).json()["data"]["result"]
    lines = int(float(result[0]["value"][1])) if result else 0
    return _received(settings, service, "logs in Loki", lines, f"{lines} lines", "service_name")


def _received(
    settings: Settings, service: Observed, signal: str, count: int, shown: str, key: str
) -> Signal:
    """``signal`` (traces in Tempo, logs in Loki) found ``count`` times in the window."""
    if count:
        return Signal(signal, OK, f"{shown} in the last 5 minutes")
    kind = signal.split()[0]
    return Signal(
        signal,
        MISSING,
        f"no {kind} with {key}={service.service_name} in the last 5 minutes",
        f"no OTLP {kind} received: {otlp_hint(settings, service)}",
    )


def exemplars(settings: Settings, service: Observed, running: set[str]) -> Signal:
    """Whether an exemplar on its latency histogram names a trace that Tempo has."""
    import requests

    now = time.time()
    found = _prometheus(
        settings,
        "/api/v1/query_exemplars",
        query=f'http_request_duration_seconds_bucket{{job="{service.name}"}}',
        start=str(now - WINDOW),
        end=str(now),
    )
    ids = [
        e["labels"].get("trace_id") or e["labels"].get("traceID", "")
        for series in found
        for e in series.get("exemplars") or []
    ]
    ids = [i for i in ids if i]
    if not ids:
        return Signal(
            "exemplars",
            MISSING,
            "no exemplar with a trace id on http_request_duration_seconds in the last 5 minutes",
            "attach the trace id as an exemplar when observing the latency histogram "
            "(docs/instrumenting.md), and serve OpenMetrics to Prometheus",
        )
    if "tempo" not in running:
        return Signal(
            "exemplars", SKIPPED, f"{len(ids)} exemplars; tempo is not running to resolve them"
        )
    latest = ids[-1]
    answer = requests.get(
        BY_NAME["tempo"].endpoint(settings, f"/api/traces/{latest}"), timeout=TIMEOUT
    )
    if answer.status_code == 200:
        return Signal("exemplars", OK, f"{len(ids)} exemplars; trace {latest} is in Tempo")
    return Signal(
        "exemplars",
        MISSING,
        f"the latest exemplar names trace {latest}, which Tempo does not have "
        f"({answer.status_code})",
        "attach exemplars only for sampled traces, and send those traces over OTLP",
    )


def check(settings: Settings, service: Observed) -> Coverage:
    """Every signal of ``service``: each is observed, missing (with its fix) or skipped."""
    import requests

    found = Coverage(service)
    try:
        base = local_base(settings, service)
        host, port = urlsplit(base).hostname or "", urlsplit(base).port or 80
        reachable = answers(host, port)
    except ServiceUnreachable as exc:
        base, reachable = "", False
        found.signals.append(Signal("reachable here", MISSING, str(exc), "start the service"))
    if base:
        found.signals.append(
            Signal("reachable here", OK, f"it answers at {base}")
            if reachable
            else Signal(
                "reachable here", MISSING, f"nothing answers at {base}", "start the service"
            )
        )
    found.signals.append(reach_from_containers(service))
    running = _running(settings)
    if "prometheus" not in running:
        found.signals.append(
            Signal("scraped", SKIPPED, "prometheus is not running: `invoke stack.up`")
        )
        return found
    probes: list[Callable[[], Signal | list[Signal]]] = [
        lambda: scrape(settings, service),
        lambda: traces(settings, service, running),
        lambda: logs(settings, service, running),
        lambda: exemplars(settings, service, running),
    ]
    names = ["scraped", "traces in Tempo", "logs in Loki", "exemplars"]
    with ThreadPoolExecutor(len(probes)) as pool:
        futures = [pool.submit(p) for p in probes]
        for name, future in zip(names, futures, strict=True):
            try:
                result = future.result()
            except (requests.RequestException, KeyError, ValueError, TypeError) as exc:
                result = Signal(
                    name, MISSING, f"could not ask: {type(exc).__name__}: {str(exc)[:80]}"
                )
            found.signals += result if isinstance(result, list) else [result]
    return found


def check_all(settings: Settings) -> list[Coverage]:
    """:func:`check` of every observed service (``service.list``)."""
    services = observed.load(settings)
    with ThreadPoolExecutor(max(1, min(8, len(services)))) as pool:
        return list(pool.map(lambda s: check(settings, s), services))


@dataclass
class Added:
    """What ``service.add`` did: the entry, its admission, what will not work (--force)."""

    service: Observed
    admission: Admission
    scraped: bool  # Prometheus has a target for it now
    warnings: list[str] = field(default_factory=list)


def add_service(
    settings: Settings,
    name: str,
    metrics: str,
    llm: bool = False,
    force: bool = False,
    otel_name: str = "",
) -> Added:
    """Check a service against the contract, then observe it: entry, then scrape target.

    A running stack starts scraping it without a restart (Prometheus re-reads the target
    files). With ``force``, a service that fails is added anyway, and what will not work
    is said.

    Raises:
        ServicesError: a bad name or URL, a duplicate, or failed checks (without ``force``).
        ServiceUnreachable: nothing answers at its URL (without ``force``).
    """
    from mirante.errors import ServicesError

    observed.check_name(name)
    observed.check_url(metrics)
    if otel_name:
        observed.check_otel_name(otel_name)
    contract_ = ("http", "llm") if llm else ("http",)
    service = Observed(name, metrics, contract_, otel_name=otel_name)
    if any(s.name == name for s in observed.load(settings)):
        raise ServicesError(f"{name} is observed already; `invoke service.remove {name}` first")
    try:
        found = admission(settings, service)
    except ServiceUnreachable as exc:
        if not force:
            raise
        found = Admission([], Signal("reachable here", MISSING, str(exc)))
        found.checks = [contract.ContractCheck("reachable", False, str(exc), "start the service")]
    failed = found.failed
    if failed and not force:
        raise ServicesError(
            f"{name} fails {len(failed)} check(s), so it was not added (--force adds it "
            "anyway): " + "; ".join(failed)
        )
    observed.write_entry(settings, service)
    scraped = name in observed.write_targets(settings, _running(settings))
    return Added(service, found, scraped, [f"will not work: {line}" for line in failed])


def remove_service(settings: Settings, name: str) -> Observed:
    """Stop observing ``name``: the entry goes, then its scrape target.

    Raises:
        ServicesError: no such service.
    """
    gone = observed.remove_entry(settings, name)
    observed.write_targets(settings, _running(settings))
    return gone
