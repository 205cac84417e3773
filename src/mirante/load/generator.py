"""The load generator: an open-loop asyncio httpx client at a target rate, with a mix.

Requests start on a fixed schedule (``1/rps`` apart) whatever the answers take, so a slow
app shows up as latency, not as a lower rate the client chose by itself (coordinated
omission). A request that would exceed ``max_in_flight`` is not sent: it is counted as
``dropped``, and the achieved rate says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpcore

from mirante.errors import BadArgument

WINDOW = 10.0  # seconds per window of the report


@dataclass(frozen=True)
class Kind:
    """One kind of request of the mix, and about how long the app takes to answer it (s)."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None
    what: str = ""
    typical: float = 0.01


KINDS: dict[str, Kind] = {
    "healthy": Kind("GET", "/healthcheck", what="the cheapest answer (no trace: a probe path)"),
    "llm": Kind(
        "POST", "/llm/complete", {"prompt": "load: summarise the catalog"},
        "an LLM completion: a trace of two spans, a log line", 0.4,
    ),
    "slow": Kind(
        "POST", "/llm/complete", {"prompt": "load: slow", "slow": True},
        "an LLM completion with 2.5 s more latency", 3.0,
    ),
    "errors": Kind("GET", "/error", what="a 500 on purpose: an error log line and trace"),
}  # fmt: skip

DEFAULT_MIX = "healthy=85,llm=10,slow=3,errors=2"


def parse_mix(text: str) -> dict[str, float]:
    """``healthy,llm`` (equal shares) or ``healthy=8,llm=2`` as shares that sum to 1.

    Raises:
        BadArgument: an unknown kind, a share that is not a positive number, or no kind.
    """
    accepted = f"kinds from {', '.join(KINDS)}, each optionally =WEIGHT (healthy=8,llm=2)"
    weights: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in KINDS:
            raise BadArgument("mix", text, f"{accepted}; {name!r} is not one")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            value = math.nan
        if not value > 0 or math.isinf(value):
            raise BadArgument("mix", text, f"{accepted}; the weight of {name} is not above 0")
        weights[name] = weights.get(name, 0.0) + value
    if not weights:
        raise BadArgument("mix", text, accepted)
    total = sum(weights.values())
    return {name: w / total for name, w in weights.items()}


@dataclass(frozen=True)
class Sample:
    """One request: when it started (s from the run's start), how long, what it got.

    ``status`` is the HTTP status, 0 when no answer came (``error`` says why).
    """

    start: float
    latency: float
    kind: str
    status: int
    error: str = ""

    @property
    def failed(self) -> bool:
        """A transport error or a 5xx: what an SLO counts against the service."""
        return self.status == 0 or self.status >= 500


@dataclass
class Run:
    """What the generator did: the samples, and the requests it could not send."""

    target_rps: float
    duration: float
    mix: dict[str, float]
    samples: list[Sample] = field(default_factory=list)
    dropped: int = 0
    elapsed: float = 0.0
    interrupted: bool = False
    cpu_seconds: float = 0.0  # the generator process's own CPU time during the run


@dataclass(frozen=True)
class Tick:
    """Live figures, about once a second, for the progress line (``in_flight``: queued too)."""

    elapsed: float
    duration: float
    sent: int
    achieved_rps: float
    errors: int
    p95: float | None
    in_flight: int
    dropped: int


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` percentile (0-100) by the nearest-rank method; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def connections(rps: float, mix: Mapping[str, float]) -> int:
    """The connections the client keeps open: twice the requests the mix has in flight.

    Fewer would queue requests behind slow ones; many more cost the client CPU (httpx
    scans its pool on every request) and lower the rate it can sustain.
    """
    busy = rps * sum(share * KINDS[kind].typical for kind, share in mix.items())
    return max(10, min(512, math.ceil(2 * busy)))


def drive(
    url: str,
    rps: float,
    duration: float,
    mix: Mapping[str, float],
    on_tick: Callable[[Tick], None] | None = None,
    *,
    max_in_flight: int = 2000,
    timeout: float = 10.0,
    seed: int | None = None,
) -> Run:
    """Drive ``url`` at ``rps`` for ``duration`` seconds; Ctrl-C stops it with what it has."""
    run = Run(rps, duration, dict(mix))
    cpu = time.process_time()
    try:
        asyncio.run(_drive(run, url, on_tick, max_in_flight, timeout, random.Random(seed)))  # noqa: S311 - choosing request kinds
    except KeyboardInterrupt:
        run.interrupted = True
    run.cpu_seconds = time.process_time() - cpu
    run.samples.sort(key=lambda s: s.start)
    return run


async def _drive(
    run: Run,
    url: str,
    on_tick: Callable[[Tick], None] | None,
    max_in_flight: int,
    timeout: float,
    rng: random.Random,
) -> None:
    """A scheduler puts each request on a queue at its time; a fixed set of workers sends.

    A request's latency counts from its scheduled time, so a wait for a free worker is
    latency too. The queue holds at most ``max_in_flight``; a request beyond is dropped.
    """
    kinds = list(run.mix)
    weights = [run.mix[k] for k in kinds]
    workers = connections(run.target_rps, run.mix)
    queue: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
    busy = [0]
    began = time.monotonic()
    base = url.rstrip("/")
    limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}

    # httpx's own transport (httpcore) without the client's request and response models:
    # 0.96 ms of CPU per request instead of 1.44 ms, the difference between 450 and 600
    # requests/s on 2 cores (benchmarks/load.py).
    async with httpcore.AsyncConnectionPool(max_connections=workers) as client:
        requests = {k: _request(base, KINDS[k]) for k in kinds}

        async def worker() -> None:
            while True:
                start, kind = await queue.get()
                method, target, headers, body = requests[kind]
                busy[0] += 1
                try:
                    answer = await client.request(
                        method, target, headers=headers, content=body,
                        extensions={"timeout": limits},
                    )  # fmt: skip
                    status, error = answer.status, ""
                except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
                        httpcore.UnsupportedProtocol, OSError) as exc:  # fmt: skip
                    status, error = 0, f"{type(exc).__name__}: {exc}"[:200]
                finally:
                    busy[0] -= 1
                latency = time.monotonic() - began - start
                run.samples.append(Sample(start, latency, kind, status, error))
                queue.task_done()

        senders = [asyncio.create_task(worker()) for _ in range(workers)]
        total = math.floor(run.target_rps * run.duration)
        sent = 0
        next_tick = 1.0
        try:
            while sent < total:
                now = time.monotonic() - began
                due = min(total, math.floor(now * run.target_rps) + 1)
                for _ in range(due - sent):
                    start = sent / run.target_rps
                    sent += 1
                    if queue.qsize() >= max_in_flight:
                        run.dropped += 1
                        continue
                    queue.put_nowait((start, rng.choices(kinds, weights)[0]))
                if on_tick and now >= next_tick:
                    on_tick(_tick(run, now, sent, queue.qsize() + busy[0]))
                    next_tick += 1.0
                await asyncio.sleep(max(0.0, min(sent / run.target_rps - now, 0.05)))
            await asyncio.wait_for(queue.join(), timeout=timeout)
        except asyncio.CancelledError:
            run.interrupted = True
            await _settle(queue)
        except TimeoutError:
            pass  # the answers still awaited after the timeout are not counted
        finally:
            for sender in senders:
                sender.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
        run.elapsed = time.monotonic() - began
        if on_tick:
            on_tick(_tick(run, run.elapsed, sent, 0))


def _request(base: str, kind: Kind) -> tuple[bytes, str, list[tuple[bytes, bytes]], bytes]:
    """What a worker sends for ``kind``: method, URL, headers and body, made once."""
    headers = [(b"accept", b"application/json"), (b"user-agent", b"mirante-load")]
    body = b""
    if kind.body is not None:
        body = json.dumps(kind.body).encode()
        headers.append((b"content-type", b"application/json"))
    return kind.method.encode(), f"{base}{kind.path}", headers, body


async def _settle(queue: asyncio.Queue[tuple[float, str]]) -> None:
    """After Ctrl-C: drop what was not sent, give what is in flight a moment to answer."""
    while not queue.empty():
        queue.get_nowait()
        queue.task_done()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(queue.join(), timeout=2.0)


def _tick(run: Run, now: float, sent: int, in_flight: int) -> Tick:
    recent = [s for s in run.samples[-2000:] if s.start >= now - 5.0]
    return Tick(
        elapsed=now,
        duration=run.duration,
        sent=sent,
        achieved_rps=len(run.samples) / now if now > 0 else 0.0,
        errors=sum(s.failed for s in run.samples),
        p95=percentile([s.latency for s in recent], 95),
        in_flight=in_flight,
        dropped=run.dropped,
    )


@dataclass(frozen=True)
class ClientFigures:
    """The client's view of a span of time: rate, errors, latency percentiles (seconds)."""

    start: float
    seconds: float
    requests: int
    achieved_rps: float
    errors: int
    error_rate: float
    p50: float | None
    p95: float | None
    p99: float | None


def figures(samples: Sequence[Sample], start: float, seconds: float) -> ClientFigures:
    """The figures of the requests that started within ``[start, start + seconds)``."""
    inside = [s for s in samples if start <= s.start < start + seconds]
    latencies = [s.latency for s in inside if s.status]
    errors = sum(s.failed for s in inside)
    return ClientFigures(
        start=start,
        seconds=seconds,
        requests=len(inside),
        achieved_rps=len(inside) / seconds if seconds > 0 else 0.0,
        errors=errors,
        error_rate=errors / len(inside) if inside else 0.0,
        p50=percentile(latencies, 50),
        p95=percentile(latencies, 95),
        p99=percentile(latencies, 99),
    )


def windows(run: Run, width: float = WINDOW) -> list[ClientFigures]:
    """The client figures per window of ``width`` seconds (the last one may be shorter)."""
    span = run.elapsed if run.interrupted else min(run.elapsed, run.duration)
    count = max(1, math.ceil(span / width - 1e-9))
    return [figures(run.samples, i * width, min(width, span - i * width)) for i in range(count)]
