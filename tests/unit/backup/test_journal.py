"""The journal of what a backup or restore changed, and what the next command repairs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mirante import settings
from mirante.backup import journal as journals


def ended_pid() -> int:
    ended = subprocess.Popen(["true"])
    ended.wait()
    return ended.pid


def no_client() -> object:
    raise AssertionError("repair asked for a Docker client with nothing to repair there")


def test_the_journal_is_written_before_a_change_and_removed_at_the_end(
    backup_settings: settings.Settings,
) -> None:
    with journals.recording(backup_settings, "backup") as journal:
        journal.stopping("alertmanager")
        on_disk = json.loads(journal.path.read_text())
        assert on_disk["stopped"] == ["alertmanager"]
        assert on_disk["pid"] == os.getpid()
        journal.started("alertmanager")
        assert json.loads(journal.path.read_text())["stopped"] == []
    assert not journal.path.exists()


def test_an_error_with_nothing_outstanding_removes_the_journal_too(
    backup_settings: settings.Settings,
) -> None:
    with (
        pytest.raises(RuntimeError),
        journals.recording(backup_settings, "restore") as journal,
    ):
        raise RuntimeError
    assert not journal.path.exists()


@pytest.mark.parametrize("signal_as", [KeyboardInterrupt, SystemExit, RuntimeError])
def test_an_end_with_something_outstanding_keeps_the_journal_for_the_next_command(
    backup_settings: settings.Settings, signal_as: type[BaseException]
) -> None:
    """Ctrl-C while Alertmanager is stopped: the journal stays, as a kill -9 leaves it.

    It once went on any exit, so the service stayed stopped and nothing repaired it.
    """

    def interrupted_backup() -> journals.Journal:
        with journals.recording(backup_settings, "backup") as journal:
            journal.stopping("alertmanager")
            raise signal_as

    with pytest.raises(signal_as):
        interrupted_backup()
    (journal,) = journals.left_behind(backup_settings)
    kept = json.loads(journal.path.read_text())
    assert kept["ended"] is True
    assert kept["stopped"] == ["alertmanager"]
    # Our own pid, still alive: ended says it is over all the same.
    (found,) = journals.left_behind(backup_settings)
    assert (found.pid, found.stopped, found.ended) == (os.getpid(), ["alertmanager"], True)


def test_scratch_volumes_and_databases_are_outstanding_until_gone(
    backup_settings: settings.Settings,
) -> None:
    with journals.recording(backup_settings, "restore") as journal:
        journal.scratch(volume="p_tempo_data_mirante_restore")
        journal.scratch(database="mirante_restore_0123")
        assert journal.outstanding
        journal.scratch(volume="p_tempo_data_mirante_restore", gone=True)
        journal.scratch(database="mirante_restore_0123", gone=True)
        assert not journal.outstanding
    assert not journal.path.exists()


def test_repair_notes_are_kept_until_a_command_has_shown_them(
    backup_settings: settings.Settings,
) -> None:
    """A repair done by a command that is itself killed is reported by the next one."""
    partial = backup_settings.backup_dir / "20260101T120000Z.partial"
    partial.mkdir(parents=True)
    dead = ended_pid()
    write_journal(backup_settings, dead, partial=str(partial))
    said = f"an interrupted backup (pid {dead}) had left {partial}: removed"
    assert journals.repair(backup_settings, no_client) == [said]  # type: ignore[arg-type]
    # That command is killed before it prints: the next one says it.
    assert journals.repair(backup_settings, no_client) == [said]  # type: ignore[arg-type]
    journals.acknowledge(backup_settings)
    assert journals.repair(backup_settings, no_client) == []  # type: ignore[arg-type]


def write_journal(config: settings.Settings, pid: int, **fields: object) -> Path:
    directory = config.state_dir / journals.DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"backup-{pid}.json"
    record = {"operation": "backup", "pid": pid, "stopped": [], "snapshot": "", "partial": ""}
    path.write_text(json.dumps({**record, **fields}))
    return path


def test_only_journals_of_ended_processes_are_left_behind(
    backup_settings: settings.Settings,
) -> None:
    dead = ended_pid()
    write_journal(backup_settings, dead)
    write_journal(backup_settings, os.getpid())
    write_journal(backup_settings, 1)  # init: alive
    (backup_settings.state_dir / journals.DIRECTORY / "garbled.json").write_text("{")
    found = {(j.operation, j.pid) for j in journals.left_behind(backup_settings)}
    assert found == {("backup", dead), ("unknown operation", 0)}


def test_nothing_to_repair_needs_no_docker(backup_settings: settings.Settings) -> None:
    write_journal(backup_settings, os.getpid(), stopped=["alertmanager"])
    assert journals.repair(backup_settings, no_client) == []  # type: ignore[arg-type]


def test_a_partial_set_of_a_killed_backup_is_removed_and_said(
    backup_settings: settings.Settings,
) -> None:
    partial = backup_settings.backup_dir / "20260101T120000Z.partial"
    (partial / "inner").mkdir(parents=True)
    dead = ended_pid()
    journal = write_journal(backup_settings, dead, partial=str(partial))
    notes = journals.repair(backup_settings, no_client)  # type: ignore[arg-type]
    assert notes == [f"an interrupted backup (pid {dead}) had left {partial}: removed"]
    assert not partial.exists()
    assert not journal.exists()


def test_a_journal_never_removes_what_is_not_a_partial_set(
    backup_settings: settings.Settings, tmp_path: Path
) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    write_journal(backup_settings, ended_pid(), partial=str(precious))
    journals.repair(backup_settings, no_client)  # type: ignore[arg-type]
    assert precious.is_dir()
