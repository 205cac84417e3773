"""OTLP/HTTP JSON payloads and their delivery: one span, one log record.

The gates and tests send these to the collector, or, where no collector runs, straight to
the OTLP endpoints Loki (``/otlp/v1/logs`` on its HTTP port) and Tempo (its own OTLP/HTTP
receiver) both serve.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from mirante.services import reachable_host
from mirante.settings import Settings


@dataclass(frozen=True)
class Route:
    """Where OTLP traces and logs go from this machine, and that route in words."""

    traces: str
    logs: str
    via: str


def app_exports_arrive(running: Collection[str]) -> bool:
    """Whether the app's OTLP traces and logs land somewhere.

    Through the collector or, where none runs, straight in Tempo and Loki (``stack.up``
    points the app at them).
    """
    return "otel-collector" in running or {"tempo", "loki"} <= set(running)


def route(settings: Settings, running: Collection[str]) -> Route:
    """The collector when it runs; otherwise straight to Tempo's and Loki's own endpoints."""
    host = reachable_host(settings)

    def url(port: str, path: str) -> str:
        return f"http://{host}:{settings.ports[port]}{path}"

    if "otel-collector" in running:
        return Route(
            url("otlp-http", "/v1/traces"), url("otlp-http", "/v1/logs"), "through the collector"
        )
    return Route(
        url("tempo-otlp", "/v1/traces"),
        url("loki", "/otlp/v1/logs"),
        "straight to Tempo's and Loki's own OTLP endpoints (no collector runs here)",
    )


def new_trace_id() -> str:
    """A random W3C trace id (32 hex digits)."""
    return secrets.token_hex(16)


def _resource(service: str) -> dict[str, Any]:
    return {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}


def span(trace_id: str, service: str, name: str, kind: int = 2) -> dict[str, Any]:
    """A finished span of 1 ms (``kind`` 2 is SERVER), as an OTLP ``/v1/traces`` body."""
    end = time.time_ns()
    return {
        "resourceSpans": [
            {
                "resource": _resource(service),
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": secrets.token_hex(8),
                                "name": name,
                                "kind": kind,
                                "startTimeUnixNano": str(end - 1_000_000),
                                "endTimeUnixNano": str(end),
                            }
                        ]
                    }
                ],
            }
        ]
    }


def log(trace_id: str, service: str, body: str) -> dict[str, Any]:
    """One log record carrying ``trace_id``, as an OTLP ``/v1/logs`` body."""
    return {
        "resourceLogs": [
            {
                "resource": _resource(service),
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(time.time_ns()),
                                "body": {"stringValue": body},
                                "traceId": trace_id,
                            }
                        ]
                    }
                ],
            }
        ]
    }


def send(url: str, payload: dict[str, Any], timeout: float = 10.0) -> None:
    """POST one OTLP/HTTP JSON body.

    Raises:
        requests.HTTPError: the receiver refused it.
    """
    import requests

    requests.post(url, json=payload, timeout=timeout).raise_for_status()


@dataclass(frozen=True)
class RoundTrip:
    """A span and a log line sent over OTLP, and whether Tempo and Loki gave them back."""

    trace_id: str
    via: str
    trace_found: bool
    log_found: bool
    seconds: float

    @property
    def problems(self) -> list[str]:
        """What did not come back, one line each."""
        return ([] if self.trace_found else [f"Tempo did not return trace {self.trace_id}"]) + (
            [] if self.log_found else [f"Loki did not return the log line of {self.trace_id}"]
        )


def round_trip(
    route: Route, tempo: str, loki: str, service: str, seconds: float = 60.0
) -> RoundTrip:
    """Send one span and one log line by ``route``; read them back from Tempo and Loki.

    Args:
        route: where the span and the log line are sent.
        tempo: Tempo's query address (``http://host:3200``).
        loki: Loki's address (``http://host:3100``, or its gateway).
        service: the ``service.name`` both carry.
        seconds: how long each is waited for.
    """
    import requests

    from mirante import waits

    started = time.monotonic()
    trace_id = new_trace_id()
    send(route.traces, span(trace_id, service, "smoke"))
    send(route.logs, log(trace_id, service, f"smoke {trace_id}"))

    def trace() -> bool:
        try:
            return requests.get(f"{tempo}/api/traces/{trace_id}", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    def logged() -> bool:
        query = f'{{service_name="{service}"}} |= "{trace_id}"'
        try:
            answer = requests.get(
                f"{loki}/loki/api/v1/query_range", params={"query": query}, timeout=10
            )
            return answer.ok and bool(answer.json()["data"]["result"])
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return False

    found_trace = bool(waits.until(trace, seconds, 1))
    found_log = bool(waits.until(logged, seconds, 1))
    return RoundTrip(trace_id, route.via, found_trace, found_log, time.monotonic() - started)
