"""Backup sets: the model, the manifest, finding and listing sets, the lock."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mirante import files, loader, waits
from mirante.errors import BackupError, MiranteError, NotUtf8, SetNotFound, Unreadable
from mirante.settings import Settings

MANIFEST = "manifest.json"


VERIFIED = "verified.json"


LOCK = ".lock"


# ASCII digits only: \d matches any Unicode digit, and a name of fullwidth digits would
# sort after every real set (prune keeps "the newest").
SET_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")


STOPPED_WHILE_ARCHIVED = ("alertmanager", "grafana", "loki", "tempo")


BACKED_UP = ("prometheus", "postgres", *STOPPED_WHILE_ARCHIVED)


@dataclass
class Archive:
    """One archive of a set, as its manifest lists it."""

    service: str
    method: str
    file: str
    size: int
    sha256: str
    image: str
    seconds: float


@dataclass
class BackupSet:
    """One backup set: its directory and manifest."""

    name: str
    path: Path
    created: str
    seconds: float
    mirante_version: str
    archives: list[Archive] = field(default_factory=list)
    verified: bool | None = None
    notes: list[str] = field(default_factory=list)  # what the user should know; not stored

    @property
    def services(self) -> list[str]:
        """The services the set has archives of."""
        return sorted({a.service for a in self.archives})

    @property
    def size(self) -> int:
        """Bytes of all the set's archives."""
        return sum(a.size for a in self.archives)

    @property
    def created_at(self) -> datetime:
        """When the set was started (its name is that UTC time)."""
        return datetime.strptime(self.name, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def mirante_version() -> str:
    """The installed mirante version, recorded in each manifest."""
    try:
        return version("mirante")
    except PackageNotFoundError:
        return "unknown"


def locked(
    settings: Settings, waiting: Callable[[str], None] | None = None
) -> AbstractContextManager[None]:
    """Hold the backup lock; wait up to ``settings.lock_timeout`` for another holder.

    Raises:
        LockBusy: when the other run does not finish in time.
    """
    return files.locked(
        settings.backup_dir / LOCK, settings.lock_timeout, "backup, restore or prune", waiting
    )


def volume_name(settings: Settings, service: str) -> str:
    """The compose volume of a service in this project."""
    return f"{settings.project_name}_{service}_data"


def wanted_services(services: Sequence[str]) -> list[str]:
    """``["a,b", "c"]`` as ``["a", "b", "c"]``, each a service that backups know.

    Raises:
        UnknownService: naming the services backups know.
    """
    from mirante.errors import UnknownService

    wanted = [n.strip() for item in services for n in item.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in BACKED_UP]
    if unknown:
        raise UnknownService(unknown, BACKED_UP)
    return wanted


def new_set_name(root: Path) -> str:
    """A UTC timestamp no set (or partial set) has yet: sets started in one second wait.

    Names come from the clock, so a free one turns up within a second; the deadline only
    guards against a clock that stands still.
    """

    def free() -> str:
        name = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        taken = (root / name).exists() or (root / f"{name}.partial").exists()
        return "" if taken else name

    name = waits.until(free, 5, 0.2)
    if not name:
        raise BackupError("the stack", "name the set", f"no free set name in {root} within 5 s")
    return name


def manifest_of(backup_set: BackupSet) -> dict[str, Any]:
    """The set's ``manifest.json``, as a mapping."""
    return {
        "format": 1,
        "set": backup_set.name,
        "created": backup_set.created,
        "seconds": backup_set.seconds,
        "mirante_version": backup_set.mirante_version,
        "archives": [asdict(a) for a in backup_set.archives],
    }


# The manifest schema: what each service's archives are called and how they were made.
# Every reader goes through parse_manifest(); a name outside these patterns is refused, so
# no archive name can carry a path, a shell word or a libpq connection string.
DATABASE_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,62}"
ARCHIVES: dict[str, dict[str, re.Pattern[str]]] = {
    "prometheus": {"tsdb-snapshot": re.compile(r"prometheus\.tar\.zst")},
    "postgres": {
        "pg_dump": re.compile(rf"postgres-{DATABASE_NAME}\.dump"),
        "pg_dumpall-globals": re.compile(r"postgres-globals\.sql"),
    },
    **{
        s: {"volume-while-stopped": re.compile(rf"{re.escape(s)}\.tar\.zst")}
        for s in STOPPED_WHILE_ARCHIVED
    },
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_IMAGE = re.compile(r"[\x21-\x7e]{0,255}")
_ARCHIVE_FIELDS = {f.name for f in fields(Archive)}


class Damaged(ValueError):
    """A manifest that breaks the schema; the message says where and how."""


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Damaged(f"{where} is {_shown(value)}, not a number")
    if value < 0:
        raise Damaged(f"{where} is negative ({_shown(value)})")
    if not loader.finite(value, 1e15):  # 10**400: no float holds it
        raise Damaged(f"{where} is {_shown(value)}, not a number from 0 to 10**15")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Any, where: str, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str):
        raise Damaged(f"{where} is {_shown(value)}, not text")
    if pattern is not None and not pattern.fullmatch(value):
        raise Damaged(f"{where} {_shown(value)} is not an allowed value")
    if len(value) > 1024:
        raise Damaged(f"{where} is longer than 1024 characters")
    return value


def _archive(entry: Any, index: int) -> Archive:
    where = f"archives[{index}]"
    if not isinstance(entry, dict) or set(entry) != _ARCHIVE_FIELDS:
        raise Damaged(f"{where} must have exactly the fields {', '.join(sorted(_ARCHIVE_FIELDS))}")
    service = _text(entry["service"], f"{where}.service")
    if service not in ARCHIVES:
        raise Damaged(f"{where}.service {service!r} is not a service backups know")
    method = _text(entry["method"], f"{where}.method")
    if method not in ARCHIVES[service]:
        raise Damaged(f"{where}.method {method!r} is not how {service} is backed up")
    size = _number(entry["size"], f"{where}.size")
    if not isinstance(size, int):
        raise Damaged(f"{where}.size is {size!r}, not a whole number of bytes")
    return Archive(
        service,
        method,
        _text(entry["file"], f"{where}.file", ARCHIVES[service][method]),
        size,
        _text(entry["sha256"], f"{where}.sha256", _SHA256),
        _text(entry["image"], f"{where}.image", _IMAGE),
        _number(entry["seconds"], f"{where}.seconds"),
    )


def parse_manifest(data: Any, path: Path) -> BackupSet:
    """The set a manifest describes, checked against the schema, for the set at ``path``.

    Raises:
        Damaged: naming the first field that breaks the schema.
    """
    if not isinstance(data, dict):
        raise Damaged("the manifest is not a JSON object")
    if data.get("format") != 1:
        raise Damaged(f"format {data.get('format')!r} is not one this mirante reads (1)")
    name = _text(data.get("set"), "set", SET_NAME)
    if name != path.name:
        raise Damaged(f"set {name!r} is not the name of its directory {path.name!r}")
    entries = data.get("archives")
    if not isinstance(entries, list) or not entries:
        raise Damaged("it lists no archive, so it backs nothing up")
    archives = [_archive(entry, i) for i, entry in enumerate(entries)]
    files_seen: set[str] = set()
    for archive in archives:
        if archive.file in files_seen:
            raise Damaged(f"{archive.file} is listed twice")
        files_seen.add(archive.file)
    for service in {a.service for a in archives}:
        methods = [a.method for a in archives if a.service == service]
        if service != "postgres" and len(methods) > 1:
            raise Damaged(f"{service} has {len(methods)} archives; a set holds one per service")
        if service == "postgres" and (
            methods.count("pg_dumpall-globals") != 1 or "pg_dump" not in methods
        ):
            raise Damaged("postgres needs its globals and at least one database dump")
    return BackupSet(
        name,
        path,
        _text(data.get("created"), "created"),
        _number(data.get("seconds"), "seconds"),
        _text(data.get("mirante_version"), "mirante_version"),
        archives,
    )


def read_set(path: Path) -> BackupSet:
    """A set from its manifest, checked against the schema.

    Raises:
        SetNotFound: when the directory is a link, or holds no readable or valid manifest.
    """
    try:
        if path.is_symlink():
            raise Damaged("the set's directory is a symbolic link")
        if (path / MANIFEST).is_symlink():
            raise Damaged(f"its {MANIFEST} is a symbolic link")
        backup_set = parse_manifest(loader.load_json(path / MANIFEST), path)
    except FileNotFoundError:
        raise SetNotFound(f"{path.name} is not a mirante backup set (no {MANIFEST})") from None
    except Unreadable as exc:
        raise SetNotFound(f"set {path.name} is damaged: {MANIFEST}: {exc.reason}") from None
    except (OSError, ValueError, NotUtf8) as exc:  # Damaged, UnicodeDecodeError
        raise SetNotFound(f"set {path.name} is damaged: {exc}") from None
    verified = path / VERIFIED
    if verified.is_file() and not verified.is_symlink():
        with suppress(MiranteError, OSError, TypeError, KeyError):
            backup_set.verified = loader.load_json(verified, 4096)["ok"] is True
    return backup_set


def archive_path(backup_set: BackupSet, archive: Archive) -> Path:
    """Where an archive of the set is: a regular file inside the set's own directory.

    Raises:
        SetNotFound: the file is a link or resolves outside the set.
    """
    path = backup_set.path / archive.file
    if path.is_symlink() or path.resolve().parent != backup_set.path.resolve():
        raise SetNotFound(
            f"set {backup_set.name} is damaged: {archive.file} is not a file of the set itself"
        )
    return path


@dataclass(frozen=True)
class DamagedSet:
    """A set directory whose manifest cannot be trusted, and why."""

    name: str
    path: Path
    reason: str


def scan(settings: Settings) -> tuple[list[BackupSet], list[DamagedSet]]:
    """Every set under the backup directory, oldest first: the good ones and the damaged.

    A damaged set is reported, never read further; the others work as if it were not there.
    """
    root = settings.backup_dir
    if not root.is_dir():
        return [], []
    good, damaged = [], []
    for path in sorted(root.iterdir()):
        if not SET_NAME.match(path.name) or not (path / MANIFEST).is_file():
            continue
        try:
            good.append(read_set(path))
        except SetNotFound as exc:
            damaged.append(DamagedSet(path.name, path, str(exc)))
    return good, damaged


def list_sets(settings: Settings) -> list[BackupSet]:
    """Every complete, valid set under the backup directory, oldest first."""
    return scan(settings)[0]


def resolve_set(settings: Settings, name: str) -> Path:
    """The directory of set ``name``; only names of sets under the backup directory.

    Raises:
        SetNotFound: for a malformed name, a path outside the backup directory, or no such set.
    """
    known = [s.name for s in list_sets(settings)]
    hint = (
        f"known sets: {', '.join(known[-5:])}"
        if known
        else "there are no sets yet (run `invoke backup`)"
    )
    if not SET_NAME.match(name):
        raise SetNotFound(f"{name!r} is not a backup set name (like 20260101T120000Z); {hint}")
    path = settings.backup_dir.resolve() / name
    if path.is_symlink():
        raise SetNotFound(
            f"set {name} is damaged: its directory is a symbolic link (a set is never read "
            f"or written through one); {hint}"
        )
    if not (path / MANIFEST).is_file():
        raise SetNotFound(f"no backup set {name!r} in {settings.backup_dir}; {hint}")
    return path
