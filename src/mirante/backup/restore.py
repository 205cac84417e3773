"""Restore a backup set: verified first, then into fresh storage, then swapped in.

Nothing is touched before every archive of the set passes verification. Per service:

- a volume (Prometheus, Alertmanager, Grafana, Loki, Tempo) is extracted into a fresh
  volume while the service still runs; then the service is stopped, its current data is
  moved aside inside its own volume, the restored data copied in, and the service started
  and waited on. If the copy fails or the service does not turn healthy on the restored
  data, the previous data is moved back and the service started on it again;
- Postgres: roles from the globals dump, then each database restored with ``pg_restore``
  into a fresh database, which is then renamed over the old one in one transaction (the
  old one dropped only after the rename committed).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Collection, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mirante import stack, waits
from mirante.backup import globals as globals_mod
from mirante.backup import journal as journals
from mirante.backup import sets
from mirante.backup.verify import verify
from mirante.backup.volumes import (
    DROP_PREVIOUS,
    LEFTOVER_EXIT,
    PREVIOUS,
    RESTORING_SUFFIX,
    ROLLBACK,
    SWAP,
    helper,
)
from mirante.db.postgres import StackPostgres
from mirante.db.postgres import quote_identifier as _quote
from mirante.db.postgres import quote_literal as _literal
from mirante.errors import MiranteError, NotRestorable, RestoreError
from mirante.settings import Settings
from mirante.tools.docker import docker_errors

if TYPE_CHECKING:
    from python_on_whales import DockerClient

    from mirante.backup.journal import Journal


@dataclass
class Step:
    """One step of a restore, as the plan shows it and as it runs."""

    service: str
    archive: str
    actions: list[str]


@dataclass
class RestorePlan:
    """What a restore will do, shown before it is confirmed."""

    backup_set: sets.BackupSet
    steps: list[Step]
    notes: list[str] = field(default_factory=list)  # what happened that the user should know


def _chosen(backup_set: sets.BackupSet, services: Sequence[str]) -> list[str]:
    wanted = sets.wanted_services(services)
    missing = [n for n in wanted if n not in backup_set.services]
    if missing:
        raise NotRestorable(
            f"set {backup_set.name} holds no backup of {', '.join(missing)}; "
            f"it holds: {', '.join(backup_set.services)}"
        )
    return wanted or backup_set.services


def plan(
    settings: Settings, docker: DockerClient, backup_set: sets.BackupSet, services: Sequence[str]
) -> RestorePlan:
    """What restoring ``services`` of the set would do, checked against the running stack.

    Raises:
        NotRestorable: a volume to restore into is missing, or Postgres is not running.
    """
    chosen = _chosen(backup_set, services)
    states = stack.container_states(docker, settings)
    with docker_errors():
        volumes = {v.name for v in docker.volume.list()}
    steps = []
    for service in chosen:
        archives = [a for a in backup_set.archives if a.service == service]
        if service == "postgres":
            if not stack.is_up(states.get("postgres")):
                raise NotRestorable(
                    "postgres is not running; start the stack with `invoke stack.up`, then restore"
                )
            for archive in archives:
                if archive.method == "pg_dumpall-globals":
                    steps.append(
                        Step(
                            service,
                            archive.file,
                            [
                                "create the roles that do not exist and set their attributes "
                                f"(the stack's own roles {settings.postgres_user} and "
                                f"{settings.postgres_app_user} are left as configured)"
                            ],
                        )
                    )
            for archive in archives:
                if archive.method == "pg_dump":
                    database = _database_of(archive.file)
                    fresh, _ = scratch_databases(database)
                    steps.append(
                        Step(
                            service,
                            archive.file,
                            [
                                f"pg_restore into a fresh database {fresh}",
                                f"rename it to {database} (the current {database} is dropped "
                                "after the rename)",
                            ],
                        )
                    )
            continue
        volume = sets.volume_name(settings, service)
        if volume not in volumes:
            raise NotRestorable(
                f"volume {volume} does not exist; run `invoke stack.up` first, then restore"
            )
        running = stack.is_running(states.get(service))
        actions = [f"extract into a fresh volume {_fresh_volume(volume)}"]
        if running:
            actions.append(f"stop {service}")
        actions.append(f"move the current data of {volume} aside and copy the restored data in")
        if running:
            actions.append(f"start {service} and wait until it is healthy")
        actions.append("drop the previous data and the fresh volume")
        steps.extend(Step(service, a.file, actions) for a in archives)
    return RestorePlan(backup_set, steps)


def restore(
    settings: Settings,
    name: str,
    services: Sequence[str] = (),
    dry_run: bool = False,
    confirm: Callable[[RestorePlan], None] = lambda _: None,
    waiting: Callable[[str], None] | None = None,
) -> RestorePlan:
    """Restore set ``name`` (``""``: the newest): verify, plan, confirm, then restore.

    ``confirm`` sees the plan before anything changes and raises to cancel; ``waiting`` is
    told when another command holds a lock this one needs (the backup lock, the stack's).

    Raises:
        SetNotFound, LockBusy, NotRestorable, RestoreError, UnknownService, MiranteError.
    """
    project = stack.write_project_files(settings)
    settings, docker = project.settings, project.docker
    with (
        sets.locked(settings, waiting),
        stack.locked(settings, waiting),
        journals.recording(settings, "restore") as journal,
    ):
        repaired = [] if dry_run else journals.repair(settings, lambda: docker)
        backup_set, checks = verify(settings, name, record=not dry_run)
        bad = [c for c in checks if not c.ok]
        if bad:
            raise NotRestorable(
                f"set {backup_set.name} failed verification, nothing was touched: "
                + "; ".join(f"{c.file}: {c.detail}" for c in bad)
            )
        planned = plan(settings, docker, backup_set, services)
        planned.notes += repaired
        if dry_run:
            return planned
        confirm(planned)
        by_service: dict[str, list[sets.Archive]] = {}
        for archive in backup_set.archives:
            if any(s.archive == archive.file for s in planned.steps):
                by_service.setdefault(archive.service, []).append(archive)
        for service, archives in by_service.items():
            if service == "postgres":
                _restore_postgres(settings, docker, backup_set, archives, journal)
            else:
                (archive,) = archives
                path = sets.archive_path(backup_set, archive)
                planned.notes += _restore_volume(settings, docker, service, path, journal)
    return planned


def _fresh_volume(volume: str) -> str:
    return f"{volume}{RESTORING_SUFFIX}"


def scratch_databases(database: str) -> tuple[str, str]:
    """The fresh and the previous database of restoring ``database``: never the live one.

    Postgres cuts a name at 63 bytes. ``<db>_mirante_restore`` was cut back to the live name
    itself (a 63-character name) or to the same name as ``<db>_mirante_previous`` (54 to 62
    characters): both names here are short, fixed-length, distinct, and tied to the database
    by a digest.
    """
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return f"mirante_restore_{digest}", f"mirante_previous_{digest}"


def _database_of(file: str) -> str:
    return file.removeprefix("postgres-").removesuffix(".dump")


def _restore_volume(
    settings: Settings, docker: DockerClient, service: str, archive: Path, journal: Journal
) -> list[str]:
    volume = sets.volume_name(settings, service)
    fresh = _fresh_volume(volume)
    target = [(volume, "/data", "rw"), (fresh, "/fresh", "ro")]
    journal.scratch(volume=fresh)
    with docker_errors():
        if docker.volume.exists(fresh):
            docker.volume.remove(fresh)  # left by an interrupted restore
        docker.volume.create(fresh, labels={"org.mirante.restore": volume})
    try:
        try:
            helper(
                settings,
                docker,
                'tar -C /fresh -I zstd --numeric-owner -xpf "/in/$1"',
                [(fresh, "/fresh", "rw"), (str(archive.parent), "/in", "ro")],
                as_root=True,
                args=(archive.name,),
            )
        except MiranteError as exc:
            raise RestoreError(service, "extract", str(exc)) from None
        running = stack.is_running(stack.container_states(docker, settings).get(service))
        notes = []
        try:
            if running:
                journal.stopping(service)
            if running and (note := stack.stop_service(settings, docker, service).note()):
                notes.append(note)
            journal.swapping(volume)
            helper(settings, docker, SWAP, target, as_root=True)
        except MiranteError as exc:
            # The swap put the previous data back itself (or never moved it).
            journal.swapping(volume, done=True)
            if running and _start(docker, service, settings):
                journal.started(service)
            if f"exited {LEFTOVER_EXIT}" in str(exc):
                raise NotRestorable(
                    f"volume {volume} holds {PREVIOUS}, the data of an interrupted restore "
                    "that no journal records: nothing was replaced; look at it (`docker run "
                    f"--rm -v {volume}:/data busybox ls -la /data/{PREVIOUS}`), move it out or "
                    "delete it, then restore again"
                ) from None
            raise RestoreError(service, "swap", str(exc)) from None
        if running:
            try:
                stack.compose_up(settings, [service], pull=False, timeout=settings.stack_timeout)
            except MiranteError as exc:
                with suppress(MiranteError), docker_errors():
                    docker.compose.stop([service])
                helper(settings, docker, ROLLBACK, target, as_root=True)
                journal.swapping(volume, done=True)
                if _start(docker, service, settings):
                    journal.started(service)
                raise RestoreError(
                    service, "start", f"it did not turn healthy on the restored data ({exc})"
                ) from None
        journal.swapping(volume, kept=True)  # from here on, the restored data stays
        if running:
            journal.started(service)
        helper(settings, docker, DROP_PREVIOUS, target, as_root=True)
        journal.swapping(volume, done=True)
        return notes
    finally:
        with suppress(MiranteError), docker_errors():
            docker.volume.remove(fresh)
            journal.scratch(volume=fresh, gone=True)


def _start(docker: DockerClient, service: str, settings: Settings) -> bool:
    """Start ``service`` again after a failed step; whether it came up."""
    try:
        stack.compose_up(settings, [service], pull=False, timeout=settings.stack_timeout)
    except MiranteError:
        return False
    return True


def _restore_postgres(
    settings: Settings,
    docker: DockerClient,
    backup_set: sets.BackupSet,
    archives: list[sets.Archive],
    journal: Journal,
) -> None:
    pg = StackPostgres(settings, docker, stack.container_states(docker, settings)["postgres"])
    for archive in archives:
        if archive.method == "pg_dumpall-globals":
            _restore_globals(pg, sets.archive_path(backup_set, archive))
    for archive in archives:
        if archive.method == "pg_dump":
            path = sets.archive_path(backup_set, archive)
            _restore_database(pg, _database_of(archive.file), path, journal)
    # The app's role and its grants, as the settings have them (a set made before the role
    # existed restores tables it cannot read otherwise).
    try:
        stack.run_oneshot(docker, "postgres-roles")
    except MiranteError as exc:
        raise RestoreError("postgres", "the app's role (postgres-roles)", str(exc)) from None


def globals_to_apply(globals_sql: str, existing_roles: set[str], own_roles: Collection[str]) -> str:
    """The globals dump without the stack's own roles and without re-creating existing roles.

    Raises:
        NotRestorable: a statement ``pg_dumpall --globals-only`` never writes.
    """
    return globals_mod.to_apply(globals_sql, existing_roles, own_roles)


def _restore_globals(pg: StackPostgres, path: Path) -> None:
    try:
        roles = set(pg.sql("select rolname from pg_roles").split())
        own = (pg.settings.postgres_user, pg.settings.postgres_app_user)
        filtered = globals_to_apply(path.read_text(), roles, own)
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(scratch) / "mirante-globals.sql"
            local.write_text(filtered)
            inside = pg.copy_in(local, "mirante-restore-globals.sql")
        try:
            pg.execute(
                "psql",
                "-U",
                pg.settings.postgres_user,
                "-d",
                "template1",
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-f",
                inside,
            )
        finally:
            pg.remove(inside)
    except MiranteError as exc:
        raise RestoreError("postgres", "roles (globals)", str(exc)) from None


def _restore_database(pg: StackPostgres, database: str, dump: Path, journal: Journal) -> None:
    fresh, previous = scratch_databases(database)
    if database in (fresh, previous):
        raise NotRestorable(f"database {database} has the name of a restore's scratch database")
    journal.scratch(database=fresh)
    journal.scratch(database=previous)
    inside = pg.copy_in(dump, f"mirante-restore-{database}.dump")
    try:
        pg.sql(f"drop database if exists {_quote(fresh)} with (force)")
        pg.sql(f"create database {_quote(fresh)} owner {_quote(pg.settings.postgres_user)}")
        pg.execute(
            "pg_restore", "-U", pg.settings.postgres_user, "-d", fresh, "--exit-on-error", inside
        )
    except MiranteError as exc:
        with suppress(MiranteError):
            pg.sql(f"drop database if exists {_quote(fresh)} with (force)")
        raise RestoreError("postgres", f"pg_restore of {database}", str(exc)) from None
    finally:
        pg.remove(inside)
    try:
        _swap_databases(pg, database, fresh, previous)
    except MiranteError as exc:
        with suppress(MiranteError):
            pg.sql(f"drop database if exists {_quote(fresh)} with (force)")
        raise RestoreError("postgres", f"rename over {database}", str(exc)) from None
    journal.scratch(database=fresh, gone=True)  # renamed: it is the live one now
    try:
        pg.sql(f"drop database if exists {_quote(previous)} with (force)")
    except MiranteError:
        return  # the journal keeps it: the next command drops it, and says so
    journal.scratch(database=previous, gone=True)


def _swap_databases(pg: StackPostgres, database: str, fresh: str, previous: str) -> None:
    """Rename ``fresh`` over ``database`` in one transaction, retrying while clients leave."""
    # Identifiers and literals are quoted by _quote / _literal.
    exists = pg.sql(f"select count(*) from pg_database where datname = {_literal(database)}")  # noqa: S608
    if exists == "0":
        pg.sql(f"alter database {_quote(fresh)} rename to {_quote(database)}")
        return
    pg.sql(f"drop database if exists {_quote(previous)} with (force)")

    def attempt() -> MiranteError | None:
        pg.sql(
            "select pg_terminate_backend(pid) from pg_stat_activity "  # noqa: S608 (quoted)
            f"where datname = {_literal(database)} and pid <> pg_backend_pid()"
        )
        try:
            pg.sql(
                f"begin; alter database {_quote(database)} rename to {_quote(previous)}; "
                f"alter database {_quote(fresh)} rename to {_quote(database)}; commit;"
            )
        except MiranteError as exc:  # most often: a client came back; terminate it again
            return exc
        return None

    error = waits.until(attempt, 30, 0.5, done=lambda e: e is None)
    if error is not None:
        raise error
