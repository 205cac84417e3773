"""The sample app: health, Prometheus metrics and traces for every request.

Contract (what `invoke validate.service` and the gates check):
- ``GET /healthcheck`` answers ``{"status": "ok"}`` with an ``x-trace-id`` header;
- ``GET /metrics`` exposes ``http_requests_total{method,route,status}`` and
  ``http_request_duration_seconds{method,route}`` (with trace-id exemplars in OpenMetrics);
- every request runs in a server span, continuing an incoming ``traceparent``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, format_trace_id
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from mirante_app import config as app_config
from mirante_app.telemetry import HTTP_DURATION, HTTP_REQUESTS, setup_tracing

try:
    CONFIG = app_config.load()
except app_config.ConfigError as exc:
    print(f"mirante-app: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

TRACER = setup_tracing(CONFIG)
app = FastAPI(title="mirante sample app")


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
    """Wrap every request in a span and record its count and duration."""
    method = request.method
    started = time.perf_counter()
    parent = propagate.extract(request.headers)
    name = f"{method} {request.url.path}"
    with TRACER.start_as_current_span(name, context=parent, kind=SpanKind.SERVER) as span:
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
        finally:
            route = _route_of(request)
            span.update_name(f"{method} {route}")
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            elapsed = time.perf_counter() - started
            trace_id = format_trace_id(span.get_span_context().trace_id)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(elapsed, exemplar={"trace_id": trace_id})
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
