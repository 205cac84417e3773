"""What the stack ingested while the load ran, read from Prometheus and Docker.

Every figure comes from a service's own counters, as Prometheus scraped them, or from the
Docker stats API. A signal whose service is not running (or not scraped) is ``not
measured`` with the reason: never 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from mirante.settings import duration_seconds

HTTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Figure:
    """One measured quantity: a value, or why there is none (``reason``)."""

    value: float | None
    unit: str
    reason: str = ""
    source: str = ""  # the PromQL or API it came from
    series: tuple[tuple[float, float], ...] = ()  # (seconds from the start, value) per window

    @property
    def measured(self) -> bool:
        """True when there is a value."""
        return self.value is not None

    def as_json(self) -> dict[str, Any]:
        """The figure for report.json (``not measured`` with the reason when absent)."""
        found: dict[str, Any] = {"value": self.value, "unit": self.unit, "source": self.source}
        if self.value is None:
            found["not_measured"] = self.reason
        if self.series:
            found["series"] = [list(p) for p in self.series]
        return found


def not_measured(unit: str, reason: str, source: str = "") -> Figure:
    """A figure that could not be measured, and why."""
    return Figure(None, unit, reason, source)


class Prometheus:
    """The few calls of Prometheus's HTTP API the load report needs."""

    def __init__(self, base: str, session: requests.Session | None = None) -> None:
        self.base = base.rstrip("/")
        self.session = session or requests.Session()

    def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        answer = self.session.get(f"{self.base}{path}", params=params, timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        body = answer.json()
        if body.get("status") != "success":
            raise requests.RequestException(body.get("error", "query failed"))
        return body["data"]

    def vector(self, expr: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        """An instant query's series, as (labels, value)."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        """The value of a query that gives one series; None when it gives none (or NaN)."""
        found = self.vector(expr, at)
        if not found or math.isnan(found[0][1]):
            return None
        return found[0][1]

    def matrix(self, expr: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
        """A range query of one series, as (timestamp, value); [] when it gives none."""
        data = self._get(
            "/api/v1/query_range",
            {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
        )
        if not data["result"]:
            return []
        return [(float(t), float(v)) for t, v in data["result"][0]["values"]]

    def jobs_up(self) -> set[str]:
        """The scrape jobs with at least one target up."""
        return {labels.get("job", "") for labels, value in self.vector("up == 1") if value == 1}

    def scrape_interval(self) -> float:
        """The longest scrape interval of the active targets (s), 15 when none is listed."""
        answer = self.session.get(
            f"{self.base}/api/v1/targets", params={"state": "active"}, timeout=HTTP_TIMEOUT
        )
        answer.raise_for_status()
        targets = answer.json()["data"]["activeTargets"]
        intervals = [duration_seconds(t.get("scrapeInterval", "")) for t in targets]
        return max((i for i in intervals if i), default=15.0)


@dataclass(frozen=True)
class Counter:
    """A rate the report shows: a counter's sum, per second, from a scrape job."""

    name: str
    job: str
    metric: str  # a PromQL selector of counters; summed
    unit: str


COUNTERS: tuple[Counter, ...] = (
    Counter("prometheus samples appended", "prometheus",
            "prometheus_tsdb_head_samples_appended_total", "samples/s"),
    Counter("loki lines", "loki", "loki_distributor_lines_received_total", "lines/s"),
    Counter("loki bytes", "loki", "loki_distributor_bytes_received_total", "B/s"),
    Counter("tempo spans", "tempo", "tempo_distributor_spans_received_total", "spans/s"),
    Counter("tempo bytes", "tempo", "tempo_distributor_bytes_received_total", "B/s"),
    Counter("collector accepted", "otel-collector",
            '{__name__=~"otelcol_receiver_accepted_(spans|log_records|metric_points)(_total)?"}',
            "items/s"),
    Counter("collector refused", "otel-collector",
            '{__name__=~"otelcol_receiver_refused_(spans|log_records|metric_points)(_total)?"}',
            "items/s"),
)  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    """Each counter's sum and the time of its newest sample (Prometheus's own timestamp)."""

    at: float
    values: dict[str, tuple[float, float]]  # counter name -> (value, sample timestamp)
    head_series: float | None


def snapshot(prometheus: Prometheus, at: float | None = None) -> Snapshot:
    """Read every counter (and the head series) as Prometheus last scraped them."""
    values = {}
    for counter in COUNTERS:
        value = prometheus.scalar(f"sum({counter.metric})", at)
        stamp = prometheus.scalar(f"max(timestamp({counter.metric}))", at)
        if value is not None and stamp is not None:
            values[counter.name] = (value, stamp)
    head = prometheus.scalar("sum(prometheus_tsdb_head_series)", at)
    return Snapshot(at or 0.0, values, head)


@dataclass
class Ingest:
    """The ingestion figures of one run, by counter name, with the TSDB's own figures."""

    rates: dict[str, Figure] = field(default_factory=dict)
    head_series_before: Figure = field(default_factory=lambda: not_measured("series", ""))
    head_series_after: Figure = field(default_factory=lambda: not_measured("series", ""))
    bytes_per_sample: Figure = field(default_factory=lambda: not_measured("B/sample", ""))
    # The counters as read: name -> {"before": (value, sample time), "after": (...)}
    readings: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)


def ingest(
    prometheus: Prometheus,
    before: Snapshot,
    after: Snapshot,
    started: float,
    window: float,
    why_not: Mapping[str, str],
) -> Ingest:
    """Per-second rates between two snapshots, and their series per window.

    Args:
        prometheus: the stack's Prometheus.
        before: counters read as the load started.
        after: counters read one scrape after it ended.
        started: the load's start (epoch seconds), for the windows' offsets.
        window: the width of a window (s).
        why_not: for a scrape job that is not up, why (the service is not running...).
    """
    found = Ingest()
    found.readings = {
        name: {"before": before.values[name], "after": after.values[name]}
        for name in before.values.keys() & after.values.keys()
    }
    for counter in COUNTERS:
        source = f"sum({counter.metric})"
        if counter.job in why_not:
            found.rates[counter.name] = not_measured(counter.unit, why_not[counter.job], source)
            continue
        rate = rate_between(before.values.get(counter.name), after.values.get(counter.name))
        if isinstance(rate, str):
            reason = rate or f"Prometheus has no {counter.metric} from job {counter.job}"
            found.rates[counter.name] = not_measured(counter.unit, reason, source)
            continue
        series = _windows(prometheus, counter.metric, started, after.at, window)
        found.rates[counter.name] = Figure(rate, counter.unit, "", source, series)
    found.head_series_before = _series_figure(before.head_series)
    found.head_series_after = _series_figure(after.head_series)
    found.bytes_per_sample = bytes_per_sample(prometheus)
    return found


def rate_between(
    first: tuple[float, float] | None, last: tuple[float, float] | None
) -> float | str:
    """A counter's per-second rate between two (value, sample time) readings, or why not.

    A value lower at the end is a restart: the counter counted from 0 again. ``""``: a
    reading is missing.
    """
    if first is None or last is None:
        return ""
    seconds = last[1] - first[1]
    if seconds <= 0:
        return "no new scrape between the start and the end of the load"
    increase = last[0] - first[0] if last[0] >= first[0] else last[0]
    return increase / seconds


def _series_figure(value: float | None) -> Figure:
    source = "sum(prometheus_tsdb_head_series)"
    if value is None:
        return not_measured("series", "Prometheus has no prometheus_tsdb_head_series", source)
    return Figure(value, "series", source=source)


def _windows(
    prometheus: Prometheus, metric: str, started: float, end: float, window: float
) -> tuple[tuple[float, float], ...]:
    """The counter's rate over each window that ended by ``end`` (Prometheus's ``rate``)."""
    width = f"{max(window, 1):g}s"
    points = prometheus.matrix(
        f"sum(rate({metric}[{width}]))", started + window, max(end, started + window), window
    )
    return tuple((round(t - started, 3), v) for t, v in points)


COMPACTION = (
    "sum(prometheus_tsdb_compaction_chunk_size_bytes_sum)"
    " / sum(prometheus_tsdb_compaction_chunk_samples_sum)"
)


def bytes_per_sample(prometheus: Prometheus) -> Figure:
    """Bytes per sample the TSDB wrote in its compactions (chunk bytes / chunk samples)."""
    value = prometheus.scalar(COMPACTION)
    if value is None:
        return not_measured(
            "B/sample",
            "the TSDB has not compacted a block yet (the first one is cut 2-3 h after start)",
            COMPACTION,
        )
    return Figure(value, "B/sample", source=COMPACTION)


# -- containers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """One container's CPU (cores) and memory (MiB), sampled during the run."""

    service: str
    cpu_cores: tuple[float, ...]
    memory_mib: tuple[float, ...]

    def as_json(self) -> dict[str, Any]:
        """Mean and peak of each, for report.json."""
        return {
            "cpu_cores": {"mean": _mean(self.cpu_cores), "max": max(self.cpu_cores, default=0)},
            "memory_mib": {
                "mean": _mean(self.memory_mib),
                "max": max(self.memory_mib, default=0),
            },
        }


def _mean(values: Iterable[float]) -> float:
    found = list(values)
    return sum(found) / len(found) if found else 0.0


Sampler = Callable[[], dict[str, tuple[float, float]]]  # service -> (cores, MiB)


def usage(samples: Iterable[Mapping[str, tuple[float, float]]]) -> list[Usage]:
    """The containers' samples, gathered per service."""
    per: dict[str, tuple[list[float], list[float]]] = {}
    for sample in samples:
        for service, (cores, mib) in sample.items():
            cpu, memory = per.setdefault(service, ([], []))
            cpu.append(cores)
            memory.append(mib)
    return [Usage(s, tuple(c), tuple(m)) for s, (c, m) in sorted(per.items())]
