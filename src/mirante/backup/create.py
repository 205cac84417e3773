"""Making a set: what exists, one archive per service, then the manifest and the rename.

- Prometheus: a TSDB snapshot through the admin API, archived, then deleted;
- Postgres: ``pg_dump -Fc`` of each database (checked with ``pg_restore --list``) and
  ``pg_dumpall --globals-only``;
- Alertmanager, Grafana, Loki, Tempo: stopped while their volume is archived (Tempo
  flushed first), started again afterwards even when archiving fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from mirante import images, stack
from mirante.backup import journal as journals
from mirante.backup.metrics import write_metrics
from mirante.backup.sets import (
    BACKED_UP,
    DATABASE_NAME,
    LOCK,
    MANIFEST,
    Archive,
    BackupSet,
    locked,
    manifest_of,
    mirante_version,
    new_set_name,
    volume_name,
    wanted_services,
)
from mirante.backup.volumes import helper
from mirante.db.postgres import StackPostgres
from mirante.errors import BackupError, MiranteError
from mirante.files import CHUNK, atomic_write, finalise, fsync_dir, sha256_of
from mirante.services import BY_NAME
from mirante.settings import Settings
from mirante.tools.docker import docker_errors

if TYPE_CHECKING:
    from python_on_whales import DockerClient

    from mirante.backup.journal import Journal


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


# tar runs zstd itself, so a failure of either fails the step (sh has no pipefail).
# $1: the directory to archive, $2: the file in /out; $3: what to remove however it ends,
# $4: the owner to give the archive (written as root).
ARCHIVE = 'tar -C "$1" -I "zstd -T0 -q" -cf "/out/$2" .'
ARCHIVE_AND_CLEAN = f"""trap 'rm -rf -- "$3"' EXIT
{ARCHIVE}
chown "$4" "/out/$2"
"""


def _archive_volume(
    settings: Settings,
    docker: DockerClient,
    service: str,
    source: str,
    work: Path,
    cleanup: str = "",
) -> tuple[Path, str]:
    """Archive ``source`` in the service's volume (tar + zstd); the file and its sha256.

    ``cleanup`` (a path in the volume) is removed by the same container however the
    archiving ends; the volume is then mounted read-write.
    """
    name = f"{service}.tar.zst.partial"
    follower = _Follower(work / name)
    follower.start()
    try:
        helper(
            settings,
            docker,
            ARCHIVE_AND_CLEAN if cleanup else ARCHIVE,
            [
                (volume_name(settings, service), "/data", "rw" if cleanup else "ro"),
                (str(work), "/out", "rw"),
            ],
            as_root=bool(cleanup),
            args=(source, name, cleanup, f"{os.getuid()}:{os.getgid()}")
            if cleanup
            else (source, name),
        )
    finally:
        digest = follower.sha256()
    return work / name, digest


def _backup_prometheus(
    settings: Settings, docker: DockerClient, work: Path, journal: Journal
) -> tuple[str, Path, str]:
    import requests

    url = BY_NAME["prometheus"].endpoint(settings, "/api/v1/admin/tsdb/snapshot")
    try:
        answer = requests.post(url, timeout=120)
        answer.raise_for_status()
        snapshot = str(answer.json()["data"]["name"])
    except (requests.RequestException, KeyError, ValueError) as exc:
        raise BackupError("prometheus", "snapshot", f"{url}: {exc}") from None
    if not re.fullmatch(r"[\w-]+", snapshot):
        raise BackupError("prometheus", "snapshot", f"unexpected snapshot name {snapshot!r}")
    where = f"/data/snapshots/{snapshot}"
    journal.set(snapshot=where)
    try:
        path, digest = _archive_volume(settings, docker, "prometheus", where, work, cleanup=where)
        journal.set(snapshot="")
    except MiranteError as exc:
        with suppress(MiranteError):  # the archiving container may not have started at all
            helper(
                settings,
                docker,
                'rm -rf -- "$1"',
                [(volume_name(settings, "prometheus"), "/data", "rw")],
                as_root=True,
                args=(where,),
            )
            journal.set(snapshot="")
        raise BackupError("prometheus", "archive", str(exc)) from None
    return "tsdb-snapshot", path, digest


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
    unsafe = [d for d in databases if not re.fullmatch(DATABASE_NAME, d)]
    if unsafe:
        raise BackupError(
            "postgres",
            "list databases",
            f"database name(s) {', '.join(map(repr, unsafe))} cannot be carried in a set "
            f"(letters, digits and _ only); rename them, then back up",
        )
    results = []
    for database in databases:
        inside = f"/tmp/mirante-{database}.dump"  # noqa: S108 (inside the postgres container)
        try:
            pg.execute("pg_dump", "-Fc", "-U", user, "-d", database, "-f", inside)
            listing = pg.execute("pg_restore", "--list", inside)
            if not listing.strip():
                raise BackupError(
                    "postgres", f"pg_dump of {database}", "pg_restore --list read nothing"
                )
            partial = work / f"postgres-{database}.dump.partial"
            pg.copy_out(inside, partial)
        except BackupError:
            raise
        except MiranteError as exc:
            raise BackupError("postgres", f"pg_dump of {database}", str(exc)) from None
        finally:  # a failed copy (a full disk) leaves no dump in the container either
            with suppress(MiranteError):
                pg.remove(inside)
        results.append(("pg_dump", partial, ""))
    inside = "/tmp/mirante-globals.sql"  # noqa: S108 (inside the postgres container)
    try:
        pg.execute("sh", "-c", 'pg_dumpall --globals-only -U "$1" > "$2"', "sh", user, inside)
        partial = work / "postgres-globals.sql.partial"
        pg.copy_out(inside, partial)
    except MiranteError as exc:
        raise BackupError("postgres", "pg_dumpall --globals-only", str(exc)) from None
    finally:
        with suppress(MiranteError):
            pg.remove(inside)
    results.append(("pg_dumpall-globals", partial, ""))
    return results


def _backup_stopped(
    settings: Settings,
    docker: DockerClient,
    service: str,
    work: Path,
    notes: list[str],
    journal: Journal,
) -> tuple[str, Path, str]:
    states = stack.container_states(docker, settings)
    was_running = stack.is_running(states.get(service))
    try:
        if was_running:
            journal.stopping(service)
        if was_running and (note := stack.stop_service(settings, docker, service).note()):
            notes.append(note)
        return ("volume-while-stopped", *_archive_volume(settings, docker, service, "/data", work))
    except MiranteError as exc:
        raise BackupError(service, "archive", str(exc)) from None
    finally:
        if was_running:  # started again, and healthy before the backup goes on
            try:
                stack.compose_up(settings, [service], pull=False, timeout=settings.stack_timeout)
                journal.started(service)
            except MiranteError as exc:
                notes.append(f"{service} did not come back healthy after its copy: {exc}")


def create(
    settings: Settings,
    services: Sequence[str] = (),
    *,
    elsewhere: bool = False,
    waiting: Callable[[str], None] | None = None,
) -> BackupSet:
    """Back up the stack's data into one new set.

    It holds the backup lock and the stack's (no stack command starts or stops a service
    meanwhile).

    Args:
        settings: validated settings.
        services: services to back up (default: every stateful service with a volume).
        elsewhere: ``settings.backup_dir`` is a ``--dest``, not the configured directory:
            the directories this run makes there go again if it fails, and the backup
            metrics (which describe the configured directory) are not written.
        waiting: told when another command holds a lock this one needs.

    Raises:
        BackupError, LockBusy, UnknownService, MiranteError.
    """
    wanted = wanted_services(services)
    root = settings.backup_dir.resolve()
    started = time.monotonic()
    project = stack.write_project_files(settings)
    settings, docker = project.settings, project.docker
    # The directories of a --dest that this run creates (deepest first): nothing of them
    # stays if it fails, their lock included.
    made = [p for p in (root, *root.parents) if not p.exists()] if elsewhere else []
    try:
        backup_set = _create_locked(settings, docker, wanted, waiting, started)
    except BaseException:
        if made:
            (root / LOCK).unlink(missing_ok=True)
        for directory in made:
            with suppress(OSError):  # not empty: something else wrote there; it stays
                directory.rmdir()
        raise
    if not elsewhere:  # the metrics describe the configured backup directory
        write_metrics(settings)
    return backup_set


def _create_locked(
    settings: Settings,
    docker: DockerClient,
    wanted: Sequence[str],
    waiting: Callable[[str], None] | None,
    started: float,
) -> BackupSet:
    """:func:`create` under its locks, with the journal that lets a killed run be repaired."""
    root = settings.backup_dir.resolve()
    with (
        locked(settings, waiting),
        stack.locked(settings, waiting),
        journals.recording(settings, "backup") as journal,
    ):
        repaired = journals.repair(settings, lambda: docker)
        created = new_set_name(root)
        chosen, images_of = what_exists(settings, docker, wanted)
        work = root / f"{created}.partial"
        journal.set(partial=str(work))
        try:
            work.mkdir(parents=True, mode=0o700)
        except OSError as exc:
            raise BackupError("the stack", "create the set directory", _os_error(exc)) from None
        try:
            archives, notes = archive_services(settings, docker, chosen, images_of, work, journal)
            notes = repaired + notes
            backup_set = BackupSet(
                created,
                root / created,
                created,
                round(time.monotonic() - started, 2),
                mirante_version(),
                archives,
                notes=notes,
            )
            write_set(work, backup_set)
            journal.set(partial="")
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return backup_set


def what_exists(
    settings: Settings, docker: DockerClient, wanted: Sequence[str]
) -> tuple[list[str], dict[str, str]]:
    """The services to back up, checked, and the image each one's container runs.

    Those asked for, else every one with a volume; the images go in the manifest.

    Raises:
        BackupError: a volume that does not exist, or Prometheus / Postgres not running.
    """

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
    chosen = list(wanted) or [s for s in BACKED_UP if volume_name(settings, s) in volumes]
    for service in chosen:
        if volume_name(settings, service) not in volumes:
            raise BackupError(
                service,
                "find volume",
                f"volume {volume_name(settings, service)} does not exist; was the stack started?",
            )
        if service in ("prometheus", "postgres") and not states.get(service, (False, ""))[0]:
            raise BackupError(
                service, "check state", f"{service} is not running; start it with `invoke stack.up`"
            )
    if not chosen:
        raise BackupError(
            "the stack",
            "find volumes",
            "no volume of the stack exists; run `invoke stack.up` first",
        )
    return chosen, {name: image for name, (_, image) in states.items()}


def archive_services(
    settings: Settings,
    docker: DockerClient,
    chosen: Sequence[str],
    images_of: dict[str, str],
    work: Path,
    journal: Journal,
) -> tuple[list[Archive], list[str]]:
    """Archive each service into ``work``; the notes the user should read.

    One archive per service (Postgres: one per database, plus globals); a note says when a
    service had to be killed.

    Raises:
        BackupError: naming the service whose archive failed.
    """
    archives: list[Archive] = []
    notes: list[str] = []
    for service in chosen:
        began = time.monotonic()
        try:
            if service == "prometheus":
                produced = [_backup_prometheus(settings, docker, work, journal)]
            elif service == "postgres":
                produced = _backup_postgres(settings, docker, work)
            else:
                produced = [_backup_stopped(settings, docker, service, work, notes, journal)]
            for method, partial, digest in produced:
                final = finalise(partial)
                archives.append(
                    Archive(
                        service,
                        method,
                        final.name,
                        final.stat().st_size,
                        digest or sha256_of(final),
                        images_of.get(service, ""),
                        round(time.monotonic() - began, 2),
                    )
                )
        except OSError as exc:
            raise BackupError(service, "write", _os_error(exc)) from None
    return archives, notes


def write_set(work: Path, backup_set: BackupSet) -> None:
    """Write the manifest, then rename ``<name>.partial`` to the set's final name.

    The manifest is fsynced with its directory first: only a complete set ever has a final
    name.

    Raises:
        BackupError: the manifest or the rename could not be written.
    """
    try:
        manifest = json.dumps(manifest_of(backup_set), indent=2) + "\n"
        atomic_write(work / MANIFEST, manifest, 0o600)
        fsync_dir(work)
        work.rename(backup_set.path)
        fsync_dir(backup_set.path.parent)
    except OSError as exc:
        raise BackupError("the set", "write", _os_error(exc)) from None


def _os_error(exc: OSError) -> str:
    return f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
