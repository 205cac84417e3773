"""The sample app: health, Prometheus metrics and traces for every request.

Contract (what `invoke validate.service` and the gates check):
- ``GET /healthcheck`` answers ``{"status": "ok"}`` with an ``x-trace-id`` header;
- ``GET /metrics`` exposes ``http_requests_total{method,route,status}`` and
  ``http_request_duration_seconds{method,route}`` (with trace-id exemplars in OpenMetrics);
- every request runs in a server span (FastAPI's own OpenTelemetry support), continuing an
  incoming ``traceparent``; probe paths are traced but not exported.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from opentelemetry import trace
from opentelemetry.trace import format_trace_id
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from mirante_app import config as app_config
from mirante_app.telemetry import HTTP_DURATION, HTTP_REQUESTS, setup_tracing

try:
    CONFIG = app_config.load()
except app_config.ConfigError as exc:
    print(f"mirante-app: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

app = FastAPI(
    title="mirante sample app",
    telemetry={
        "tracer_provider": setup_tracing(CONFIG),
        "tracing": True,
        "metrics": False,  # Prometheus metrics come from prometheus_client, on /metrics
        "logs": False,
        "auto_configure": False,
    },
)


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths collapse into one label value: a scan of random URLs must not
    # create a time series per URL.
    return path if isinstance(path, str) else "unmatched"


@app.middleware("http")
async def observe(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Count and time every request; return its trace id in ``x-trace-id``."""
    started = time.perf_counter()
    status = 500
    trace_id = format_trace_id(trace.get_current_span().get_span_context().trace_id)
    try:
        response = await call_next(request)
        status = response.status_code
    finally:
        route = _route_of(request)
        HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        HTTP_DURATION.labels(request.method, route).observe(
            time.perf_counter() - started, exemplar={"trace_id": trace_id}
        )
    response.headers["x-trace-id"] = trace_id
    return response


@app.get("/healthcheck")
async def healthcheck() -> dict[str, str]:
    """Liveness and readiness of the app itself."""
    return {"status": "ok"}


@app.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus exposition; OpenMetrics (with exemplars) when the scraper asks for it."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(content=encoder(REGISTRY), media_type=content_type)


@app.get("/")
async def index() -> dict[str, object]:
    """What this service is and where its endpoints are."""
    span = trace.get_current_span()
    return {
        "service": CONFIG.service_name,
        "endpoints": ["/healthcheck", "/metrics"],
        "trace_id": format_trace_id(span.get_span_context().trace_id),
    }
