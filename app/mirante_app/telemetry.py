"""Traces, logs and metrics of the sample app, and whether each one gets out.

- Traces: OTLP/HTTP to the collector, batched in the background. Probe paths are traced
  (they still get a trace id) but not exported, so they do not drown real traffic.
- Logs: one JSON object per line on stdout, with ``trace_id`` and ``span_id``, and the same
  records shipped as OTLP logs.
- Metrics: Prometheus exposition on ``/metrics`` (pulled by Prometheus).

Export never slows or fails a request: when the collector is absent the batch is dropped
and :data:`HEALTH` records why, which ``GET /health/otel`` reports.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, format_span_id, format_trace_id
from opentelemetry.util.types import Attributes
from prometheus_client import Counter, Histogram

from mirante_app.config import AppConfig

QUIET_PATHS = frozenset({"/healthcheck", "/metrics", "/health/otel"})
SCRAPE_STALE_SECONDS = 60.0

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


class SignalHealth:
    """What the last export of one signal did (thread-safe)."""

    def __init__(self, signal: str, endpoint: str) -> None:
        self.signal = signal
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._last_ok: float | None = None
        self._last_failure: float | None = None

    def record(self, ok: bool) -> None:
        """Count one export attempt of this signal, and whether it worked."""
        with self._lock:
            if ok:
                self._last_ok = time.time()
            else:
                self._last_failure = time.time()

    def report(self) -> dict[str, str]:
        """``ok`` / ``failing`` / ``unknown`` with the last error, for ``/health/otel``."""
        with self._lock:
            ok, failure = self._last_ok, self._last_failure
        if failure is not None and (ok is None or failure > ok):
            since = time.strftime("%H:%M:%SZ", time.gmtime(failure))
            return {
                "status": "degraded",
                "reason": f"last export to {self.endpoint} failed at {since}; is its receiver up?",
            }
        if ok is None:
            return {"status": "ok", "reason": "nothing exported yet"}
        return {"status": "ok", "reason": f"last export {time.time() - ok:.0f} s ago"}


class ScrapeHealth:
    """Metrics are pulled: healthy while Prometheus keeps scraping ``/metrics``."""

    def __init__(self) -> None:
        self._last: float | None = None

    def scraped(self) -> None:
        """Note that Prometheus has just scraped ``/metrics``."""
        self._last = time.time()

    def report(self) -> dict[str, str]:
        """``ok`` while the last scrape is recent, else ``stale`` or ``unknown``."""
        if self._last is None:
            return {"status": "degraded", "reason": "/metrics has not been scraped yet"}
        age = time.time() - self._last
        if age > SCRAPE_STALE_SECONDS:
            return {"status": "degraded", "reason": f"/metrics last scraped {age:.0f} s ago"}
        return {"status": "ok", "reason": f"/metrics scraped {age:.0f} s ago"}


class TrackedSpanExporter(SpanExporter):
    """A span exporter that records in :class:`SignalHealth` whether each export worked."""

    def __init__(self, inner: SpanExporter, health: SignalHealth) -> None:
        self._inner, self._health = inner, health

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export through the wrapped exporter and record the outcome."""
        result = self._inner.export(spans)
        self._health.record(result == SpanExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._inner.shutdown()


class TrackedLogExporter(LogRecordExporter):
    """A log exporter that records in :class:`SignalHealth` whether each export worked."""

    def __init__(self, inner: LogRecordExporter, health: SignalHealth) -> None:
        self._inner, self._health = inner, health

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Export through the wrapped exporter and record the outcome."""
        result = self._inner.export(batch)
        self._health.record(result == LogRecordExportResult.SUCCESS)
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter."""
        return self._inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._inner.shutdown()


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
        """Drop the root server span of a probe path; sample everything else."""
        if kind == SpanKind.SERVER and (attributes or {}).get("url.path") in QUIET_PATHS:
            return SamplingResult(Decision.DROP)
        return ALWAYS_ON.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        """The sampler's name, as OpenTelemetry shows it."""
        return "QuietProbesSampler"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the current trace and span ids."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line, with ``trace_id`` and ``span_id`` when a span is current."""
        context = trace.get_current_span().get_span_context()
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if context.is_valid:
            entry["trace_id"] = format_trace_id(context.trace_id)
            entry["span_id"] = format_span_id(context.span_id)
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class Telemetry:
    """The app's providers and their health; built once at start-up."""

    def __init__(self, config: AppConfig) -> None:
        resource = Resource.create({SERVICE_NAME: config.service_name})
        self.traces = SignalHealth("traces", config.traces_endpoint)
        self.logs = SignalHealth("logs", config.logs_endpoint)
        self.metrics = ScrapeHealth()

        self.tracer_provider = TracerProvider(
            resource=resource, sampler=ParentBased(root=QuietProbesSampler())
        )
        wait = config.export_timeout
        span_exporter = OTLPSpanExporter(endpoint=self.traces.endpoint, timeout=wait)
        self.tracer_provider.add_span_processor(
            BatchSpanProcessor(
                TrackedSpanExporter(span_exporter, self.traces), export_timeout_millis=wait * 1000
            )
        )
        trace.set_tracer_provider(self.tracer_provider)

        self.logger_provider = LoggerProvider(resource=resource)
        log_exporter = OTLPLogExporter(endpoint=self.logs.endpoint, timeout=wait)
        self.logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(
                TrackedLogExporter(log_exporter, self.logs), export_timeout_millis=wait * 1000
            )
        )
        set_logger_provider(self.logger_provider)

        app_logger = logging.getLogger("mirante_app")
        app_logger.setLevel(logging.INFO)
        app_logger.propagate = False
        stdout = logging.StreamHandler(sys.stdout)
        stdout.setFormatter(JsonFormatter())
        app_logger.handlers = [stdout, LoggingHandler(logger_provider=self.logger_provider)]
        # The exporters' own retry chatter would repeat every few seconds without a
        # collector; /health/otel reports that state instead.
        logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.CRITICAL)

    def report(self) -> dict[str, Any]:
        """Per signal (traces, logs, metrics), whether export works: ``/health/otel``."""
        signals = {
            "traces": self.traces.report(),
            "metrics": self.metrics.report(),
            "logs": self.logs.report(),
        }
        degraded = [name for name, s in signals.items() if s["status"] != "ok"]
        return {"status": "degraded" if degraded else "ok", "signals": signals}
