"""Backup sets: the model, the manifest, finding and listing sets, the lock."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mirante import files, waits
from mirante.errors import BackupError, SetNotFound
from mirante.settings import Settings

MANIFEST = "manifest.json"


VERIFIED = "verified.json"


LOCK = ".lock"


SET_NAME = re.compile(r"^\d{8}T\d{6}Z$")


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


def locked(settings: Settings) -> AbstractContextManager[None]:
    """Hold the backup lock; wait up to ``settings.lock_timeout`` for another holder.

    Raises:
        LockBusy: when the other run does not finish in time.
    """
    return files.locked(
        settings.backup_dir / LOCK, settings.lock_timeout, "backup, restore or prune"
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


def _new_set_name(root: Path) -> str:
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


def _with_backup_dir(settings: Settings, path: Path) -> Settings:
    from dataclasses import replace

    return replace(settings, backup_dir_setting=str(path))


def _manifest(backup_set: BackupSet) -> dict[str, Any]:
    return {
        "format": 1,
        "set": backup_set.name,
        "created": backup_set.created,
        "seconds": backup_set.seconds,
        "mirante_version": backup_set.mirante_version,
        "archives": [asdict(a) for a in backup_set.archives],
    }


def read_set(path: Path) -> BackupSet:
    """A set from its manifest.

    Raises:
        SetNotFound: when the directory holds no readable mirante manifest.
    """
    try:
        data = json.loads((path / MANIFEST).read_text())
        archives = [Archive(**a) for a in data["archives"]]
        backup_set = BackupSet(
            data["set"], path, data["created"], data["seconds"], data["mirante_version"], archives
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SetNotFound(
            f"{path.name} is not a mirante backup set ({type(exc).__name__})"
        ) from None
    verified = path / VERIFIED
    if verified.is_file():
        with suppress(ValueError, OSError):
            backup_set.verified = bool(json.loads(verified.read_text())["ok"])
    return backup_set


def list_sets(settings: Settings) -> list[BackupSet]:
    """Every complete set (with a manifest) under the backup directory, oldest first."""
    root = settings.backup_dir
    if not root.is_dir():
        return []
    sets = []
    for path in sorted(root.iterdir()):
        if path.is_dir() and SET_NAME.match(path.name) and (path / MANIFEST).is_file():
            with suppress(SetNotFound):
                sets.append(read_set(path))
    return sets


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
    path = (settings.backup_dir / name).resolve()
    if path.parent != settings.backup_dir.resolve() or not (path / MANIFEST).is_file():
        raise SetNotFound(f"no backup set {name!r} in {settings.backup_dir}; {hint}")
    return path
