"""Backup benchmarks: throughput against a bare `tar | zstd -T0`, and verify throughput.

- `invoke backup` of a Prometheus volume of at least 200 MB, against a bare
  `tar -cf - . | zstd -T0` of the same volume in one container: ratio of throughputs,
  target >= 0.9.
- `backup.verify` of that set: target >= 200 MiB/s.

The volume is filled once with real TSDB blocks (`promtool tsdb create-blocks-from
openmetrics` of random samples, which compress as badly as real data at worst) and kept
for the next run (`docker volume rm mirantebench_prometheus_data` frees it).

Run: `python benchmarks/backup.py [--runs N]` (or `nox -s bench`). It uses the benchmark
compose project and ports, so a running developer stack is not touched.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from run import PORTS, PROJECT  # noqa: E402

from mirante import backup, images, settings, stack  # noqa: E402
from mirante.files import linked_checkout  # noqa: E402
from mirante.tools.docker import run_container  # noqa: E402

TARGET_BYTES = 200_000_000  # the minimum
FILL_BYTES = 250_000_000  # what fill() aims at, comfortably above it
SERIES = 3_400
SAMPLES = 5_000  # per series and part; two parts (one per core), 15 s apart


def volume_bytes(config: settings.Settings, docker: object) -> int:
    """Bytes in the Prometheus volume of the benchmark project."""
    out = backup.helper(
        config,
        docker,  # type: ignore[arg-type]
        "du -sb /data | cut -f1",
        [(backup.volume_name(config, "prometheus"), "/data", "ro")],
    )
    return int(out.strip().splitlines()[-1])


def openmetrics(path: Path, part: int, start: int) -> None:
    """Write one OpenMetrics file of synthetic series for ``promtool tsdb create-blocks-from``."""
    rng = random.Random(part)  # noqa: S311 (seeded test data, not secrets)
    with path.open("w") as out:
        out.write("# TYPE bench_value gauge\n")
        for series in range(SERIES):
            stamp = start + part * SAMPLES * 15
            out.write(
                "".join(
                    f'bench_value{{series="{series}"}} {rng.random():.9f} {stamp + i * 15}\n'
                    for i in range(SAMPLES)
                )
            )
        out.write("# EOF\n")


def fill(config: settings.Settings, docker: object, work: Path) -> None:
    """Real TSDB blocks of random samples, copied into the stopped Prometheus's volume."""
    print("filling the Prometheus volume with TSDB blocks (once; kept for later runs) ...")
    started = time.perf_counter()
    start = int(time.time()) - 2 * SAMPLES * 15 - 3600  # inside the retention, in the past
    blocks = work / "blocks"
    image = str(stack.container_states(docker, config)["prometheus"].config.image)  # type: ignore[arg-type]

    def part(index: int) -> None:
        text = work / f"part{index}.om"
        openmetrics(text, index, start)
        run_container(
            docker,  # type: ignore[arg-type]
            image,
            ["tsdb", "create-blocks-from", "openmetrics", str(text), str(blocks)],
            entrypoint="promtool",
            user=f"{os.getuid()}:{os.getgid()}",
            volumes=[(str(work), str(work), "rw")],
        )
        text.unlink()

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(part, range(2)))
    docker.compose.stop(["prometheus"])  # type: ignore[attr-defined]
    backup.helper(
        config,
        docker,  # type: ignore[arg-type]
        "owner=$(stat -c %u:%g /data/wal) && find /data -mindepth 1 -delete && "
        'cp -a /in/. /data/ && chown -R "$owner" /data',
        [(backup.volume_name(config, "prometheus"), "/data", "rw"), (str(blocks), "/in", "ro")],
        as_root=True,
    )
    stack.up(config, ["prometheus"])
    print(f"  filled in {time.perf_counter() - started:.0f} s")


def bare_archive(config: settings.Settings, docker: object, out: Path) -> float:
    """Seconds a bare ``tar | zstd -T0`` of the Prometheus volume takes."""
    started = time.perf_counter()
    backup.helper(
        config,
        docker,  # type: ignore[arg-type]
        "tar -C /data -cf - . | zstd -T0 -q -o /out/bare.tar.zst",
        [(backup.volume_name(config, "prometheus"), "/data", "ro"), (str(out), "/out", "rw")],
    )
    elapsed = time.perf_counter() - started
    (out / "bare.tar.zst").unlink()
    return elapsed


def main() -> int:
    """Run the backup benchmark and print its figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mirante-bench-backup-"))
    root = linked_checkout(REPO, work / "checkout")
    env = {f"MIRANTE_{k}_PORT": str(v) for k, v in PORTS.items()}
    env.update(
        MIRANTE_PROJECT_NAME=PROJECT,
        MIRANTE_ROOT=str(root),
        MIRANTE_BACKUP_DIR=str(work / "backups"),
    )
    config = settings.load(root, environ=env)
    try:
        stack.up(config, ["prometheus"])
        project = stack.write_project_files(config)
        config, docker = project.settings, project.docker
        images.ensure_tool_image(config, docker, "backup-tools")
        if volume_bytes(config, docker) < FILL_BYTES * 0.95:
            fill(config, docker, work)
        size = volume_bytes(config, docker)
        if size < TARGET_BYTES:
            raise SystemExit(f"the Prometheus volume holds {size} bytes, under {TARGET_BYTES}")
        bare, ours, verify, set_bytes = [], [], [], 0
        for _ in range(args.runs):
            bare.append(bare_archive(config, docker, work))
            started = time.perf_counter()
            made = backup.create(config, ["prometheus"])
            ours.append(time.perf_counter() - started)
            set_bytes = made.size
            started = time.perf_counter()
            _, checks = backup.verify(config, made.name)
            verify.append(time.perf_counter() - started)
            if not all(c.ok for c in checks):
                raise SystemExit(f"verify failed: {checks}")
            shutil.rmtree(made.path)
    finally:
        stack.down(config)  # the filled volume stays for the next run
        shutil.rmtree(work, ignore_errors=True)
    mb = size / 1e6
    bare_rate, our_rate = mb / statistics.median(bare), mb / statistics.median(ours)
    ratio = our_rate / bare_rate
    verify_rate = set_bytes / 2**20 / statistics.median(verify)
    print(f"Prometheus volume: {mb:.0f} MB; archive {set_bytes / 1e6:.0f} MB")
    print(
        f"bare tar | zstd -T0:     median {statistics.median(bare):.2f} s "
        f"[{', '.join(f'{t:.2f}' for t in bare)}] = {bare_rate:.0f} MB/s"
    )
    print(
        f"invoke backup (prometheus): median {statistics.median(ours):.2f} s "
        f"[{', '.join(f'{t:.2f}' for t in ours)}] = {our_rate:.0f} MB/s"
    )
    print(
        f"throughput ratio backup / bare: {ratio:.3f} (target >= 0.90) -> "
        + ("OK" if ratio >= 0.9 else "UNDER TARGET")
    )
    print(
        f"backup.verify: median {statistics.median(verify):.2f} s = {verify_rate:.0f} MiB/s "
        "(target >= 200 MiB/s) -> " + ("OK" if verify_rate >= 200 else "UNDER TARGET")
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
