"""Whole-command benchmarks for mirante; prints figures and ratios against their targets.

- `invoke --list` must stay under 0.5 s (heavy imports are lazy).
- `invoke stack.up` on warm images must be within 1.05x of a bare
  `docker compose up -d --wait` of the same services (5 runs each, stack down between runs).
- `invoke health` on the healthy stack must answer in under 3 s (every check, concurrently).

Run: `nox -s bench` or `python benchmarks/run.py [--runs N]`. Uses its own compose project
and ports, so a running developer stack is not touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mirante.files import linked_checkout
from mirante.services import compose_names, select

REPO = Path(__file__).resolve().parents[1]

PROJECT = "mirantebench"
PORTS = {
    "PROMETHEUS": 29090,
    "ALERTMANAGER": 29093,
    "GRAFANA": 23000,
    "LOKI": 23100,
    "TEMPO": 23200,
    "OTLP_GRPC": 24317,
    "OTLP_HTTP": 24318,
    "NODE_EXPORTER": 29100,
    "POSTGRES": 25432,
    "APP": 28000,
    "TEMPO_OTLP": 24418,
}
SERVICES = ["prometheus", "alertmanager", "node-exporter", "postgres", "app"]


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds one command takes; it must succeed."""
    started = time.perf_counter()
    subprocess.run(
        argv, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return time.perf_counter() - started


STATIC_GATES = "compose,prometheus,alertmanager,dashboards,environment"


def bench_gates(invoke: list[str], env: dict[str, str]) -> None:
    """Time the static gates (3 runs) and print the median against its target."""
    static = [timed([*invoke, "gates", "--only", STATIC_GATES], env) for _ in range(3)]
    median = statistics.median(static)
    print(
        f"static gates: median {median:.2f} s over 3 runs (target < 10 s) -> "
        + ("OK" if median < 10 else "OVER TARGET")
    )
    nox = [sys.executable, "-m", "nox", "-s", "gates", "--reuse-existing-virtualenvs"]
    timed(nox, env)  # warm: the venv exists afterwards
    full = timed(nox, env)
    print(
        f"nox -s gates (warm images, reused venv): {full:.1f} s (target < 90 s) -> "
        + ("OK" if full < 90 else "OVER TARGET")
    )


def bench_health(invoke: list[str], env: dict[str, str], runs: int) -> None:
    """Wall time of the whole `invoke health` command, process start included."""
    times, statuses = [], set()
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [*invoke, "health", "--json"], cwd=REPO, env=env, capture_output=True, text=True
        )
        times.append(time.perf_counter() - started)
        statuses.add(
            json.loads(done.stdout)["status"] if done.stdout else f"exit {done.returncode}"
        )
    median = statistics.median(times)
    print(
        f"invoke health ({', '.join(sorted(statuses))}): median {median:.2f} s, max "
        f"{max(times):.2f} s over {runs} runs (target < 3 s) -> "
        + ("OK" if max(times) < 3 else "OVER TARGET")
    )


def main() -> int:
    """Run the command benchmarks and print their figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gates", action="store_true", help="also time the quality gates")
    args = parser.parse_args()
    invoke = [sys.executable, "-m", "invoke"]
    env = {**os.environ}

    lists = [timed([*invoke, "--list"], env) for _ in range(args.runs)]
    list_median = statistics.median(lists)
    print(
        f"invoke --list: median {list_median:.3f} s over {args.runs} runs (target < 0.500 s)"
        f" -> {'OK' if list_median < 0.5 else 'OVER TARGET'}"
    )

    root = linked_checkout(REPO, Path(tempfile.mkdtemp(prefix="mirante-bench-")) / "checkout")
    env.update({f"MIRANTE_{k}_PORT": str(v) for k, v in PORTS.items()})
    env.update(MIRANTE_PROJECT_NAME=PROJECT, MIRANTE_ROOT=str(root))
    down = [*invoke, "stack.down", "--volumes", "--yes"]
    try:
        timed([*invoke, "stack.up", "--services", ",".join(SERVICES)], env)  # warm: build, env file
        timed(down, env)
        compose = [
            "docker",
            "compose",
            "--env-file",
            str(root / ".mirante/compose.env"),
            "-f",
            str(root / "compose/docker-compose.yml"),
            "-p",
            PROJECT,
            "up",
            "-d",
            "--wait",
            "--pull",
            "never",
            # The same compose services stack.up names: the app's role one-shot included.
            *compose_names(select(SERVICES)),
        ]
        bare, ours = [], []
        for _ in range(args.runs):
            bare.append(timed(compose, env))
            timed(down, env)
            ours.append(timed([*invoke, "stack.up", "--services", ",".join(SERVICES)], env))
            timed(down, env)
        timed([*invoke, "stack.up", "--services", ",".join(SERVICES)], env)
        bench_health(invoke, env, args.runs)
        if args.gates:
            bench_gates(invoke, env)
    finally:
        subprocess.run(down, cwd=REPO, env=env, check=False, capture_output=True)
        shutil.rmtree(root.parent, ignore_errors=True)
    bare_median, ours_median = statistics.median(bare), statistics.median(ours)
    ratio = ours_median / bare_median
    print(
        f"docker compose up -d --wait ({len(SERVICES)} services): median {bare_median:.2f} s "
        f"[{', '.join(f'{t:.2f}' for t in bare)}]"
    )
    print(
        f"invoke stack.up              ({len(SERVICES)} services): median {ours_median:.2f} s "
        f"[{', '.join(f'{t:.2f}' for t in ours)}]"
    )
    print(
        f"ratio stack.up / compose: {ratio:.3f} (target <= 1.05) -> "
        + ("OK" if ratio <= 1.05 else "OVER TARGET")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
