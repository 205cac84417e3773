"""The observability contract a service must honour, checked against a running one.

Health endpoint with the expected body, trace ids returned and W3C ``traceparent``
continued, ``/metrics`` in the Prometheus text format with the HTTP families (and the LLM
families when the service declares them), and its OpenTelemetry exporters healthy. Each
check says what was found and, when it fails, how to fix it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from mirante import waits
from mirante.errors import ServiceUnreachable

HTTP_FAMILIES = {"http_requests": "counter", "http_request_duration_seconds": "histogram"}
LLM_FAMILIES = {
    "llm_request_latency_seconds": "histogram",
    "llm_errors": "counter",
    "llm_tokens": "counter",
    "llm_provider_up": "gauge",
    "circuit_breaker_state": "gauge",
}
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
OTLP_CHECK = "OTLP exporters"
# Batch processors export every 5 s by default, and a failed export is retried for a few
# seconds more before it is reported: the first outcome is in well within this.
EXPORT_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class ContractCheck:
    """One check of the observability contract and its outcome."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def validate(
    url: str,
    llm: bool | None = None,
    timeout: float = 5.0,
    export_wait: float = EXPORT_WAIT_SECONDS,
) -> list[ContractCheck]:
    """Every check of the contract against the service at ``url``.

    Args:
        url: the service's base URL (http or https).
        llm: require the LLM families (True), skip them (False), or require them when the
            service exposes any ``llm_`` family (None).
        timeout: seconds for each request.
        export_wait: seconds to wait for a first export outcome ("nothing exported yet").

    Raises:
        ServiceUnreachable: a URL that is not http(s), or nothing answering there.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (checks the port, raising ValueError when it is not one)
    except ValueError:  # "http://[::1", "http://host:99999"
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServiceUnreachable(f"{url!r} is not an http(s) URL, e.g. http://127.0.0.1:8000")
    base = url.rstrip("/")
    session = requests.Session()
    try:
        health = session.get(f"{base}/healthcheck", timeout=timeout)
    except requests.RequestException as exc:
        raise ServiceUnreachable(f"nothing answers at {base}: {type(exc).__name__}") from None
    checks = [_health(health), _trace_id(health), _propagation(session, base, timeout)]
    metrics, families = _metrics(session, base, timeout)
    checks.append(metrics)
    checks += _families(families, HTTP_FAMILIES, "HTTP")
    if llm or (llm is None and any(name.startswith("llm_") for name in families)):
        checks += _families(families, LLM_FAMILIES, "LLM")
    checks.append(_otel(session, base, timeout, export_wait))
    return checks


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _health(response: requests.Response) -> ContractCheck:
    fix = 'serve GET /healthcheck answering 200 with the JSON body {"status": "ok"}'
    body = _json(response)
    if response.status_code == 200 and isinstance(body, dict) and body.get("status") == "ok":
        return ContractCheck("health endpoint", True, 'GET /healthcheck: 200 {"status": "ok"}')
    shown = response.text.strip()[:60] or "empty body"
    return ContractCheck(
        "health endpoint", False, f"GET /healthcheck: {response.status_code} {shown}", fix
    )


def _trace_id(response: requests.Response) -> ContractCheck:
    value = response.headers.get("x-trace-id", "")
    if _TRACE_ID.match(value):
        return ContractCheck("x-trace-id header", True, f"x-trace-id: {value}")
    if not value:
        # A service may keep no trace of its health probe (the sample app drops them): then
        # it names none, and the traced request of the propagation check must carry one.
        return ContractCheck(
            "x-trace-id header",
            True,
            "none on /healthcheck (an untraced probe); checked on a traced request below",
        )
    return ContractCheck(
        "x-trace-id header",
        False,
        f"x-trace-id: {value}",
        "return each kept trace's id (32 hex digits) in an x-trace-id response header",
    )


def _propagation(session: requests.Session, base: str, timeout: float) -> ContractCheck:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    sent = {"traceparent": f"00-{trace_id}-{span_id}-01"}
    got = session.get(f"{base}/healthcheck", headers=sent, timeout=timeout).headers.get(
        "x-trace-id", ""
    )
    if got == trace_id:
        return ContractCheck(
            "traceparent propagation", True, "an incoming traceparent's trace id is kept"
        )
    return ContractCheck(
        "traceparent propagation",
        False,
        f"sent trace id {trace_id}, got {got or 'none'} back",
        "continue incoming W3C traceparent headers (OpenTelemetry's default propagator; "
        "FastAPI's instrumentation does it) and echo that trace id in x-trace-id",
    )


def _metrics(
    session: requests.Session, base: str, timeout: float
) -> tuple[ContractCheck, dict[str, str]]:
    from prometheus_client.openmetrics import parser as openmetrics
    from prometheus_client.parser import text_string_to_metric_families

    fix = (
        "expose GET /metrics in the Prometheus text format or OpenMetrics (prometheus_client's "
        "generate_latest, prom-client's register.metrics())"
    )
    response = session.get(f"{base}/metrics", timeout=timeout)
    if response.status_code != 200:
        return ContractCheck(
            "/metrics endpoint", False, f"GET /metrics: {response.status_code}", fix
        ), {}
    om = "application/openmetrics-text" in response.headers.get("content-type", "")
    parse = openmetrics.text_string_to_metric_families if om else text_string_to_metric_families
    try:
        families = {f.name: f.type for f in parse(response.text)}
    except ValueError as exc:
        return ContractCheck(
            "/metrics endpoint", False, f"not the Prometheus format: {exc}", fix
        ), {}
    if not families:
        return ContractCheck(
            "/metrics endpoint", False, "GET /metrics: 200 but no metric family", fix
        ), {}
    return ContractCheck("/metrics endpoint", True, f"{len(families)} metric families"), families


def _families(found: dict[str, str], wanted: dict[str, str], what: str) -> list[ContractCheck]:
    checks = []
    for name, kind in wanted.items():
        shown = f"{name}_total" if kind == "counter" else name
        if found.get(name) == kind:
            checks.append(ContractCheck(f"{what} metric {shown}", True, kind))
        else:
            has = f"a {found[name]}" if name in found else "absent"
            checks.append(
                ContractCheck(
                    f"{what} metric {shown}",
                    False,
                    f"{has}, expected a {kind}",
                    f"export {shown} as a {kind} (its labels: docs/instrumenting.md)",
                )
            )
    return checks


NOTHING_YET = "nothing exported yet"


def _otel(
    session: requests.Session, base: str, timeout: float, wait: float = EXPORT_WAIT_SECONDS
) -> ContractCheck:
    """``/health/otel``: every signal's last export worked.

    A signal with nothing exported yet is asked again, for ``wait`` seconds: the checks'
    own requests made spans, and an exporter that never sends them (wired to no
    processor, say) must fail here, not pass as "nothing exported yet".
    """
    fix = (
        "expose GET /health/otel reporting, per signal, whether the OTLP export works, and "
        "check OTEL_EXPORTER_OTLP_ENDPOINT points at a running collector"
    )

    def signals_now() -> tuple[int, dict[str, dict[str, Any]] | None]:
        response = session.get(f"{base}/health/otel", timeout=timeout)
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, dict):
            return response.status_code, None
        reported = body.get("signals", body)
        found = {k: v for k, v in reported.items() if isinstance(v, dict) and "status" in v}
        return 200, found or ({"exporter": body} if "status" in body else {})

    def pending(answer: tuple[int, dict[str, dict[str, Any]] | None]) -> bool:
        return any(v.get("reason") == NOTHING_YET for v in (answer[1] or {}).values())

    status, signals = waits.until(signals_now, wait, 0.5, done=lambda a: not pending(a))
    if signals is None:
        return ContractCheck(OTLP_CHECK, False, f"GET /health/otel: {status}", fix)
    quiet = sorted(k for k, v in signals.items() if v.get("reason") == NOTHING_YET)
    if quiet:
        return ContractCheck(
            OTLP_CHECK,
            False,
            f"{', '.join(quiet)}: no export finished within {wait:.0f} s of the checks' requests",
            "wire each OTLP exporter to a batch processor (exporting every few seconds), and "
            "check OTEL_EXPORTER_OTLP_ENDPOINT answers",
        )
    bad = {k: v for k, v in signals.items() if v.get("status") != "ok"}
    if not signals or bad:
        detail = "; ".join(f"{k}: {v.get('reason', v.get('status'))}" for k, v in bad.items())
        return ContractCheck(OTLP_CHECK, False, detail or "no signal reported", fix)
    return ContractCheck(OTLP_CHECK, True, ", ".join(f"{k} ok" for k in signals))
