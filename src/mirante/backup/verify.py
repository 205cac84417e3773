"""Verifying a set: every archive re-read, its sha256 and zstd's own checksums."""

from __future__ import annotations

import json
import shutil
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import zstandard

from mirante.backup.metrics import write_metrics
from mirante.backup.sets import (
    VERIFIED,
    BackupSet,
    archive_path,
    list_sets,
    read_set,
    resolve_set,
)
from mirante.backup.volumes import helper
from mirante.errors import SetNotFound, ToolError
from mirante.files import atomic_write, sha256_of
from mirante.runner import run
from mirante.settings import Settings


@dataclass
class ArchiveCheck:
    """The verdict on one archive of a set."""

    file: str
    ok: bool
    detail: str


def _zstd_test(settings: Settings, path: Path) -> tuple[bool, str]:
    """Check zstd's own frame checksums: host zstd when installed, else the backup-tools image."""
    if shutil.which("zstd"):
        result = run(["zstd", "-t", "-q", path], check=False, timeout=3600)
        return result.returncode == 0, (result.stderr or result.stdout).strip()
    from mirante.tools.docker import client

    docker = client(settings)
    try:
        helper(
            settings,
            docker,
            'zstd -t -q "/in/$1"',
            [(str(path.parent), "/in", "ro")],
            args=(path.name,),
        )
    except ToolError as exc:
        return False, exc.stderr.strip()
    return True, ""


def unsafe_member(path: Path) -> str:
    """The first member of a ``.tar.zst`` a restore must not write into a volume ("": none).

    A set may have been copied from anywhere, and the extraction runs as root: an absolute
    or ``..`` name, a link pointing out of the volume, a device node, a fifo or a setuid /
    setgid file is refused, by name, before anything is touched.
    """
    import posixpath

    def outside(name: str, base: str = "") -> bool:
        joined = posixpath.normpath(posixpath.join(base, name))
        return name.startswith("/") or joined == ".." or joined.startswith("../")

    with (
        path.open("rb") as raw,
        zstandard.ZstdDecompressor().stream_reader(raw) as stream,
        tarfile.open(fileobj=stream, mode="r|") as tar,
    ):
        for member in tar:
            name = member.name
            shown = repr(name if len(name) <= 80 else name[:77] + "...")
            if outside(name):
                return f"member {shown} would be written outside the volume"
            if member.isdev() or member.isfifo():
                kind = "a fifo" if member.isfifo() else "a device node"
                return f"member {shown} is {kind}"
            if member.issym() and outside(member.linkname, posixpath.dirname(name)):
                return f"member {shown} is a link to {member.linkname!r}, outside the volume"
            if member.islnk() and outside(member.linkname):
                return f"member {shown} is a hard link to {member.linkname!r}, outside it"
            if member.mode & 0o6000:
                return f"member {shown} is setuid or setgid ({oct(member.mode)})"
    return ""


def verify(
    settings: Settings, name: str = "", record: bool = True
) -> tuple[BackupSet, list[ArchiveCheck]]:
    """Re-read every archive of a set (the newest when ``name`` is empty): sha256 and zstd checks.

    With ``record``, the result is recorded in the set (``verified.json``) for
    ``backup.list`` and in the backup metrics; a dry run records nothing.

    Raises:
        SetNotFound: no such set.
    """
    if name:
        path = resolve_set(settings, name)
    else:
        sets = list_sets(settings)
        if not sets:
            raise SetNotFound("there are no backup sets yet; run `invoke backup`")
        path = sets[-1].path
    backup_set = read_set(path)
    checks = []
    for archive in backup_set.archives:
        try:
            file = archive_path(backup_set, archive)
        except SetNotFound:
            checks.append(ArchiveCheck(archive.file, False, "a link, not a file of the set"))
            continue
        if not file.is_file():
            checks.append(ArchiveCheck(archive.file, False, "missing"))
            continue
        if file.stat().st_size != archive.size:
            checks.append(
                ArchiveCheck(
                    archive.file,
                    False,
                    f"size {file.stat().st_size} != {archive.size} in the manifest (truncated?)",
                )
            )
            continue
        digest = sha256_of(file)
        if digest != archive.sha256:
            checks.append(
                ArchiveCheck(
                    archive.file, False, "sha256 differs from the manifest (tampered or corrupted)"
                )
            )
            continue
        if archive.file.endswith(".zst"):
            ok, detail = _zstd_test(settings, file)
            if not ok:
                checks.append(ArchiveCheck(archive.file, False, f"zstd check failed: {detail}"))
                continue
        if archive.file.endswith(".tar.zst"):
            try:
                unsafe = unsafe_member(file)
            except (OSError, EOFError, ValueError, tarfile.TarError, zstandard.ZstdError) as exc:
                unsafe = f"not a readable tar archive: {type(exc).__name__}"
            if unsafe:
                checks.append(ArchiveCheck(archive.file, False, f"refused: {unsafe}"))
                continue
        checks.append(
            ArchiveCheck(
                archive.file,
                True,
                "sha256"
                + (" and zstd checksums" if archive.file.endswith(".zst") else "")
                + " match",
            )
        )
    ok = all(c.ok for c in checks)
    backup_set.verified = ok
    if not record:
        return backup_set, checks
    atomic_write(
        path / VERIFIED, json.dumps({"ok": ok, "at": datetime.now(UTC).isoformat()}) + "\n", 0o600
    )
    if path.parent == settings.backup_dir.resolve():
        write_metrics(settings)
    return backup_set, checks
