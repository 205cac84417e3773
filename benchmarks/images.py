"""images.save against a bare `docker save | zstd -T0` of the same images.

Both write the same images to a file on the same disk: `invoke images.save` (the whole
command, as a user runs it: image plan, docker save, multi-threaded zstd, sha256, fsync,
manifest) and the shell pipeline `docker save REFS | zstd -T0 -q -o FILE`. Runs alternate;
the medians give a throughput ratio, target >= 0.9. `images.load` of the bundle (sha256
of every byte first, then the load) is timed against `zstd -dc FILE | docker load`.

Run: `python benchmarks/images.py [--runs N]` (or `nox -s bench`). It saves the images of
this checkout's stack (building the local ones that are missing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(argv: list[str], **options: object) -> float:
    """Seconds one command takes; it must succeed."""
    started = time.perf_counter()
    subprocess.run(argv, check=True, cwd=REPO, **options)  # type: ignore[call-overload]
    return time.perf_counter() - started


def main() -> int:
    """Run the image bundle benchmark and print its figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mirante-bench-images-"))
    quiet = {"stdout": subprocess.DEVNULL}
    ours_file, bare_file = work / "bundle.tar", work / "bare.tar.zst"
    invoke = [sys.executable, "-m", "invoke"]
    print("warming up: one images.save (builds what is missing) ...")
    timed([*invoke, "images.save", "--output", str(ours_file)], **quiet)
    with tarfile.open(ours_file) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
    refs = [image["ref"] for image in manifest["images"]]
    raw = manifest["payload"]["uncompressed"]
    print(f"{len(refs)} images, {raw / 2**20:.0f} MiB as a docker save tar")
    ours, bare = [], []
    for _ in range(args.runs):
        bare_file.unlink(missing_ok=True)
        bare.append(
            timed(["sh", "-c", 'docker save "$@" | zstd -T0 -q -o "$0"', str(bare_file), *refs])
        )
        ours_file.unlink(missing_ok=True)
        ours.append(timed([*invoke, "images.save", "--output", str(ours_file)], **quiet))
    load_ours = timed([*invoke, "images.load", str(ours_file)], **quiet)
    load_bare = timed(["sh", "-c", 'zstd -dc "$0" | docker load', str(bare_file)], **quiet)
    for path in (ours_file, bare_file):
        path.unlink(missing_ok=True)
    work.rmdir()
    mib = raw / 2**20
    bare_rate, our_rate = mib / statistics.median(bare), mib / statistics.median(ours)
    ratio = our_rate / bare_rate
    print(
        f"docker save | zstd -T0: median {statistics.median(bare):.2f} s "
        f"[{', '.join(f'{t:.2f}' for t in bare)}] = {bare_rate:.0f} MiB/s"
    )
    print(
        f"invoke images.save:     median {statistics.median(ours):.2f} s "
        f"[{', '.join(f'{t:.2f}' for t in ours)}] = {our_rate:.0f} MiB/s"
    )
    print(
        f"throughput ratio images.save / bare: {ratio:.3f} (target >= 0.90) -> "
        + ("OK" if ratio >= 0.9 else "UNDER TARGET")
    )
    print(
        f"invoke images.load {load_ours:.2f} s (verifies every byte first) against "
        f"zstd -dc | docker load {load_bare:.2f} s: ratio {load_bare / load_ours:.3f}"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
