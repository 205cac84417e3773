"""Tracing and metrics set-up: OTLP traces to the collector, Prometheus metrics on /metrics.

Export runs in a background batch processor: when the collector is absent the exporter
logs the failure and drops the batch; requests are never slowed or failed by it.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes
from prometheus_client import Counter, Histogram

from mirante_app.config import AppConfig

# Probed every few seconds by Docker and Prometheus: traced (they still get a trace id),
# but not exported, so they do not drown the real traffic in Tempo.
QUIET_PATHS = frozenset({"/healthcheck", "/metrics"})

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests served, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to serve an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class QuietProbesSampler(Sampler):
    """Drops root server spans of the probe paths; everything else is sampled."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind == SpanKind.SERVER and (attributes or {}).get("url.path") in QUIET_PATHS:
            return SamplingResult(Decision.DROP)
        return ALWAYS_ON.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "QuietProbesSampler"


def setup_tracing(config: AppConfig) -> TracerProvider:
    """Install the global tracer provider exporting to ``config.otlp_endpoint``."""
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: config.service_name}),
        sampler=ParentBased(root=QuietProbesSampler()),
    )
    exporter = OTLPSpanExporter(endpoint=f"{config.otlp_endpoint}/v1/traces", timeout=2)
    provider.add_span_processor(BatchSpanProcessor(exporter, export_timeout_millis=2000))
    trace.set_tracer_provider(provider)
    return provider
