"""Backups of the stack's data: one set per run, consistent per service, verifiable.

A set is a directory under the backup directory named by its UTC start time. While it is
written it is ``<name>.partial``; it gets its final name only once every archive and the
``manifest.json`` are on disk (fsynced), so a failure or a kill at any step leaves no
final-named set. Per service:

- Prometheus: a TSDB snapshot through the admin API, archived, then deleted;
- Postgres: ``pg_dump -Fc`` of each database (checked with ``pg_restore --list``) and
  ``pg_dumpall --globals-only``;
- Alertmanager, Grafana, Loki, Tempo: stopped while their volume is archived, started again
  afterwards even when archiving fails.

Volume archives are tar + multi-threaded zstd, made by a helper container next to the
volume. Files are mode 0600. One file lock serialises create / restore / prune.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mirante import files, images, stack, waits
from mirante.docker import docker_errors, run, run_container
from mirante.errors import BackupError, MiranteError, SetNotFound, ToolError
from mirante.files import atomic_write
from mirante.settings import Settings

if TYPE_CHECKING:
    from python_on_whales import Container, DockerClient

MANIFEST = "manifest.json"
VERIFIED = "verified.json"
LOCK = ".lock"
SET_NAME = re.compile(r"^\d{8}T\d{6}Z$")
STOPPED_WHILE_ARCHIVED = ("alertmanager", "grafana", "loki", "tempo")
BACKED_UP = ("prometheus", "postgres", *STOPPED_WHILE_ARCHIVED)
CHUNK = 1 << 20


@dataclass
class Archive:
    service: str
    method: str
    file: str
    size: int
    sha256: str
    image: str
    seconds: float


@dataclass
class BackupSet:
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
        return sorted({a.service for a in self.archives})

    @property
    def size(self) -> int:
        return sum(a.size for a in self.archives)

    @property
    def created_at(self) -> datetime:
        """When the set was started (its name is that UTC time)."""
        return datetime.strptime(self.name, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def mirante_version() -> str:
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


def sha256_of(path: Path) -> str:
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


def volume_name(settings: Settings, service: str) -> str:
    return f"{settings.project_name}_{service}_data"


def helper(
    settings: Settings,
    docker: DockerClient,
    script: str,
    volumes: Sequence[tuple[str, str, str]],
    as_root: bool = False,
) -> str:
    """``sh -euc script`` in the backup-tools image with ``volumes`` (source, target, mode);
    returns its output.

    It runs as the calling user (so files it writes to the host are the user's) unless
    ``as_root``, which writing into a service's volume needs.
    """
    return run_container(
        docker,
        images.ensure_tool_image(settings, docker, "backup-tools"),
        ["sh", "-euc", script],
        user=None if as_root else f"{os.getuid()}:{os.getgid()}",
        volumes=list(volumes),
    )


class _Follower(threading.Thread):
    """Hashes a file while another process writes it, flushing it to disk as it grows.

    Archives are written sequentially, so reading behind the writer gives the same sha256
    as reading the finished file, and the periodic ``fdatasync`` spreads the final flush
    over the write. Both overlap the compression instead of following it.
    """

    FLUSH_EVERY = 8 << 20  # small: the flush left for the end stays short (measured: 8 MiB best)

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.done = threading.Event()
        self.digest = hashlib.sha256()
        self.size = 0

    def run(self) -> None:
        while not self.path.exists():
            if self.done.wait(0.01):
                if not self.path.exists():
                    return
                break
        flushed = 0
        with self.path.open("rb") as handle:
            while True:
                finished = self.done.is_set()
                chunk = handle.read(CHUNK)
                if chunk:
                    self.digest.update(chunk)
                    self.size += len(chunk)
                    if self.size - flushed >= self.FLUSH_EVERY:
                        os.fdatasync(handle.fileno())
                        flushed = self.size
                elif finished:
                    return
                else:
                    self.done.wait(0.005)  # more bytes, or the writer's end

    def sha256(self) -> str:
        """The file's sha256, or a full re-read if the file changed behind the reader."""
        self.done.set()
        self.join()
        if self.size != self.path.stat().st_size:
            return sha256_of(self.path)
        return self.digest.hexdigest()


def _archive_volume(
    settings: Settings,
    docker: DockerClient,
    service: str,
    source: str,
    work: Path,
    cleanup: str = "",
) -> tuple[Path, str]:
    """tar + zstd of ``source`` in the service's volume; returns the file and its sha256.

    ``cleanup`` (a path in the volume) is removed by the same container however the
    archiving ends; the volume is then mounted read-write.
    """
    name = f"{service}.tar.zst.partial"
    # tar runs zstd itself, so a failure of either fails the step (sh has no pipefail).
    script = f"tar -C {source} -I 'zstd -T0 -q' -cf /out/{name} ."
    if cleanup:
        script = (
            f"trap 'rm -rf {cleanup}' EXIT\n{script}\nchown {os.getuid()}:{os.getgid()} /out/{name}"
        )
    follower = _Follower(work / name)
    follower.start()
    try:
        helper(
            settings,
            docker,
            script,
            [
                (volume_name(settings, service), "/data", "rw" if cleanup else "ro"),
                (str(work), "/out", "rw"),
            ],
            as_root=bool(cleanup),
        )
    finally:
        digest = follower.sha256()
    return work / name, digest


def _backup_prometheus(
    settings: Settings, docker: DockerClient, work: Path
) -> tuple[str, Path, str]:
    import requests

    url = f"http://127.0.0.1:{settings.ports['prometheus']}/api/v1/admin/tsdb/snapshot"
    try:
        answer = requests.post(url, timeout=120)
        answer.raise_for_status()
        snapshot = str(answer.json()["data"]["name"])
    except (requests.RequestException, KeyError, ValueError) as exc:
        raise BackupError("prometheus", "snapshot", f"{url}: {exc}") from None
    if not re.fullmatch(r"[\w-]+", snapshot):
        raise BackupError("prometheus", "snapshot", f"unexpected snapshot name {snapshot!r}")
    where = f"/data/snapshots/{snapshot}"
    try:
        path, digest = _archive_volume(settings, docker, "prometheus", where, work, cleanup=where)
    except MiranteError as exc:
        with suppress(MiranteError):  # the archiving container may not have started at all
            helper(
                settings,
                docker,
                f"rm -rf {where}",
                [(volume_name(settings, "prometheus"), "/data", "rw")],
                as_root=True,
            )
        raise BackupError("prometheus", "archive", str(exc)) from None
    return "tsdb-snapshot", path, digest


class StackPostgres:
    """Postgres client tools inside the stack's Postgres container (backup and restore)."""

    def __init__(self, settings: Settings, docker: DockerClient, container: Container) -> None:
        self.settings = settings
        self.docker = docker
        self.container = container

    def execute(self, *argv: str) -> str:
        with docker_errors():
            return str(self.docker.container.execute(self.container, list(argv), user="postgres"))

    def sql(self, statement: str, database: str = "template1") -> str:
        return self.execute(
            "psql",
            "-U",
            self.settings.postgres_user,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            statement,
        ).strip()

    def copy_in(self, path: Path, name: str) -> str:
        inside = f"/tmp/{name}"  # noqa: S108 (inside the postgres container)
        with docker_errors():
            self.docker.copy(path, (self.container, inside))
            self.docker.container.execute(
                self.container, ["chown", "postgres", inside], user="root"
            )
        return inside

    def copy_out(self, inside: str, path: Path) -> None:
        with docker_errors():
            self.docker.copy((self.container, inside), path)
        self.remove(inside)

    def remove(self, inside: str) -> None:
        with suppress(MiranteError), docker_errors():
            self.docker.container.execute(self.container, ["rm", "-f", inside], user="root")


def _backup_postgres(
    settings: Settings, docker: DockerClient, work: Path
) -> list[tuple[str, Path, str]]:
    pg = StackPostgres(settings, docker, stack.container_states(docker, settings)["postgres"])
    user = settings.postgres_user
    try:
        databases = pg.sql(
            "select datname from pg_database where not datistemplate order by 1",
            settings.postgres_db,
        ).split()
    except MiranteError as exc:
        raise BackupError("postgres", "list databases", str(exc)) from None
    results = []
    for database in databases:
        inside = f"/tmp/mirante-{database}.dump"  # noqa: S108 (inside the postgres container)
        try:
            pg.execute("pg_dump", "-Fc", "-U", user, "-d", database, "-f", inside)
            listing = pg.execute("pg_restore", "--list", inside)
        except MiranteError as exc:
            raise BackupError("postgres", f"pg_dump of {database}", str(exc)) from None
        if not listing.strip():
            raise BackupError(
                "postgres", f"pg_dump of {database}", "pg_restore --list read nothing"
            )
        partial = work / f"postgres-{database}.dump.partial"
        pg.copy_out(inside, partial)
        results.append(("pg_dump", partial, ""))
    inside = "/tmp/mirante-globals.sql"  # noqa: S108 (inside the postgres container)
    try:
        pg.execute("sh", "-c", f"pg_dumpall --globals-only -U {user} > {inside}")
    except MiranteError as exc:
        raise BackupError("postgres", "pg_dumpall --globals-only", str(exc)) from None
    partial = work / "postgres-globals.sql.partial"
    pg.copy_out(inside, partial)
    results.append(("pg_dumpall-globals", partial, ""))
    return results


def _backup_stopped(
    settings: Settings, docker: DockerClient, service: str, work: Path, notes: list[str]
) -> tuple[str, Path, str]:
    states = stack.container_states(docker, settings)
    was_running = stack.is_running(states.get(service))
    try:
        if was_running and (note := stack.stop_service(settings, docker, service).note()):
            notes.append(note)
        return ("volume-while-stopped", *_archive_volume(settings, docker, service, "/data", work))
    except MiranteError as exc:
        raise BackupError(service, "archive", str(exc)) from None
    finally:
        if was_running:
            with suppress(MiranteError), docker_errors():
                docker.compose.start([service])


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


def create(settings: Settings, services: Sequence[str] = (), dest: Path | None = None) -> BackupSet:
    """Back up the stack's data into one new set.

    Args:
        settings: validated settings.
        services: services to back up (default: every stateful service with a volume).
        dest: backup directory (default: ``settings.backup_dir``).

    Raises:
        BackupError, LockBusy, UnknownService, MiranteError.
    """
    wanted = wanted_services(services)
    root = (dest or settings.backup_dir).resolve()
    started = time.monotonic()
    project = stack.write_project_files(settings)
    settings, docker = project.settings, project.docker
    with locked(settings if dest is None else _with_backup_dir(settings, root)):
        created = _new_set_name(root)

        def list_volumes() -> set[str]:
            with docker_errors():
                return {v.name for v in docker.volume.list()}

        def containers() -> dict[str, tuple[bool, str]]:
            # Whether each is up, and its image, read at once from the one inspection
            # (python-on-whales re-inspects a container whose attributes are read later).
            found = stack.container_states(docker, settings)
            return {name: (stack.is_up(c), str(c.config.image or "")) for name, c in found.items()}

        # Three independent look-ups at once (the helper image is then known for the run).
        with ThreadPoolExecutor(3) as pool:
            tool = pool.submit(images.ensure_tool_image, settings, docker, "backup-tools")
            found_states = pool.submit(containers)
            found_volumes = pool.submit(list_volumes)
            states, volumes = found_states.result(), found_volumes.result()
            tool.result()
        chosen = wanted or [s for s in BACKED_UP if volume_name(settings, s) in volumes]
        for service in chosen:
            if volume_name(settings, service) not in volumes:
                raise BackupError(
                    service,
                    "find volume",
                    f"volume {volume_name(settings, service)} does not exist; "
                    "was the stack started?",
                )
            if service in ("prometheus", "postgres") and not states.get(service, (False, ""))[0]:
                raise BackupError(
                    service,
                    "check state",
                    f"{service} is not running; start it with `invoke stack.up`",
                )
        if not chosen:
            raise BackupError(
                "the stack",
                "find volumes",
                "no volume of the stack exists; run `invoke stack.up` first",
            )
        work = root / f"{created}.partial"
        try:
            work.mkdir(parents=True, mode=0o700)
        except OSError as exc:
            raise BackupError("the stack", "create the set directory", _os_error(exc)) from None
        service = "the set"
        try:
            archives = []
            notes: list[str] = []
            for service in chosen:
                began = time.monotonic()
                if service == "prometheus":
                    produced = [_backup_prometheus(settings, docker, work)]
                elif service == "postgres":
                    produced = _backup_postgres(settings, docker, work)
                else:
                    produced = [_backup_stopped(settings, docker, service, work, notes)]
                image = states.get(service, (False, ""))[1]
                for method, partial, digest in produced:
                    final = finalise(partial)
                    archives.append(
                        Archive(
                            service,
                            method,
                            final.name,
                            final.stat().st_size,
                            digest or sha256_of(final),
                            image,
                            round(time.monotonic() - began, 2),
                        )
                    )
            backup_set = BackupSet(
                created,
                root / created,
                created,
                round(time.monotonic() - started, 2),
                mirante_version(),
                archives,
                notes=notes,
            )
            service = "the set"
            atomic_write(work / MANIFEST, json.dumps(_manifest(backup_set), indent=2) + "\n", 0o600)
            fsync_dir(work)
            work.rename(root / created)
            fsync_dir(root)
        except OSError as exc:
            shutil.rmtree(work, ignore_errors=True)
            raise BackupError(service, "write", _os_error(exc)) from None
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        if dest is None:  # the metrics describe the configured backup directory
            write_metrics(settings)
    return backup_set


def _os_error(exc: OSError) -> str:
    return f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")


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


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _manifest(backup_set: BackupSet) -> dict[str, Any]:
    return {
        "format": 1,
        "set": backup_set.name,
        "created": backup_set.created,
        "seconds": backup_set.seconds,
        "mirante_version": backup_set.mirante_version,
        "archives": [asdict(a) for a in backup_set.archives],
    }


METRICS_FILE = "mirante_backup.prom"


def metrics_path(settings: Settings) -> Path:
    """Where node-exporter's textfile collector reads the backup metrics."""
    return settings.state_dir / "textfile" / METRICS_FILE


def write_metrics(settings: Settings) -> Path:
    """Per service: time, duration and size of its newest backup; the number of sets.

    The label is ``component``: node-exporter's scrape target already carries ``service``.

    Derived from the sets on disk, so create and prune both simply rewrite it. The file is
    written atomically (the client writes a temporary file and renames it).
    """
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    last = Gauge(
        "mirante_backup_last_success_timestamp_seconds",
        "Unix time of the newest complete backup set holding the service.",
        ["component"],
        registry=registry,
    )
    duration = Gauge(
        "mirante_backup_duration_seconds",
        "Seconds the service's part of its newest backup took.",
        ["component"],
        registry=registry,
    )
    size = Gauge(
        "mirante_backup_size_bytes",
        "Bytes of the service's archives in its newest backup set.",
        ["component"],
        registry=registry,
    )
    verified = Gauge(
        "mirante_backup_verified",
        "1 when the service's newest set passed backup.verify, 0 when it failed, -1 not yet.",
        ["component"],
        registry=registry,
    )
    count = Gauge("mirante_backup_sets", "Complete backup sets on disk.", registry=registry)
    sets = list_sets(settings)
    count.set(len(sets))
    done: set[str] = set()
    for backup_set in reversed(sets):
        for service in backup_set.services:
            if service in done:
                continue
            done.add(service)
            archives = [a for a in backup_set.archives if a.service == service]
            last.labels(service).set(backup_set.created_at.timestamp())
            duration.labels(service).set(max(a.seconds for a in archives))
            size.labels(service).set(sum(a.size for a in archives))
            verified.labels(service).set(
                -1 if backup_set.verified is None else int(backup_set.verified)
            )
    path = metrics_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    path.chmod(0o644)  # read by node-exporter's user inside its container
    return path


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


@dataclass
class ArchiveCheck:
    file: str
    ok: bool
    detail: str


def _zstd_test(settings: Settings, path: Path) -> tuple[bool, str]:
    """zstd's own frame checksums: host zstd when installed, else the backup-tools image."""
    if shutil.which("zstd"):
        result = run(["zstd", "-t", "-q", path], check=False, timeout=3600)
        return result.returncode == 0, (result.stderr or result.stdout).strip()
    from mirante.docker import client

    docker = client(settings)
    try:
        helper(
            settings,
            docker,
            f"zstd -t -q /in/{path.name}",
            [(str(path.parent), "/in", "ro")],
        )
    except ToolError as exc:
        return False, exc.stderr.strip()
    return True, ""


def verify(settings: Settings, name: str = "") -> tuple[BackupSet, list[ArchiveCheck]]:
    """Re-read every archive of a set (the newest when ``name`` is empty): sha256 and zstd checks.

    The result is recorded in the set (``verified.json``) for ``backup.list``.

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
        file = path / archive.file
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
    atomic_write(
        path / VERIFIED, json.dumps({"ok": ok, "at": datetime.now(UTC).isoformat()}) + "\n", 0o600
    )
    backup_set.verified = ok
    if path.parent == settings.backup_dir.resolve():
        write_metrics(settings)
    return backup_set, checks
