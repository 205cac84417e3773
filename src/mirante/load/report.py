"""The load report: report.json, PNG plots and a report.html that opens offline."""

from __future__ import annotations

import base64
import html
import json
import math
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mirante.load import Result


def write(result: Result, directory: Path) -> list[Path]:
    """Write report.json, the plots and report.html into ``directory``; their paths.

    They are made in a scratch directory beside it and moved in once all exist: a failure
    half-way leaves no partial report.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{directory.name}.partial-", dir=directory.parent))
    try:
        document = result.as_json()
        report = scratch / "report.json"
        report.write_text(json.dumps(document, indent=2, default=str) + "\n")
        plots = _plots(document, scratch)
        page = scratch / "report.html"
        page.write_text(_html(document, plots))
        directory.mkdir(exist_ok=True)
        written = []
        for made in (report, *plots, page):
            made.replace(directory / made.name)
            written.append(directory / made.name)
        return written
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _plots(document: dict[str, Any], directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    windows = document["client"]["windows"]
    t = [w["start"] + w["seconds"] for w in windows]
    written = []

    def save(name: str, figure: Any) -> None:
        path = directory / f"{name}.png"
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)

    figure, axis = plt.subplots(figsize=(8, 3.6))
    for q in ("p50", "p95", "p99"):
        axis.plot(t, [_ms(w[q]) for w in windows], marker="o", label=q)
    axis.set(title="Latency at the client, per 10 s window", xlabel="s from start", ylabel="ms")
    axis.legend()
    axis.grid(alpha=0.3)
    save("latency", figure)

    figure, axis = plt.subplots(figsize=(8, 3.6))
    axis.axhline(document["options"]["rps"], color="grey", linestyle="--", label="target")
    axis.plot(t, [w["achieved_rps"] for w in windows], marker="o", label="achieved")
    axis.plot(t, [w["errors"] / w["seconds"] if w["seconds"] else 0 for w in windows],
              marker="x", label="errors/s")  # fmt: skip
    axis.set(title="Requests per second", xlabel="s from start", ylabel="requests/s")
    axis.legend()
    axis.grid(alpha=0.3)
    save("rps", figure)

    load_end = document["client"]["seconds"]
    rates = document["ingest"]["rates"]
    shown = [(name, r) for name, r in rates.items() if r.get("series")]
    figure, axes = plt.subplots(max(1, len(shown)), 1, figsize=(8, 1.9 * max(1, len(shown))),
                                sharex=True, squeeze=False)  # fmt: skip
    for axis, (name, rate) in zip(axes[:, 0], shown, strict=False):
        axis.plot([p[0] for p in rate["series"]], [p[1] for p in rate["series"]], marker=".")
        axis.axvline(load_end, color="grey", linestyle="--", linewidth=0.8)
        axis.set_ylabel(rate["unit"])
        axis.set_title(name, fontsize=9, loc="left")
        axis.grid(alpha=0.3)
    missing = [f"{n}: {r['not_measured']}" for n, r in rates.items() if "not_measured" in r]
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no ingestion was measured", ha="center", va="center")
    if missing:
        figure.text(0.01, 0.005, "not measured: " + "; ".join(m.split(":")[0] for m in missing),
                    fontsize=7)  # fmt: skip
    axes[-1, 0].set_xlabel("s from start")
    figure.suptitle("Ingestion in the stack (Prometheus's rate() of each counter); "
                    "dashed: the load's end", fontsize=10)  # fmt: skip
    save("ingest", figure)
    return written


def _milli(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _ms(seconds: float | None) -> float:
    return math.nan if seconds is None else seconds * 1000  # a gap in the plot


def _html(document: dict[str, Any], plots: Sequence[Path]) -> str:
    """One self-contained page: the tables, and the plots embedded as data URIs."""
    e = html.escape
    options = document["options"]
    client = document["client"]["total"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>mirante load: {e(options['env'])} at {options['rps']:g} rps</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}.nm{color:#a40}</style></head><body>",
        f"<h1>Load report: {e(options['env'])}, {options['rps']:g} rps for "
        f"{options['duration']:g} s</h1>",
        f"<p>{e(document['started'])}; mix {e(options['mix'])}; target {e(options['url'])}"
        + (" <b>(interrupted)</b>" if document["client"]["interrupted"] else "")
        + "</p><h2>At the client</h2>",
        _table(
            [
                "requests",
                "achieved rps",
                "errors",
                "error rate",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "not sent (generator saturated)",
            ],
            [
                [
                    client["requests"],
                    f"{client['achieved_rps']:.1f}",
                    client["errors"],
                    f"{client['error_rate']:.2%}",
                    _num(_milli(client["p50"])),
                    _num(_milli(client["p95"])),
                    _num(_milli(client["p99"])),
                    document["client"]["dropped"],
                ]
            ],
        ),
        "<h2>In the stack</h2>",
        _table(["figure", "value", "source"], _figure_rows(document)),
    ]
    usage = document["containers"]
    if "not_measured" in usage:
        parts.append(f"<p class='nm'>containers: not measured: {e(usage['not_measured'])}</p>")
    else:
        parts.append(_table(
            ["container", "CPU cores mean", "CPU cores max", "MiB mean", "MiB max"],
            [[name, f"{u['cpu_cores']['mean']:.2f}", f"{u['cpu_cores']['max']:.2f}",
              f"{u['memory_mib']['mean']:.0f}", f"{u['memory_mib']['max']:.0f}"]
             for name, u in usage["services"].items()],
        ))  # fmt: skip
    currency = document["pricing"]["currency"]
    parts.append(f"<h2>Projection per environment ({e(currency)} per month)</h2>")
    for projection in document["projections"]:
        parts.append(f"<h3>{e(projection['env'])}</h3>")
        parts.append(_table(
            ["item", "rate", "GB/day", "GB/month", "retention d", "GB held", "on", "per month"],
            [[line["item"], line["rate"] or line["reason"], _num(line["gb_day"], 3),
              _num(line["gb_month"], 2), _num(line["retention_days"], 1),
              _num(line["gb_held"], 2), line["where"], _num(line["cost"], 2)]
             for line in projection["lines"]],
        ))  # fmt: skip
        total = projection["total_per_month"]
        parts.append(f"<p>total: {_num(total, 2)} {e(currency)}; {e(projection['dominant'])}</p>")
        if projection["notes"]:
            items = "".join(f"<li>{e(n)}</li>" for n in projection["notes"])
            parts.append(f"<ul>{items}</ul>")
    parts.append("<h2>Prices used</h2>")
    prices = document["pricing"]["prices"]
    parts.append(_table(
        ["price", "value", "as of", "source"],
        [[k, p["value"], p["as_of"], p["source"]] for k, p in prices.items()],
    ))  # fmt: skip
    parts.append("<h2>Over time</h2>")
    for plot in plots:
        data = base64.b64encode(plot.read_bytes()).decode("ascii")
        parts.append(
            f"<p><img alt='{e(plot.stem)}' src='data:image/png;base64,{data}'><br>"
            f"<a href='{e(plot.name)}'>{e(plot.name)}</a></p>"
        )
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _figure_rows(document: dict[str, Any]) -> list[list[Any]]:
    ingest = document["ingest"]
    rows = []
    named = [(n, r) for n, r in ingest["rates"].items()]
    named += [(n, ingest[n]) for n in ("head_series_before", "head_series_after",
                                       "bytes_per_sample")]  # fmt: skip
    for name, figure in named:
        if figure.get("value") is None:
            value = f"not measured: {figure['not_measured']}"
        else:
            value = f"{figure['value']:,.2f} {figure['unit']}"
        rows.append([name.replace("_", " "), value, figure.get("source", "")])
    return rows


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"
