"""`invoke load`: drive the app at a rate, measure what the stack ingests, project its cost.

:func:`run_load` checks the options, drives the app (:mod:`.generator`) while it samples the
containers, reads the stack's own counters before and after (:mod:`.signals`), and projects
storage and cost per environment (:mod:`.projection`); :mod:`.report` writes it all down.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from mirante import waits
from mirante.errors import BadArgument, ServiceUnreachable
from mirante.load import generator, projection, signals
from mirante.load.generator import Tick
from mirante.services import BY_NAME
from mirante.settings import Settings

PRICING_FILE = Path("config") / "pricing.yaml"
REPORTS = Path("artifacts") / "load"


@dataclass(frozen=True)
class Options:
    """What ``invoke load`` was asked for."""

    rps: float
    duration: float
    mix: str = generator.DEFAULT_MIX
    env: str = "local"


@dataclass(frozen=True)
class Target:
    """Where the load goes and where its effects are read."""

    env: str
    app: str
    prometheus: str | None
    why_no_prometheus: str = ""


@dataclass
class Result:
    """A load run, measured, with its projections."""

    options: Options
    target: Target
    started: str
    run: generator.Run
    ingest: signals.Ingest
    usage: list[signals.Usage]
    why_no_usage: str
    pricing: projection.Pricing
    projections: list[projection.Projection] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Everything the report holds, as JSON-ready data."""
        windows = generator.windows(self.run)
        span = sum(w.seconds for w in windows)
        total = generator.figures(self.run.samples, 0.0, span)
        by_kind = {
            kind: dataclasses.asdict(
                generator.figures([s for s in self.run.samples if s.kind == kind], 0.0, span)
            )
            for kind in self.run.mix
        }
        containers: dict[str, Any] = (
            {"services": {u.service: u.as_json() for u in self.usage}}
            if self.usage
            else {"not_measured": self.why_no_usage}
        )
        return {
            "started": self.started,
            "options": {**dataclasses.asdict(self.options), "url": self.target.app},
            "client": {
                "total": dataclasses.asdict(total),
                "by_kind": by_kind,
                "windows": [dataclasses.asdict(w) for w in windows],
                "seconds": span,
                "dropped": self.run.dropped,
                "interrupted": self.run.interrupted,
                "generator_cpu_seconds": round(self.run.cpu_seconds, 3),
                "transport_errors": sorted({s.error for s in self.run.samples if s.error})[:10],
            },
            "ingest": {
                "prometheus": self.target.prometheus,
                "rates": {n: f.as_json() for n, f in self.ingest.rates.items()},
                "head_series_before": self.ingest.head_series_before.as_json(),
                "head_series_after": self.ingest.head_series_after.as_json(),
                "bytes_per_sample": self.ingest.bytes_per_sample.as_json(),
                "readings": self.ingest.readings,
            },
            "containers": containers,
            "pricing": {
                "file": str(self.pricing.path),
                "currency": self.pricing.currency,
                "region": self.pricing.region,
                "prices": {k: vars(p) for k, p in self.pricing.prices.items()},
                "assumptions": {k: vars(p) for k, p in self.pricing.assumptions.items()},
            },
            "projections": [p.as_json() for p in self.projections],
        }


def check(settings: Settings, options: Options) -> tuple[Target, projection.Pricing]:
    """Check the options and the pricing file before any request.

    Raises:
        BadArgument: a rate or duration not above 0, an unknown mix, an env without a URL.
        UnknownEnvironment: an env that config/environments.yaml does not define.
        PricingError: the pricing file is missing or wrong.
    """
    if not options.rps > 0 or options.rps > 100_000:
        raise BadArgument("rps", f"{options.rps:g}", "a rate above 0, up to 100000 requests/s")
    if not options.duration > 0 or options.duration > 86_400:
        raise BadArgument("duration", f"{options.duration:g}", "seconds above 0, up to 86400")
    generator.parse_mix(options.mix)
    if options.env == "local":
        pricing = projection.load_pricing(settings.root / PRICING_FILE)
        app = BY_NAME["app"].endpoint(settings, "")
        prometheus = BY_NAME["prometheus"].endpoint(settings, "")
        return Target("local", app, prometheus), pricing
    env = settings.environments.get(options.env)
    pricing = projection.load_pricing(settings.root / PRICING_FILE)
    app = env.urls.get("app", "")
    if not app:
        raise BadArgument(
            "env", options.env,
            f"an environment with urls.app in {settings.environments.path.name} "
            "(an ingress or a kubectl port-forward to the app)",
        )  # fmt: skip
    base = app.rstrip("/").removesuffix("/healthcheck")
    found = env.urls.get("prometheus", "")
    why = "" if found else f"no urls.prometheus for {env.name} in the environments file"
    return Target(env.name, base, found or None, why), pricing


def run_load(
    settings: Settings,
    options: Options,
    on_tick: Callable[[Tick], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Result:
    """Drive the app, measure, project. Ctrl-C ends the load early; the rest still runs.

    Raises:
        BadArgument, UnknownEnvironment, PricingError: see :func:`check`.
        ServiceUnreachable: the app does not answer.
    """
    say = on_step or (lambda _: None)
    target, pricing = check(settings, options)
    mix = generator.parse_mix(options.mix)
    _answers(target)
    prometheus = signals.Prometheus(target.prometheus) if target.prometheus else None
    why_not, interval = _scraped(settings, target, prometheus)
    started = time.time()
    before = signals.snapshot(prometheus, started) if prometheus else None
    sampler = _Sampler(settings) if target.env == "local" else None
    if sampler:
        sampler.start()
    try:
        done = generator.drive(target.app, options.rps, options.duration, mix, on_tick)
    finally:
        if sampler:
            sampler.stop()
    ingest = signals.Ingest()
    if prometheus and before:
        ended = time.time()
        say(f"waiting for every target's next scrape (every {interval:g} s)")
        if not waits.until(lambda: _scraped_since(prometheus, ended), interval * 3 + 5, 1.0):
            say("not every target was scraped again: the last readings are used")
        after = signals.snapshot(prometheus, time.time())
        ingest = signals.ingest(prometheus, before, after, started, generator.WINDOW, why_not)
    else:
        reason = target.why_no_prometheus
        ingest.rates = {
            c.name: signals.not_measured(c.unit, reason, f"sum({c.metric})")
            for c in signals.COUNTERS
        }
        for name in ("head_series_before", "head_series_after", "bytes_per_sample"):
            setattr(ingest, name, signals.not_measured(getattr(ingest, name).unit, reason))
    usage = signals.usage(sampler.samples) if sampler else []
    why_no_usage = (
        f"the load went to {target.env}: read its pods' usage from the cluster"
        if sampler is None
        else sampler.error or "no sample was taken"
    )
    result = Result(
        options,
        target,
        datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        done,
        ingest,
        usage,
        why_no_usage,
        pricing,
    )
    sampling = projection.trace_sampling(settings.root)
    result.projections = [
        projection.project(profile, ingest, usage, pricing)
        for profile in projection.profiles(settings, sampling)
    ]
    return result


def _scraped_since(prometheus: signals.Prometheus, ended: float) -> bool:
    """Whether every target has been scraped since ``ended`` (the newest ``up`` of each)."""
    oldest = prometheus.scalar("min(timestamp(up))")
    return oldest is not None and oldest > ended


def _answers(target: Target) -> None:
    url = f"{target.app}/healthcheck"
    try:
        requests.get(url, timeout=5).raise_for_status()
    except requests.RequestException as exc:
        hint = "start it with invoke stack.up" if target.env == "local" else "check urls.app"
        raise ServiceUnreachable(
            f"the app does not answer at {url} ({type(exc).__name__}): {hint}"
        ) from None


def _scraped(
    settings: Settings, target: Target, prometheus: signals.Prometheus | None
) -> tuple[dict[str, str], float]:
    """Why each scrape job of a counter cannot be read, and the scrape interval."""
    if prometheus is None:
        return {}, 0.0
    try:
        interval = prometheus.scrape_interval()
    except requests.RequestException as exc:
        raise ServiceUnreachable(
            f"Prometheus does not answer at {target.prometheus} ({type(exc).__name__}): "
            + ("start it with invoke stack.up" if target.env == "local" else "check its URL")
        ) from None
    states: dict[str, str] = {}
    if target.env == "local":
        from mirante.tools.docker import service_states

        states = service_states(settings.project_name)
    jobs = {c.job for c in signals.COUNTERS}
    running = {job for job in jobs if states.get(job) in ("healthy", "running")}
    # A stack just started may not have scraped every target yet: give it two intervals.
    up: set[str] = set()

    def all_up() -> bool:
        up.update(prometheus.jobs_up())
        return running <= up

    waits.until(all_up, interval * 2 + 2, 1.0)
    why: dict[str, str] = {}
    for job in jobs - up:
        state = states.get(job)
        if target.env == "local" and state not in ("healthy", "running"):
            why[job] = f"{job} is not running ({state or 'no container'})"
        else:
            why[job] = f"Prometheus does not scrape {job} (up{{job={job!r}}} is not 1)"
    return why, interval


class _Sampler:
    """Docker stats of the stack's containers, every window, in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.samples: list[dict[str, tuple[float, float]]] = []
        self.error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="docker-stats", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        from mirante.errors import MiranteError
        from mirante.tools.docker import client, container_usage

        try:
            docker = client(self.settings)
            while not self._stop.is_set():
                began = time.monotonic()
                self.samples.append(container_usage(docker, self.settings.project_name))
                self._stop.wait(max(0.0, generator.WINDOW - (time.monotonic() - began)))
        except MiranteError as exc:
            self.error = f"Docker stats: {str(exc).splitlines()[0]}"
