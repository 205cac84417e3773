"""What a backup or restore changes, written down before it changes it.

A kill -9 runs no ``finally``: a backup killed while Alertmanager is stopped leaves it
stopped, a Prometheus snapshot pinning blocks, and a ``.partial`` set. So each operation
keeps a journal (``.mirante/interrupted/<operation>-<pid>.json``) of what it has changed
and not yet put back; it removes the journal when it ends, however it ends, short of a
kill. The next ``stack.up``, backup or restore calls :func:`repair` (holding the stack's
lock): for each journal whose process is gone, it starts again what was stopped, removes
the snapshot and the partial set, and says so.
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

from mirante.errors import MiranteError
from mirante.files import atomic_write
from mirante.settings import Settings

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
    path: Path = field(default=Path(), repr=False, compare=False)

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

    def set(self, *, snapshot: str | None = None, partial: str | None = None) -> None:
        """Record a snapshot or a partial set ('' once it is gone or final)."""
        if snapshot is not None:
            self.snapshot = snapshot
        if partial is not None:
            self.partial = partial
        self.save()


@contextmanager
def recording(settings: Settings, operation: str) -> Iterator[Journal]:
    """A journal for the operation, removed when the block ends (an error too)."""
    directory = settings.state_dir / DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    journal = Journal(operation, os.getpid(), path=directory / f"{operation}-{os.getpid()}.json")
    journal.save()
    try:
        yield journal
    finally:
        journal.path.unlink(missing_ok=True)


def left_behind(settings: Settings) -> list[Journal]:
    """The journals of operations whose process is gone (a journal it cannot read: too)."""
    directory = settings.state_dir / DIRECTORY
    found = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
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
                path=path,
            )
        except (OSError, ValueError, KeyError, TypeError):
            journal = Journal("unknown operation", 0, path=path)
        if journal.pid != os.getpid() and not alive(journal.pid):
            found.append(journal)
    return found


def repair(settings: Settings, client: Callable[[], DockerClient]) -> list[str]:
    """Put back what interrupted operations left; a note for each thing done.

    The caller holds the stack's lock (a partial set named in a journal belongs to that
    operation alone: no other lock is needed). ``client`` is called only when there is
    something to repair.
    """
    found = left_behind(settings)
    if not found:
        return []
    from mirante import stack
    from mirante.backup.create import helper
    from mirante.backup.sets import volume_name

    notes = []
    for journal in found:
        what = f"an interrupted {journal.operation} (pid {journal.pid})"
        try:
            notes += _finish_swaps(settings, client, journal, what)
        except MiranteError as exc:
            notes.append(f"{what} was replacing volume data; putting it back failed: {exc}")
            continue  # keep the journal: the next command tries again
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
                continue  # keep the journal: the next command tries again
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
                continue
        partial = Path(journal.partial)
        if journal.partial and partial.name.endswith(".partial") and partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
            notes.append(f"{what} had left {partial}: removed")
        journal.path.unlink(missing_ok=True)
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
    from mirante import stack
    from mirante.backup.create import helper
    from mirante.backup.restore import DROP_PREVIOUS, RESTORING_SUFFIX, UNDO
    from mirante.backup.sets import volume_name
    from mirante.docker import docker_errors
    from mirante.services import SERVICES

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
