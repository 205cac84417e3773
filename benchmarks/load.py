"""Load benchmarks: the generator's ceiling, and the projection's bytes per sample.

- The highest rate `invoke load`'s generator sustains against the app's GET /healthcheck
  on this machine, and the generator's own CPU use; target >= 500 requests/s on 2 cores.
  Steps of 10 s at rising rates; a step is sustained when every request was sent on time
  (achieved >= 98 % of the target, none dropped, no error) and the p99 stays under 1 s.
  Measured twice: through the published port (what a user drives, through Docker's port
  proxy) and at the container's address (the generator alone).
- How far the bytes per sample `invoke load` projects with (the TSDB's compaction
  histograms) is from what the TSDB wrote: a Prometheus of the pinned image with 2-minute
  blocks scrapes the app, node-exporter and itself every second until it has compacted
  a block; then its block's chunk files / its meta.json's samples. Target: within 25 %.

Run: `python benchmarks/load.py` (or `nox -s bench`); about 6 minutes. It uses the
benchmark compose project and ports, so a running developer stack is not touched.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from run import PORTS, PROJECT  # noqa: E402

from mirante import settings, stack, waits  # noqa: E402
from mirante.files import linked_checkout  # noqa: E402
from mirante.load import generator, signals  # noqa: E402

RATES = (300, 400, 500, 600, 700, 800, 1000, 1200)
STEP_SECONDS = 10
TARGET_RPS = 500
BLOCK = "2m"


def sustained(url: str) -> tuple[float, float, list[str]]:
    """The highest sustained rate at ``url``, the generator's cores there, and each step."""
    best, cores, lines = 0.0, 0.0, []
    for rps in RATES:
        run = generator.drive(url, rps, STEP_SECONDS, {"healthy": 1.0})
        figures = generator.figures(run.samples, 0, STEP_SECONDS)
        used = run.cpu_seconds / run.elapsed
        ok = (
            figures.requests >= 0.98 * rps * STEP_SECONDS
            and run.elapsed <= STEP_SECONDS * 1.1
            and run.dropped == 0
            and figures.errors == 0
            and (figures.p99 or 0) < 1.0
        )
        lines.append(
            f"  {rps:5d} rps: achieved {len(run.samples) / run.elapsed:6.1f}, p50 "
            f"{(figures.p50 or 0) * 1000:6.1f} ms, p99 {(figures.p99 or 0) * 1000:7.1f} ms, "
            f"errors {figures.errors}, generator {used:.2f} cores -> "
            + ("sustained" if ok else "not sustained")
        )
        if not ok:
            break
        best, cores = rps, used
    return best, cores, lines


def compacted_bytes_per_sample(config: settings.Settings, work: Path) -> None:
    """Run a Prometheus with short blocks until it compacts; compare projected and written."""
    from mirante.tools.docker import client

    docker = client(config)
    states = stack.container_states(docker, config)
    image = states["prometheus"].config.image
    network = next(iter(states["prometheus"].network_settings.networks or {}))
    conf = work / "bench-prometheus"
    conf.mkdir()
    (conf / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\nscrape_configs:\n"
        "  - job_name: prometheus\n    static_configs: [{targets: [localhost:9090]}]\n"
        "  - job_name: node-exporter\n    static_configs: [{targets: [node-exporter:9100]}]\n"
        "  - job_name: app\n    static_configs: [{targets: [app:8000]}]\n"
    )
    conf.chmod(0o755)  # read by the container's user (nobody)
    (conf / "prometheus.yml").chmod(0o644)
    name = f"{PROJECT}-bytes-per-sample"
    if docker.container.exists(name):
        docker.container.remove(name, force=True, volumes=True)
    container = docker.run(
        image,
        [
            "--config.file=/etc/bench/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            f"--storage.tsdb.min-block-duration={BLOCK}",
            f"--storage.tsdb.max-block-duration={BLOCK}",
        ],
        name=name,
        detach=True,
        networks=[network],
        publish=[("127.0.0.1:29190", 9090)],
        volumes=[(conf, "/etc/bench", "ro")],
    )
    prometheus = signals.Prometheus("http://127.0.0.1:29190")
    try:
        started = time.monotonic()

        def compacted() -> bool:
            try:
                done = prometheus.scalar("sum(prometheus_tsdb_compactions_total)") or 0
            except requests.RequestException:
                return False
            print(f"  waiting for the first compaction: {time.monotonic() - started:.0f} s",
                  flush=True)  # fmt: skip
            return done >= 1

        if not waits.until(compacted, 900, 10.0):
            raise SystemExit("no compaction within 15 minutes")
        projected = signals.bytes_per_sample(prometheus)
        data = work / "tsdb"
        docker.copy((container, "/prometheus"), data)
    finally:
        docker.container.remove(container, force=True, volumes=True)
    blocks = [m.parent for m in data.rglob("meta.json")]
    samples = sum(json.loads((b / "meta.json").read_text())["stats"]["numSamples"] for b in blocks)
    chunk_bytes = sum(f.stat().st_size for b in blocks for f in (b / "chunks").iterdir())
    block_bytes = sum(f.stat().st_size for b in blocks for f in b.rglob("*") if f.is_file())
    written = chunk_bytes / samples
    if projected.value is None:
        raise SystemExit(f"no projected bytes per sample: {projected.reason}")
    ratio = projected.value / written
    print(f"blocks compacted: {len(blocks)}, {samples} samples, chunk files {chunk_bytes} B, "
          f"whole blocks {block_bytes} B")  # fmt: skip
    print(f"projected (the TSDB's compaction histograms): {projected.value:.3f} B/sample")
    print(f"written (chunk files / samples):              {written:.3f} B/sample")
    print(f"whole blocks with their index / samples:      {block_bytes / samples:.3f} B/sample "
          f"(the index weighs more in {BLOCK} blocks than in 2 h ones)")  # fmt: skip
    print(
        f"projected / written: {ratio:.3f} (target within 25 %: 0.75 to 1.25) -> "
        + ("OK" if 0.75 <= ratio <= 1.25 else "OFF TARGET")
    )
    assumed = 1.5
    print(f"before a compaction the projection assumes {assumed} B/sample: "
          f"{assumed / written:.2f} x what was written")  # fmt: skip


def main() -> int:
    """Run both benchmarks and print their figures and ratios."""
    work = Path(tempfile.mkdtemp(prefix="mirante-bench-load-"))
    root = linked_checkout(REPO, work / "checkout")
    env = {f"MIRANTE_{k}_PORT": str(v) for k, v in PORTS.items()}
    env.update(MIRANTE_PROJECT_NAME=PROJECT, MIRANTE_ROOT=str(root), MIRANTE_TRAFFIC_RPS="0")
    config = settings.load(root, environ=env)
    try:
        stack.up(config, ["prometheus", "node-exporter", "app"])
        from mirante.tools.docker import client

        app = stack.container_states(client(config), config)["app"]
        address = next(iter((app.network_settings.networks or {}).values())).ip_address
        print(f"generator ceiling, steps of {STEP_SECONDS} s ({os.cpu_count()} cores):")
        results = {}
        for label, url in (
            ("published port", f"http://127.0.0.1:{PORTS['APP']}"),
            ("container address", f"http://{address}:8000"),
        ):
            print(f" {label} ({url}):")
            best, cores, lines = sustained(url)
            print("\n".join(lines))
            results[label] = (best, cores)
        for label, (best, cores) in results.items():
            print(f"highest sustained, {label}: {best:.0f} rps with the generator at "
                  f"{cores:.2f} cores; ratio to {TARGET_RPS}: {best / TARGET_RPS:.2f} -> "
                  + ("OK" if best >= TARGET_RPS else "UNDER TARGET"))  # fmt: skip
        print(f"bytes per sample ({BLOCK} blocks, scrapes every second):")
        compacted_bytes_per_sample(config, work)
    finally:
        stack.down(config, volumes=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
