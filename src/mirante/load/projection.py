"""What the measured load would store and cost in each environment, per month.

Storage per signal = the measured ingest rate x a day x the environment's retention (and
its Prometheus replicas for metrics). Where it is kept decides its price: S3 for logs and
traces where the environment has object storage, EBS gp3 volumes otherwise, the laptop's
disk (no price) for the local stack. Compute = the nodes the measured CPU and memory of the
observability containers need, with each environment's replicas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from mirante import loader
from mirante.errors import MiranteError, PricingError
from mirante.load.signals import Figure, Ingest, Usage
from mirante.settings import Settings, duration_seconds

DAY = 86400.0
MONTH_DAYS = 30.4  # days in an average month
MONTH_HOURS = 730.0
GB = 1e9

SIGNALS = ("metrics", "logs", "traces")
RATES = {"metrics": "prometheus samples appended", "logs": "loki bytes", "traces": "tempo bytes"}
# Only the observability stack is priced: not the sample app, its database or helpers.
OBSERVABILITY = ("prometheus", "alertmanager", "grafana", "loki", "tempo", "otel-collector",
                 "node-exporter")  # fmt: skip
PRICED = ("s3_standard_gb_month", "ebs_gp3_gb_month", "node_hour")
ASSUMED = ("prometheus_bytes_per_sample", "logs_stored_per_received", "traces_stored_per_received")


@dataclass(frozen=True)
class Price:
    """One value of the pricing file, with its date and source."""

    value: float
    as_of: str
    source: str


@dataclass(frozen=True)
class Pricing:
    """``config/pricing.yaml``."""

    path: Path
    currency: str
    region: str
    prices: Mapping[str, Price]
    assumptions: Mapping[str, Price]
    node_instance: str
    node_vcpu: float
    node_memory_gib: float
    node_allocatable: float


def load_pricing(path: Path) -> Pricing:
    """Read and check the pricing file.

    Raises:
        PricingError: naming the file and the key that is missing or wrong.
    """
    try:
        document = loader.load_yaml(path)
    except FileNotFoundError:
        raise PricingError(f"{path} does not exist: restore it from git or write one") from None
    except (MiranteError, OSError) as exc:  # Unreadable, NotUtf8
        raise PricingError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(document, dict):
        raise PricingError(f"{path}: expected a mapping with prices:, node: and assumptions:")

    def entry(section: str, key: str, dated: bool = True) -> Price:
        found = (document.get(section) or {}).get(key)
        where = f"{path}: {section}.{key}"
        if not isinstance(found, dict):
            raise PricingError(
                f"{where} is missing: give it value:, source:" + (", as_of:" if dated else "")
            )
        value, as_of, source = found.get("value"), found.get("as_of"), found.get("source")
        if not _positive(value):
            raise PricingError(f"{where}.value is {value!r}: expected a number above 0")
        if dated and (not isinstance(as_of, date | str) or not str(as_of).strip()):
            raise PricingError(f"{where}.as_of is missing: the date the value was taken")
        if not isinstance(source, str) or not source.strip():
            raise PricingError(f"{where}.source is missing: where the value comes from")
        return Price(float(value or 0), str(as_of or ""), source)

    node = document.get("node") or {}
    for key in ("vcpu", "memory_gib", "allocatable"):
        if not _positive(node.get(key)):
            raise PricingError(
                f"{path}: node.{key} is {node.get(key)!r}: expected a number above 0"
            )
    if node["allocatable"] > 1:
        raise PricingError(f"{path}: node.allocatable is a share of the node, at most 1")
    return Pricing(
        path=path,
        currency=str(document.get("currency", "USD")),
        region=str(document.get("region", "")),
        prices={key: entry("prices", key) for key in PRICED},
        assumptions={key: entry("assumptions", key, dated=False) for key in ASSUMED},
        node_instance=str(node.get("instance", "node")),
        node_vcpu=float(node["vcpu"]),
        node_memory_gib=float(node["memory_gib"]),
        node_allocatable=float(node["allocatable"]),
    )


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


# -- the environments ------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """What the projection needs to know of one environment."""

    env: str
    retention_days: Mapping[str, float]  # per signal
    replicas: Mapping[str, int]  # per service whose copies cost compute or storage
    storage: Mapping[str, str]  # per signal: "local disk", "EBS gp3" or "S3"
    sampling: float  # the share of traces the collector keeps
    notes: tuple[str, ...] = ()


CHART_DEFAULTS = {"metrics": "10d", "logs": "0s", "traces": "48h"}


def profiles(settings: Settings, sampling: float) -> list[Profile]:
    """The local stack and every remote environment, from settings and the helm values."""
    from mirante.remote import generated

    local = Profile(
        "local",
        {
            "metrics": _days(settings.prometheus_retention),
            "logs": _days(settings.loki_retention),
            "traces": _days(settings.tempo_retention),
        },
        {},
        dict.fromkeys(SIGNALS, "local disk"),
        sampling,
    )
    found = [local]
    for env in settings.environments.by_name.values():
        kps = generated.env_values(settings, env, generated.GENERATED_RELEASE)
        loki = generated.env_values(settings, env, "loki")
        tempo_chart = generated.tempo_chart(settings, env)
        tempo = generated.env_values(settings, env, tempo_chart)
        notes = []
        retention = {
            "metrics": _nested(kps, "prometheus.prometheusSpec.retention"),
            "logs": _nested(loki, "loki.limits_config.retention_period"),
            "traces": _nested(
                tempo,
                "tempo.retention"
                if tempo_chart == "tempo"
                else "compactor.config.compaction.block_retention",
            ),
        }
        for signal, value in retention.items():
            if value is None:
                retention[signal] = CHART_DEFAULTS[signal]
                notes.append(f"{signal} retention: not set in the values, the chart's default")
        prometheus = generated.prometheus_replicas(settings, env)
        replicas = {
            "prometheus": prometheus,
            "alertmanager": int(_nested(kps, "alertmanager.alertmanagerSpec.replicas") or 1),
            "grafana": int(_nested(kps, "grafana.replicas") or 1),
            "loki": int(_nested(loki, "loki.commonConfig.replication_factor") or 1),
            "otel-collector": 1,
        }
        on_s3 = env.storage is not None
        storage = {
            "metrics": "EBS gp3",
            "logs": "S3" if on_s3 else "EBS gp3",
            "traces": "S3" if on_s3 else "EBS gp3",
        }
        days = {signal: _days(str(value)) for signal, value in retention.items()}
        found.append(Profile(env.name, days, replicas, storage, sampling, tuple(notes)))
    return found


def _days(duration: str) -> float:
    seconds = duration_seconds(duration)
    return (seconds or 0.0) / DAY


def _nested(values: Mapping[str, Any], dotted: str) -> Any:
    found: Any = values
    for key in dotted.split("."):
        if not isinstance(found, Mapping) or key not in found:
            return None
        found = found[key]
    return found


def trace_sampling(root: Path) -> float:
    """The share of traces the collector keeps: its probabilistic_sampler, else all."""
    try:
        config = loader.safe_load((root / "otel-collector" / "config.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return 1.0
    pipeline = (((config.get("service") or {}).get("pipelines") or {}).get("traces")) or {}
    for name in pipeline.get("processors") or []:
        if str(name).split("/")[0] == "probabilistic_sampler":
            body = (config.get("processors") or {}).get(name) or {}
            return float(body.get("sampling_percentage", 100)) / 100
    return 1.0


# -- the projection ---------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One row of an environment's table: a signal's storage, or the compute."""

    item: str
    rate: str
    gb_day: float | None
    gb_month: float | None
    retention_days: float | None
    gb_held: float | None
    where: str
    cost: float | None  # per month; None: no price (the laptop) or not measured
    reason: str = ""  # why it is not measured


@dataclass(frozen=True)
class Projection:
    """One environment's table, its total and what dominates it."""

    env: str
    lines: tuple[Line, ...]
    total: float | None
    dominant: str
    excluded: tuple[str, ...]
    notes: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """For report.json."""
        return {
            "env": self.env,
            "lines": [vars(line) for line in self.lines],
            "total_per_month": self.total,
            "dominant": self.dominant,
            "excluded": list(self.excluded),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class BytesPerSample:
    """The bytes per sample used: measured by the TSDB, or the pricing file's assumption."""

    value: float
    measured: bool
    source: str


def bytes_per_sample(measured: Figure, pricing: Pricing) -> BytesPerSample:
    """The TSDB's own figure where it has compacted, else the assumption (and says so)."""
    if measured.value is not None:
        return BytesPerSample(measured.value, True, measured.source)
    assumed = pricing.assumptions["prometheus_bytes_per_sample"]
    return BytesPerSample(assumed.value, False, f"assumed ({assumed.source}): {measured.reason}")


def project(profile: Profile, ingest: Ingest, usage: list[Usage], pricing: Pricing) -> Projection:
    """The storage and compute ``profile`` needs for the measured load, and their cost."""
    bps = bytes_per_sample(ingest.bytes_per_sample, pricing)
    ratios = {
        "metrics": bps.value * profile.replicas.get("prometheus", 1),
        "logs": pricing.assumptions["logs_stored_per_received"].value,
        "traces": pricing.assumptions["traces_stored_per_received"].value,
    }
    price_of = {
        "S3": pricing.prices["s3_standard_gb_month"].value,
        "EBS gp3": pricing.prices["ebs_gp3_gb_month"].value,
    }
    lines = []
    excluded = []
    for signal in SIGNALS:
        rate = ingest.rates.get(RATES[signal])
        where = profile.storage[signal]
        days = profile.retention_days[signal]
        if rate is None or rate.value is None:
            reason = rate.reason if rate else "not measured"
            lines.append(Line(signal, "not measured", None, None, days, None, where, None, reason))
            excluded.append(signal)
            continue
        gb_day = rate.value * ratios[signal] * DAY / GB
        held = gb_day * days
        cost = held * price_of[where] if where in price_of else None
        shown = f"{rate.value:,.0f} {rate.unit}"
        lines.append(Line(signal, shown, gb_day, gb_day * MONTH_DAYS, days, held, where, cost))
    lines.append(_compute(profile, usage, pricing))
    costs = [line.cost for line in lines if line.cost is not None]
    total = sum(costs) if costs else None
    notes = [*profile.notes]
    if not bps.measured:
        notes.append(f"bytes per sample {bps.value:g}: {bps.source}")
    notes.append(
        f"logs stored {ratios['logs']:g} and traces {ratios['traces']:g} of what was received "
        f"(assumed, {pricing.path.name})"
    )
    return Projection(
        profile.env,
        tuple(lines),
        total,
        _dominant(profile, lines, total),
        tuple(excluded),
        tuple(notes),
    )


def _compute(profile: Profile, usage: list[Usage], pricing: Pricing) -> Line:
    if profile.env == "local":
        return Line("compute", "", None, None, None, None, "this machine", None)
    watched = [u for u in usage if u.service in OBSERVABILITY]
    if not watched:
        reason = "no container of the stack was sampled (Docker stats)"
        return Line("compute", "not measured", None, None, None, None, "nodes", None, reason)
    cores = sum(_peak(u.cpu_cores) * profile.replicas.get(u.service, 1) for u in watched)
    gib = sum(_peak(u.memory_mib) * profile.replicas.get(u.service, 1) for u in watched) / 1024
    per_node_cores = pricing.node_vcpu * pricing.node_allocatable
    per_node_gib = pricing.node_memory_gib * pricing.node_allocatable
    nodes = max(1, math.ceil(max(cores / per_node_cores, gib / per_node_gib)))
    cost = nodes * pricing.prices["node_hour"].value * MONTH_HOURS
    shown = f"{cores:.2f} cores, {gib:.2f} GiB"
    return Line("compute", shown, None, None, None, None, f"{nodes} x {pricing.node_instance}",
                cost)  # fmt: skip


def _peak(values: tuple[float, ...]) -> float:
    return max(values, default=0.0)


def _compute_driver(profile: Profile) -> str:
    several = [f"{n} {s}" for s, n in sorted(profile.replicas.items()) if n > 1]
    if several:
        return f"replicas ({', '.join(several)}) and the node size"
    return "the node size (one replica of each service: at this load, one node is the floor)"


def _dominant(profile: Profile, lines: list[Line], total: float | None) -> str:
    """Which line costs most and what it scales with; under compute, the storage's."""
    if not total:
        return "no priced storage: the local stack runs on this machine's disk"
    priced = [line for line in lines if line.cost is not None]
    top = max(priced, key=lambda line: line.cost or 0)
    said = f"{top.item} is {(top.cost or 0) / total:.0%} of the cost: it scales with "
    said += _driver(profile, top.item)
    stored = [line for line in priced if line.item in SIGNALS]
    storage = sum(line.cost or 0 for line in stored)
    if top.item == "compute" and storage > 0:
        first = max(stored, key=lambda line: line.cost or 0)
        said += f"; of the storage, {first.item} is {(first.cost or 0) / storage:.0%}: " + _driver(
            profile, first.item
        )
    return said


def _driver(profile: Profile, item: str) -> str:
    """What a line's cost scales with, in this environment's figures."""
    days = profile.retention_days
    if item == "metrics":
        prometheus = profile.replicas.get("prometheus", 1)
        return f"retention ({days['metrics']:g} d) x replicas ({prometheus} Prometheus)"
    if item == "logs":
        return f"retention ({days['logs']:g} d)"
    if item == "traces":
        return (
            f"retention ({days['traces']:g} d) and sampling ({profile.sampling:.0%} of traces kept)"
        )
    return _compute_driver(profile)
