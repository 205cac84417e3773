"""Files a reader never sees half of, and the lock that serialises commands.

Writes go to a temp file, fsync, rename; one file lock serialises the commands that change
the same thing.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mirante import waits
from mirante.errors import LockBusy, NotUtf8, UnsafePath


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` atomically; the file has ``mode`` from its first byte.

    The temporary file has a unique name, so concurrent writers (two commands rendering
    the same file) never trip over each other: the last rename wins, whole.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove the temporary files :func:`atomic_write` left beside ``path`` when killed.

    Only safe under the lock that every writer of ``path`` holds (no write is under way).
    """
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp"))
    for temp in stale:
        temp.unlink(missing_ok=True)
    return stale


def open_private(path: Path) -> int:
    """Open (or create, 0600) ``path`` for reading and writing, never through a link.

    A lock file is truncated and written: opened through a symbolic link or a hard link
    that a copied directory (``rsync -a``) or another user brought, it would clobber the
    file it points at, as root. Only a regular file of one link is accepted.

    Raises:
        UnsafePath: ``path`` is a symbolic link, a hard link, or not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(str(path), "a symbolic link") from None
        raise
    info = os.fstat(fd)
    what = (
        "not a regular file"
        if not stat.S_ISREG(info.st_mode)
        else f"a file with {info.st_nlink} hard links"
        if info.st_nlink > 1
        else ""
    )
    if what:
        os.close(fd)
        raise UnsafePath(str(path), what)
    os.set_blocking(fd, True)
    return fd


@contextmanager
def locked(
    path: Path,
    timeout: float,
    holders: str,
    waiting: Callable[[str], None] | None = None,
    owner: str = "",
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created 0600); wait up to ``timeout`` seconds.

    The holder's pid (and ``owner``, such as its checkout) is written into the file for the
    message a waiting command gives; ``waiting`` is told once, when the lock is not free at
    once, who holds it.

    Raises:
        LockBusy: naming ``holders`` (what takes this lock) when the wait runs out.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_private(path)

    def take() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def holder() -> str:
        said = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        pid, _, where = said.partition(" ")
        return f"{pid or 'unknown'}{', in ' + where if where and where != owner else ''}"

    try:
        taken = take()
        if not taken and waiting is not None:
            waiting(f"waiting up to {timeout:g} s for another {holders} (pid {holder()})")
        if not taken and not waits.until(take, timeout, 0.05):
            raise LockBusy(
                f"another {holders} holds {path} (pid {holder()}); waited {timeout:g} s. "
                "Let it finish, or raise MIRANTE_LOCK_TIMEOUT."
            )
        with suppress(OSError):  # the holder's pid is for messages only (a full disk: none)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {owner}".strip().encode(), 0)
        yield
    finally:
        with suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_utf8(path: Path) -> str:
    """A text file's contents.

    Raises:
        NotUtf8: naming the file and the first line that is not UTF-8.
        OSError: the file cannot be read.
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(str(path), data[: exc.start].count(b"\n") + 1) from None


def human_size(count: float) -> str:
    """Bytes for people: ``861 B``, ``58.2 KiB``, ``1.3 GiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


# Top-level parts of a checkout that a stack needs; linked (not copied) by linked_checkout.
CHECKOUT_PARTS = (
    "compose",
    "prometheus",
    "alertmanager",
    "grafana",
    "loki",
    "tempo",
    "otel-collector",
    "app",
    "images",
    "src",
    "docs",
    "k8s",
    "config",
    "db",
    "terraform",
    ".env.example",
)


def linked_checkout(source: Path, path: Path, copies: tuple[str, ...] = ()) -> Path:
    """A second checkout at ``path``, with its own .env and .mirante/ and ``source``'s configs.

    The configs are linked; the parts named in ``copies`` are copied, to be changed.

    A second compose project (tests, benchmarks) runs from it without touching the files,
    secrets and state of the checkout it comes from.
    """
    path.mkdir(parents=True, exist_ok=True)
    for part in CHECKOUT_PARTS:
        target = path / part
        if target.exists():
            continue
        if part in copies:
            shutil.copytree(source / part, target)
        else:
            target.symlink_to(source / part, target_is_directory=(source / part).is_dir())
    return path


CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """The sha256 of a file's contents, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def finalise(partial: Path) -> Path:
    """fsync, mode 0600, and rename ``x.partial`` to ``x``."""
    final = partial.with_name(partial.name.removesuffix(".partial"))
    partial.chmod(0o600)
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    partial.replace(final)
    return final


def fsync_dir(path: Path) -> None:
    """Flush a directory (fsync), so that a rename in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a pid of 0 or less: no)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
