"""One verified file holding every image the stack uses: ``images.save`` / ``images.load``.

For a machine with no registry. The bundle is a plain tar with two members:

- ``images.tar.zst``: ``docker image save`` of every image (one tar, shared layers stored
  once), compressed with multi-threaded zstd as it streams;
- ``manifest.json``: each image's service, reference, image id and size, the services
  whose image this machine does not have, and the payload's size and sha256.

The payload's header is written last (its size is known only then), so the bundle is
made in one pass. ``load`` checks the manifest and the sha256 of every payload byte
before it hands anything to ``docker image load``, then checks the loaded image ids.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from mirante import images
from mirante.errors import BundleError
from mirante.services import select
from mirante.settings import Settings
from mirante.tools.docker import docker_errors, load_stream, save_stream

if TYPE_CHECKING:
    from python_on_whales import DockerClient

FORMAT = "mirante-images/1"
PAYLOAD = "images.tar.zst"
MANIFEST = "manifest.json"
BLOCK = 512
CHUNK = 1 << 20
Progress = Callable[[int, int], None]  # (bytes done, bytes expected; 0 when not known)


@dataclass(frozen=True)
class BundledImage:
    """One image in a bundle: its reference, id and size."""

    service: str
    ref: str
    id: str
    size: int


@dataclass
class Bundle:
    """A bundle file and the images its manifest lists."""

    path: Path
    images: list[BundledImage]
    absent: dict[str, str]
    size: int
    sha256: str
    seconds: float = 0.0
    loaded: list[str] = field(default_factory=list)


def default_path(settings: Settings) -> Path:
    """Where ``images.save`` writes when no ``--output`` is given."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.root / "artifacts" / "images" / f"mirante-images-{stamp}.tar"


def stack_images(
    settings: Settings, docker: DockerClient, services: Sequence[str] = ()
) -> tuple[list[BundledImage], dict[str, str]]:
    """Every image the selected services run here, and those this machine cannot have.

    All services, with the backup helper, when none are named; the local images that are
    missing are built; each service whose image cannot be had comes with the reason.

    Raises:
        UnknownService: naming the known services.
    """
    selected = select(services)
    source = images.effective_source(settings)
    present = images.present_images(docker)
    choices = images.plan(settings, selected, source, present)
    images.build_missing(settings, lambda: docker, choices, source, present)
    wanted = {c.service: c.image for c in choices.values() if c.available}
    if not services:
        wanted["backup-tools"] = images.ensure_tool_image(settings, docker, "backup-tools")
    absent = {c.service: c.reason for c in choices.values() if not c.available}
    found = []
    with docker_errors():
        for service, ref in sorted(wanted.items()):
            if not docker.image.exists(ref):
                absent[service] = f"{ref} is not on this machine"
                continue
            image = docker.image.inspect(ref)
            found.append(BundledImage(service, ref, str(image.id), int(image.size or 0)))
    return found, absent


def save(
    settings: Settings,
    docker: DockerClient,
    output: Path | None = None,
    services: Sequence[str] = (),
    progress: Progress = lambda done, total: None,
) -> Bundle:
    """Write every image the stack (or the services named) uses into one bundle.

    Raises:
        BundleError: the destination cannot be written; nothing is left behind.
        UnknownService: a name the stack does not define.
        ToolError: docker save failed.
    """
    started = time.monotonic()
    found, absent = stack_images(settings, docker, services)
    if not found:
        raise BundleError("no image of the stack is on this machine: run `invoke stack.up` first")
    made = write(docker, found, absent, (output or default_path(settings)).resolve(), progress)
    made.seconds = time.monotonic() - started
    return made


def write(
    docker: DockerClient,
    found: Sequence[BundledImage],
    absent: Mapping[str, str],
    path: Path,
    progress: Progress = lambda done, total: None,
) -> Bundle:
    """Write ``found`` into the bundle ``path`` (as ``.partial``, fsynced, then renamed).

    Raises:
        BundleError: the destination cannot be written; nothing is left behind.
        ToolError: docker save failed.
    """
    import zstandard

    started = time.monotonic()
    partial = path.with_name(path.name + ".partial")
    digest = hashlib.sha256()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as out:
            out.write(b"\0" * BLOCK)  # the payload's header, written when its size is known
            hashing = _Hashing(out, digest)
            compressor = zstandard.ZstdCompressor(level=3, threads=-1)
            with save_stream(docker, [image.ref for image in found]) as stream:
                # The tar's size is not known beforehand (images share layers): no total.
                reading = _Counting(stream, lambda done: progress(done, 0))
                compressor.copy_stream(
                    cast(IO[bytes], reading),
                    cast(IO[bytes], hashing),
                    read_size=CHUNK,
                    write_size=CHUNK,
                )
            done = reading.count
            size = hashing.count
            out.write(b"\0" * (-size % BLOCK))
            manifest = {
                "format": FORMAT,
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "images": [asdict(image) for image in found],
                "absent": dict(absent),
                "payload": {
                    "name": PAYLOAD,
                    "size": size,
                    "sha256": digest.hexdigest(),
                    "uncompressed": done,
                },
            }
            text = (json.dumps(manifest, indent=2) + "\n").encode()
            out.write(_header(MANIFEST, len(text)))
            out.write(text + b"\0" * (-len(text) % BLOCK))
            out.write(b"\0" * (2 * BLOCK))  # end of archive
            out.seek(0)
            out.write(_header(PAYLOAD, size))
            out.flush()
            os.fsync(out.fileno())
        partial.chmod(0o644)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BundleError(
            f"cannot write {path}: {exc.strerror or exc}; nothing was written"
        ) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    seconds = time.monotonic() - started
    return Bundle(path, list(found), dict(absent), path.stat().st_size, digest.hexdigest(), seconds)


class _Counting:
    """A readable stream that reports how much was read (zstd's copy loop reads from it)."""

    def __init__(self, raw: IO[bytes], report: Callable[[int], None]) -> None:
        self.raw, self.report, self.count = raw, report, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        self.report(self.count)
        return data


class _Hashing(io.RawIOBase):
    """A write-only file that hashes and counts what passes to the real one."""

    def __init__(self, out: IO[bytes], digest: Any) -> None:
        self.out, self.digest, self.count = out, digest, 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self.out.write(view)
        self.count += len(view)
        return len(view)


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, int(time.time())
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    if len(header) != BLOCK:  # only a long name would need more; ours are short
        raise BundleError(f"tar header for {name} is {len(header)} bytes")
    return header


def read_manifest(path: Path) -> tuple[dict[str, Any], tarfile.TarInfo]:
    """The bundle's manifest and its payload member, checked for shape (not yet hashed).

    Raises:
        BundleError: not a bundle, truncated, or a manifest that does not describe it.
    """
    refused = f"{path} is not a complete mirante image bundle"
    try:
        with tarfile.open(path, "r:") as archive:
            members = {m.name: m for m in archive.getmembers()}
            payload, meta = members.get(PAYLOAD), members.get(MANIFEST)
            if payload is None or meta is None:
                raise BundleError(f"{refused} (no {PAYLOAD} and {MANIFEST}); nothing was loaded")
            handle = archive.extractfile(meta)
            manifest = json.loads(handle.read() if handle else b"")
    except FileNotFoundError:
        raise BundleError(f"{path} does not exist; nothing was loaded") from None
    except (tarfile.TarError, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{refused} ({exc}); nothing was loaded") from None
    described = manifest.get("payload") if isinstance(manifest, dict) else None
    if manifest.get("format") != FORMAT or not isinstance(described, dict):
        raise BundleError(f"{refused} (unknown format); nothing was loaded")
    if (
        described.get("size") != payload.size
        or payload.offset_data + payload.size > path.stat().st_size
    ):
        raise BundleError(
            f"{path} is truncated: {PAYLOAD} holds {payload.size} bytes, the manifest says "
            f"{described.get('size')}; nothing was loaded"
        )
    return manifest, payload


def _payload(path: Path, member: tarfile.TarInfo, progress: Progress) -> Iterator[bytes]:
    with path.open("rb") as source:
        source.seek(member.offset_data)
        left = member.size
        while left:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                raise BundleError(f"{path} ended {left} bytes early; nothing was loaded")
            left -= len(chunk)
            progress(member.size - left, member.size)
            yield chunk


def verify(path: Path, progress: Progress = lambda done, total: None) -> dict[str, Any]:
    """Check a bundle's manifest and the sha256 of its payload; return the manifest.

    Raises:
        BundleError: naming what does not match; nothing was loaded.
    """
    return _verified(path, progress)[0]


def _verified(path: Path, progress: Progress) -> tuple[dict[str, Any], tarfile.TarInfo]:
    manifest, member = read_manifest(path)
    digest = hashlib.sha256()
    for chunk in _payload(path, member, progress):
        digest.update(chunk)
    if digest.hexdigest() != manifest["payload"].get("sha256"):
        raise BundleError(
            f"{path} is damaged: the sha256 of {PAYLOAD} is {digest.hexdigest()[:16]}..., "
            f"the manifest says {str(manifest['payload'].get('sha256'))[:16]}...; "
            "nothing was loaded"
        )
    return manifest, member


def load(
    settings: Settings,
    docker: DockerClient,
    path: Path,
    progress: Progress = lambda done, total: None,
) -> Bundle:
    """Verify a bundle whole, then load its images and check their ids.

    Raises:
        BundleError: damaged or truncated (nothing loaded), or an id that does not match.
        ToolError: docker load failed.
    """
    import zstandard

    started = time.monotonic()
    path = path.resolve()
    manifest, member = _verified(path, lambda done, total: progress(done // 2, total))
    size = member.size
    chunks = _payload(path, member, lambda done, total: progress((size + done) // 2, size))
    reader = zstandard.ZstdDecompressor().read_to_iter(cast(IO[bytes], _Chunks(chunks)))
    loaded = load_stream(docker, reader)
    bundled = [BundledImage(**image) for image in manifest["images"]]
    with docker_errors():
        wrong = [
            image.ref
            for image in bundled
            if not docker.image.exists(image.ref) or docker.image.inspect(image.ref).id != image.id
        ]
    if wrong:
        raise BundleError(f"after loading, {', '.join(wrong)} do not have the bundled image ids")
    return Bundle(
        path,
        bundled,
        dict(manifest.get("absent") or {}),
        path.stat().st_size,
        manifest["payload"]["sha256"],
        time.monotonic() - started,
        loaded,
    )


class _Chunks(io.RawIOBase):
    """A readable file over an iterator of byte chunks (what read_to_iter reads from)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.left = chunks, b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self.left:
            self.left = next(self.chunks, b"")
            if not self.left:
                return b""
        if size < 0 or size >= len(self.left):
            out, self.left = self.left, b""
        else:
            out, self.left = self.left[:size], self.left[size:]
        return out
