"""The sample app: an instrumented service with a simulated LLM behind a circuit breaker.

Contract (what `invoke validate.service` and the gates check):
- ``GET /healthcheck`` answers ``{"status": "ok"}`` with an ``x-trace-id`` header;
- ``GET /metrics`` exposes ``http_requests_total{method,route,status}``,
  ``http_request_duration_seconds`` and the LLM families (``llm_request_latency_seconds``,
  ``llm_errors_total``, ``llm_tokens_total``, ``circuit_breaker_state``,
  ``llm_provider_up``), histograms with trace-id exemplars in OpenMetrics;
- every request runs in a server span (FastAPI's own OpenTelemetry support), continuing an
  incoming ``traceparent``; the LLM call is a child span; logs are JSON with trace ids;
- ``GET /health/otel`` says, per signal, whether export works.
It also receives Alertmanager's webhook (``POST /alerts/webhook``) and logs each alert.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from opentelemetry import trace
from opentelemetry.trace import format_trace_id
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from pydantic import BaseModel, Field

from mirante_app import catalog
from mirante_app import config as app_config
from mirante_app.features import Flags
from mirante_app.llm import (
    MODES,
    STATE_NAMES,
    CircuitBreaker,
    CircuitOpen,
    LLMClient,
    ProviderBehaviour,
    ProviderError,
    SimulatedProvider,
)
from mirante_app.telemetry import HTTP_DURATION, HTTP_REQUESTS, QUIET_PATHS, Telemetry
from mirante_app.traffic import TrafficGenerator

try:
    CONFIG = app_config.load()
except app_config.ConfigError as exc:
    print(f"mirante-app: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

TELEMETRY = Telemetry(CONFIG)
LOG = logging.getLogger("mirante_app")
ALERT_LOG = logging.getLogger("mirante_app.alerts")
PROVIDERS = {"alpha": "alpha-1", "beta": "beta-1"}
CLIENTS = {
    name: LLMClient(
        SimulatedProvider(
            name,
            model,
            ProviderBehaviour(latency=CONFIG.llm_latency, error_rate=CONFIG.llm_error_rate),
        ),
        CircuitBreaker(name, CONFIG.cb_threshold, CONFIG.cb_timeout),
    )
    for name, model in PROVIDERS.items()
}
RECEIVED_ALERTS: deque[dict[str, Any]] = deque(maxlen=200)
FLAGS = Flags(CONFIG.features_file, CONFIG.env)
TRAFFIC = TrafficGenerator(CONFIG.traffic_rps, list(PROVIDERS), flags=FLAGS)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """Start telemetry and the traffic generator with the app; stop and flush them at exit."""
    TRAFFIC.start()
    yield
    TRAFFIC.stop()
    TELEMETRY.tracer_provider.shutdown()
    TELEMETRY.logger_provider.shutdown()


app = FastAPI(
    title="mirante sample app",
    lifespan=lifespan,
    telemetry={
        "tracer_provider": TELEMETRY.tracer_provider,
        "tracing": True,
        "metrics": False,  # Prometheus metrics come from prometheus_client, on /metrics
        "logs": False,  # the app's own JSON logs carry the trace ids
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
    """Count, time and log every request; return its trace id in ``x-trace-id``.

    Only a trace that is kept is named, in the header and as the exemplar: the probes'
    traces are dropped (QuietProbesSampler), and an id naming one would answer 404 in Tempo.
    """
    started = time.perf_counter()
    status = 500
    context = trace.get_current_span().get_span_context()
    sampled = context.is_valid and context.trace_flags.sampled
    trace_id = format_trace_id(context.trace_id) if sampled else ""
    try:
        response = await call_next(request)
        status = response.status_code
    finally:
        route = _route_of(request)
        elapsed = time.perf_counter() - started
        HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        HTTP_DURATION.labels(request.method, route).observe(
            elapsed, exemplar={"trace_id": trace_id} if trace_id else None
        )
        if request.url.path not in QUIET_PATHS:
            LOG.info(
                "request",
                extra={
                    "fields": {
                        "method": request.method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 1),
                    }
                },
            )
    if trace_id:
        response.headers["x-trace-id"] = trace_id
    return response


@app.get("/healthcheck")
async def healthcheck() -> dict[str, str]:
    """Liveness and readiness of the app itself."""
    return {"status": "ok"}


@app.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus exposition; OpenMetrics (with exemplars) when the scraper asks for it."""
    TELEMETRY.metrics.scraped()
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(content=encoder(REGISTRY), media_type=content_type)


@app.get("/health/otel")
async def health_otel() -> dict[str, Any]:
    """Per signal (traces, metrics, logs): ok, or degraded with the reason."""
    return TELEMETRY.report()


class CompletionRequest(BaseModel):
    """The body of ``POST /v1/completions``."""

    prompt: str = Field(min_length=1, max_length=4000)
    provider: str | None = None  # none named: alpha, or beta with the llm_beta_provider flag
    slow: bool = False


@app.post("/llm/complete")
async def complete(body: CompletionRequest) -> dict[str, Any]:
    """Ask the simulated LLM; 502 when the provider fails, 503 while its circuit is open."""
    provider = body.provider or ("beta" if FLAGS.enabled("llm_beta_provider") else "alpha")
    client = CLIENTS.get(provider)
    if client is None:
        raise HTTPException(404, f"unknown provider {provider!r}; known: {', '.join(CLIENTS)}")
    try:
        completion = await client.complete(body.prompt, extra_latency=2.5 if body.slow else 0.0)
    except CircuitOpen as exc:
        LOG.warning(
            "llm call rejected", extra={"fields": {"provider": provider, "reason": exc.reason}}
        )
        raise HTTPException(503, f"circuit open for {provider}") from None
    except ProviderError as exc:
        LOG.warning(
            "llm call failed", extra={"fields": {"provider": provider, "reason": exc.reason}}
        )
        raise HTTPException(502, str(exc)) from None
    return {
        "text": completion.text,
        "provider": provider,
        "model": client.provider.model,
        "tokens": {"prompt": completion.prompt_tokens, "completion": completion.completion_tokens},
        "trace_id": completion.trace_id,
    }


class SimulateRequest(BaseModel):
    """The body of ``POST /simulate``: what to make the providers do, and for how long."""

    provider: str = "alpha"
    mode: str


@app.post("/simulate")
async def simulate(body: SimulateRequest) -> dict[str, Any]:
    """Switch a provider's behaviour: healthy, slow, errors or down."""
    client = CLIENTS.get(body.provider)
    if client is None or body.mode not in MODES:
        raise HTTPException(
            422, f"provider must be one of {', '.join(CLIENTS)} and mode one of {', '.join(MODES)}"
        )
    client.provider.behaviour.mode = body.mode
    LOG.warning(
        "provider mode changed", extra={"fields": {"provider": body.provider, "mode": body.mode}}
    )
    return _providers()


@app.get("/catalog")
def seeded_catalog() -> dict[str, Any]:
    """The seeded reference values and sample tenants; 503 with the reason when unavailable."""
    with trace.get_tracer("mirante_app").start_as_current_span(
        "SELECT mirante catalog", kind=trace.SpanKind.CLIENT, attributes={"db.system": "postgresql"}
    ):
        try:
            return catalog.read()
        except catalog.CatalogUnavailable as exc:
            raise HTTPException(503, str(exc)) from None


@app.get("/error")
async def error() -> None:
    """Answer 500 on purpose: an error's log line and trace (the load's ``errors`` mix)."""
    LOG.error("simulated server error", extra={"fields": {"route": "/error"}})
    raise HTTPException(500, "simulated server error")


@app.get("/features")
async def features() -> dict[str, Any]:
    """The feature flags of this app's environment, as last read from its file."""
    return {"env": FLAGS.env, "file": str(FLAGS.path), "flags": FLAGS.snapshot()}


@app.get("/simulate")
async def simulation_state() -> dict[str, Any]:
    """Each provider's mode and circuit breaker state."""
    return _providers()


def _providers() -> dict[str, Any]:
    return {
        name: {"mode": c.provider.behaviour.mode, "circuit": STATE_NAMES[c.breaker.state]}
        for name, c in CLIENTS.items()
    }


@app.post("/alerts/webhook")
async def alert_webhook(payload: dict[str, Any]) -> dict[str, int]:
    """Alertmanager's default receiver: log each alert as one JSON line, keep the last 200."""
    alerts = payload.get("alerts", [])
    for alert in alerts:
        entry = {
            "status": alert.get("status"),
            "alertname": alert.get("labels", {}).get("alertname"),
            "severity": alert.get("labels", {}).get("severity"),
            "labels": alert.get("labels", {}),
            "summary": alert.get("annotations", {}).get("summary"),
            "startsAt": alert.get("startsAt"),
            "receiver": payload.get("receiver"),
        }
        RECEIVED_ALERTS.append(entry)
        ALERT_LOG.warning("alert received", extra={"fields": entry})
    return {"received": len(alerts)}


@app.get("/alerts/received")
async def alerts_received() -> list[dict[str, Any]]:
    """The alerts the webhook received, oldest first."""
    return list(RECEIVED_ALERTS)


@app.get("/")
async def index() -> dict[str, object]:
    """What this service is and where its endpoints are."""
    return {
        "service": CONFIG.service_name,
        "endpoints": [
            "/healthcheck",
            "/metrics",
            "/health/otel",
            "/llm/complete",
            "/simulate",
            "/alerts/webhook",
            "/alerts/received",
            "/catalog",
            "/features",
            "/error",
        ],
        "providers": _providers(),
    }
