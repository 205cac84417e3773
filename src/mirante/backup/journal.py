"""What a backup or restore changes, written down before it changes it.

A kill -9 runs no ``finally``: a backup killed while Alertmanager is stopped leaves it
stopped, a Prometheus snapshot pinning blocks, and a ``.partial`` set. Ctrl-C and SIGTERM
run them, but reach the ``docker compose`` that would start the service again too. So
each operation keeps a journal (``.mirante/interrupted/<operation>-<pid>.json``) of what it
has changed and not yet put back. When the operation ends with nothing outstanding, the
journal goes; when it ends (an error, Ctrl-C) with something still outstanding, the
journal stays, marked ended, exactly as a kill leaves it. The next ``stack.up``, backup
or restore calls :func:`repair` (holding the stack's lock): for each journal whose
operation is over, it starts again what was stopped, puts volume data back, removes the
snapshot, the fresh volumes and databases, and the partial set, and says so. What it says
is kept (``repaired.json``) until a command has shown it (:func:`acknowledge`): a repair
done by a command that is itself killed is reported by the next one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mirante import stack
from mirante.backup.sets import volume_name
from mirante.backup.volumes import DROP_PREVIOUS, RESTORING_SUFFIX, UNDO, helper
from mirante.db.postgres import StackPostgres, quote_identifier, quote_literal
from mirante.errors import MiranteError
from mirante.files import alive, atomic_write
from mirante.services import SERVICES
from mirante.settings import Settings
from mirante.tools.docker import docker_errors

if TYPE_CHECKING:
    from python_on_whales import DockerClient

DIRECTORY = "interrupted"


@dataclass
class Journal:
    """What one running operation has changed and not yet put back."""

    operation: str
    pid: int
    stopped: list[str] = field(default_factory=list)  # services it stopped
    snapshot: str = ""  # a Prometheus snapshot, as a path inside its volume
    partial: str = ""  # the set directory it is writing
    swapped: list[str] = field(default_factory=list)  # volumes holding their previous data
    kept: list[str] = field(default_factory=list)  # of those, the ones whose new data stays
    fresh: list[str] = field(default_factory=list)  # scratch volumes a restore extracts into
    databases: list[str] = field(default_factory=list)  # scratch databases of a restore
    ended: bool = False  # the operation is over, with what is recorded still outstanding
    path: Path = field(default=Path(), repr=False, compare=False)

    @property
    def outstanding(self) -> bool:
        """Whether anything it changed is not put back yet."""
        return bool(
            self.stopped or self.snapshot or self.partial or self.swapped or self.fresh
            or self.databases
        )  # fmt: skip

    def save(self) -> None:
        """Write the journal down (atomically, before the change it announces)."""
        record = {k: v for k, v in asdict(self).items() if k != "path"}
        atomic_write(self.path, json.dumps(record) + "\n", 0o600)

    def stopping(self, service: str) -> None:
        """Record that ``service`` is about to be stopped."""
        self.stopped.append(service)
        self.save()

    def started(self, service: str) -> None:
        """Record that ``service`` runs again."""
        with suppress(ValueError):
            self.stopped.remove(service)
        self.save()

    def swapping(self, volume: str, done: bool = False, kept: bool = False) -> None:
        """Record that ``volume``'s data is being replaced.

        ``kept``: the new data is in place and stays (its service is well on it); ``done``:
        the previous data is gone too.
        """
        if done:
            for recorded in (self.swapped, self.kept):
                with suppress(ValueError):
                    recorded.remove(volume)
        elif kept:
            self.kept.append(volume)
        else:
            self.swapped.append(volume)
        self.save()

    def scratch(self, *, volume: str = "", database: str = "", gone: bool = False) -> None:
        """Record a scratch volume or database about to be made (``gone``: removed)."""
        for name, recorded in ((volume, self.fresh), (database, self.databases)):
            if not name:
                continue
            if gone:
                with suppress(ValueError):
                    recorded.remove(name)
            elif name not in recorded:
                recorded.append(name)
        self.save()

    def set(self, *, snapshot: str | None = None, partial: str | None = None) -> None:
        """Record a snapshot or a partial set ('' once it is gone or final)."""
        if snapshot is not None:
            self.snapshot = snapshot
        if partial is not None:
            self.partial = partial
        self.save()


@contextmanager
def recording(settings: Settings, operation: str) -> Iterator[Journal]:
    """A journal for the operation, for the block.

    It is removed when the block ends with nothing outstanding; with something outstanding
    (an error, Ctrl-C, SIGTERM turned into an exception), it stays, marked ended, for the
    next command's :func:`repair`.
    """
    directory = settings.state_dir / DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    journal = Journal(operation, os.getpid(), path=directory / f"{operation}-{os.getpid()}.json")
    journal.save()
    try:
        yield journal
    finally:
        if journal.outstanding:
            journal.ended = True
            journal.save()
        else:
            journal.path.unlink(missing_ok=True)


def left_behind(settings: Settings) -> list[Journal]:
    """The journals of operations whose process is gone (a journal it cannot read: too)."""
    directory = settings.state_dir / DIRECTORY
    found = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        if path.name == NOTES:
            continue
        try:
            data = json.loads(path.read_text())
            journal = Journal(
                str(data["operation"]),
                int(data["pid"]),
                [str(s) for s in data["stopped"]],
                str(data["snapshot"]),
                str(data["partial"]),
                [str(v) for v in data.get("swapped", [])],
                [str(v) for v in data.get("kept", [])],
                [str(v) for v in data.get("fresh", [])],
                [str(v) for v in data.get("databases", [])],
                bool(data.get("ended", False)),
                path=path,
            )
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            journal = Journal("unknown operation", 0, path=path)
        if journal.ended or (journal.pid != os.getpid() and not alive(journal.pid)):
            found.append(journal)
    return found


NOTES = "repaired.json"


def pending(settings: Settings) -> list[str]:
    """What repairs said that no command has shown yet."""
    path = settings.state_dir / DIRECTORY / NOTES
    try:
        notes = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return []
    return [str(n) for n in notes] if isinstance(notes, list) else []


def _remember(settings: Settings, notes: list[str]) -> None:
    path = settings.state_dir / DIRECTORY / NOTES
    atomic_write(path, json.dumps(pending(settings) + notes) + "\n", 0o600)


def acknowledge(settings: Settings) -> None:
    """The repairs' notes have been shown: forget them."""
    (settings.state_dir / DIRECTORY / NOTES).unlink(missing_ok=True)


def repair(settings: Settings, client: Callable[[], DockerClient]) -> list[str]:
    """Put back what interrupted operations left; a note for each thing done.

    The caller holds the stack's lock (a partial set named in a journal belongs to that
    operation alone: no other lock is needed). ``client`` is called only when there is
    something to repair.
    """
    found = left_behind(settings)
    if not found:
        return pending(settings)
    notes: list[str] = []
    for journal in found:
        said = _repair_one(settings, client, journal)
        _remember(settings, said)  # before the next one: a kill now loses no note
        notes += said
    return pending(settings)


def _repair_one(
    settings: Settings, client: Callable[[], DockerClient], journal: Journal
) -> list[str]:
    """Put back what one journal records; its notes. The journal goes once all is back."""
    notes: list[str] = []
    what = f"an interrupted {journal.operation} (pid {journal.pid})"
    try:
        notes += _finish_swaps(settings, client, journal, what)
        notes += _drop_scratch(settings, client, journal, what)
    except MiranteError as exc:
        notes.append(f"{what} was replacing data; putting it back failed: {exc}")
        return notes  # keep the journal: the next command tries again
    down = []
    if journal.stopped:
        states = stack.container_states(client(), settings)
        down = [s for s in journal.stopped if s in states and not stack.is_running(states[s])]
    if down:
        try:
            stack.compose_up(settings, down, pull=False, timeout=settings.stack_timeout)
            notes.append(f"{what} had stopped {', '.join(down)}: started again")
        except MiranteError as exc:
            notes.append(f"{what} had stopped {', '.join(down)}; starting failed: {exc}")
            return notes  # keep the journal: the next command tries again
    journal.stopped.clear()
    journal.save()
    if journal.snapshot.startswith("/data/snapshots/"):
        try:
            helper(
                settings,
                client(),
                'rm -rf -- "$1"',
                [(volume_name(settings, "prometheus"), "/data", "rw")],
                as_root=True,
                args=(journal.snapshot,),
            )
            notes.append(f"{what} had left Prometheus snapshot {journal.snapshot}: removed")
        except MiranteError as exc:
            notes.append(f"{what} left snapshot {journal.snapshot}; removing failed: {exc}")
            return notes
    partial = Path(journal.partial)
    if journal.partial and partial.name.endswith(".partial") and partial.is_dir():
        shutil.rmtree(partial, ignore_errors=True)
        notes.append(f"{what} had left {partial}: removed")
    journal.path.unlink(missing_ok=True)
    return notes


def _drop_scratch(
    settings: Settings, client: Callable[[], DockerClient], journal: Journal, what: str
) -> list[str]:
    """Remove the scratch volumes and databases an interrupted restore made."""
    if not (journal.fresh or journal.databases):
        return []

    docker = client()
    notes = []
    with docker_errors():
        for volume in list(journal.fresh):
            if docker.volume.exists(volume):
                docker.volume.remove(volume)
                notes.append(f"{what} had left scratch volume {volume}: removed")
            journal.scratch(volume=volume, gone=True)
    if journal.databases:
        state = stack.container_states(docker, settings).get("postgres")
        if state is None or not stack.is_up(state):
            raise MiranteError(
                f"it left scratch database(s) {', '.join(journal.databases)}, and postgres is "
                "not running to drop them"
            )
        pg = StackPostgres(settings, docker, state)
        for database in list(journal.databases):
            named = quote_literal(database)
            found = pg.sql(f"select count(*) from pg_database where datname = {named}")  # noqa: S608
            pg.sql(f"drop database if exists {quote_identifier(database)} with (force)")
            if found != "0":
                notes.append(f"{what} had left scratch database {database}: dropped")
            journal.scratch(database=database, gone=True)
    return notes


def _finish_swaps(
    settings: Settings, client: Callable[[], DockerClient], journal: Journal, what: str
) -> list[str]:
    """Undo each volume swap a restore left half done; drop the old copy of a finished one.

    A swap whose service had not yet turned healthy on the new data is undone (the data
    the volume had before the restore comes back, whichever step the kill hit); one that
    had is kept, and only its previous copy is removed. The service is stopped meanwhile
    and started again with the journal's other stopped services.
    """
    if not journal.swapped:
        return []
    docker = client()

    owner = {volume_name(settings, s.name): s.name for s in SERVICES}
    notes = []
    for volume in list(journal.swapped):
        service = owner.get(volume, "")
        if volume in journal.kept:
            helper(settings, docker, DROP_PREVIOUS, [(volume, "/data", "rw")], as_root=True)
            notes.append(
                f"{what} had put the restored data into volume {volume}: kept, and the "
                "previous copy removed"
            )
        else:
            if service and stack.is_running(stack.container_states(docker, settings).get(service)):
                with docker_errors():
                    docker.compose.stop([service])
                if service not in journal.stopped:
                    journal.stopping(service)
            found = helper(settings, docker, UNDO, [(volume, "/data", "rw")], as_root=True)
            notes.append(
                f"{what} was replacing the data of volume {volume}: "
                + (
                    "nothing had changed yet"
                    if found.strip() == "nothing"
                    else "its data from before that restore is back; restore again if you "
                    "still want the set's"
                )
            )
        journal.swapping(volume, done=True)
    with docker_errors():
        for volume in owner:
            fresh = volume + RESTORING_SUFFIX
            if docker.volume.exists(fresh):
                docker.volume.remove(fresh)
    return notes
