"""`invoke load`: a load on the app, what the stack ingested, and the cost per environment."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante.tasks._cli import exits_cleanly, flag_number, styled, table

if TYPE_CHECKING:
    from mirante.load import Result
    from mirante.load.generator import Tick

HELP = {
    "rps": "requests per second to send (default 50)",
    "duration": "seconds to run (default 60)",
    "mix": "request kinds and weights: healthy, llm, slow, errors "
    "(default healthy=85,llm=10,slow=3,errors=2)",
    "env": "local (the compose stack, default), or dev, staging, prod (their urls.app)",
    "report": "directory of the report (default artifacts/load/<UTC time>)",
}


@task(help=HELP)
@exits_cleanly
def load(
    c: Context,
    rps: str = "50",
    duration: str = "60",
    mix: str = "",
    env: str = "local",
    report: str = "",
) -> None:
    """Drive the app at a rate; measure ingestion; project storage and cost per environment."""
    from mirante import load as load_mod
    from mirante.load import generator
    from mirante.load import report as report_mod

    settings = settings_mod.load()
    options = load_mod.Options(
        rps=flag_number("rps", rps, 0, 100_000, "a rate above 0", above_low=True),
        duration=flag_number("duration", duration, 0, 86_400, "seconds above 0", above_low=True),
        mix=mix or generator.DEFAULT_MIX,
        env=env,
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = Path(report) if report else settings.root / load_mod.REPORTS / stamp
    with _Progress() as progress:
        result = load_mod.run_load(settings, options, progress.tick, progress.step)
    paths = report_mod.write(result, directory)
    _render(result)
    print(f"report: {paths[-1]} (and report.json, {len(paths) - 2} plots beside it)")
    if result.run.interrupted:
        raise Exit("interrupted: the report holds what was measured until then", code=130)


class _Progress:
    """A live line while the load runs: achieved rps, errors, p95, in flight."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(stderr=True)
        self.live: Live | None = None
        if console.is_terminal:
            self.live = Live("starting...", console=console, refresh_per_second=4, transient=True)
        self.plain_shown = -1

    def __enter__(self) -> _Progress:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def tick(self, t: Tick) -> None:
        p95 = "-" if t.p95 is None else f"{t.p95 * 1000:.0f} ms"
        line = (
            f"load: {t.elapsed:4.0f}/{t.duration:g} s  {t.achieved_rps:7.1f} rps  "
            f"errors {t.errors}  p95 {p95}  in flight {t.in_flight}"
            + (f"  not sent {t.dropped}" if t.dropped else "")
        )
        if self.live is not None:
            self.live.update(line)
        elif int(t.elapsed // 10) > self.plain_shown:  # logs and CI: a line per 10 s
            self.plain_shown = int(t.elapsed // 10)
            print(line, file=sys.stderr, flush=True)

    def step(self, what: str) -> None:
        print(f"load: {what}", file=sys.stderr, flush=True)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _render(result: Result) -> None:
    from mirante.load import generator

    run = result.run
    total = generator.figures(run.samples, 0.0, sum(w.seconds for w in generator.windows(run)))
    table(
        "at the client",
        ("requests", "achieved rps", "errors", "p50 ms", "p95 ms", "p99 ms", "not sent"),
        [(total.requests, f"{total.achieved_rps:.1f}", f"{total.errors} ({total.error_rate:.1%})",
          _ms(total.p50), _ms(total.p95), _ms(total.p99), run.dropped)],
    )  # fmt: skip
    ingest = result.ingest
    figures = [
        *ingest.rates.items(),
        ("head series before", ingest.head_series_before),
        ("head series after", ingest.head_series_after),
        ("bytes per sample", ingest.bytes_per_sample),
    ]
    table(
        "in the stack",
        ("figure", "value"),
        [
            (name, f"{f.value:,.2f} {f.unit}")
            if f.value is not None
            else (name, styled("not measured", "yellow") + f": {f.reason}")
            for name, f in figures
        ],
    )
    currency = result.pricing.currency
    for p in result.projections:
        table(
            f"{p.env}: {currency} per month",
            ("item", "rate", "GB/day", "GB/month", "retention", "GB held", "on", "per month"),
            [
                (line.item, line.rate, _num(line.gb_day, 3), _num(line.gb_month, 2),
                 "" if line.retention_days is None else f"{line.retention_days:g} d",
                 _num(line.gb_held, 2), line.where,
                 _num(line.cost, 2) if line.cost is not None else (line.reason or "-"))
                for line in p.lines
            ],
        )  # fmt: skip
        excluded = f" (without {', '.join(p.excluded)}: not measured)" if p.excluded else ""
        print(f"  total {_num(p.total, 2)} {currency}/month{excluded}; {p.dominant}")
