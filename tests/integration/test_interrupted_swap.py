"""A restore killed while it swapped a volume's data: the next command puts it right.

Each state a kill -9 can leave (some entries moved aside, all moved and the copy half
done, the new data accepted) is made on a real volume; ``journals.repair`` must give
back the volume's data from before the restore, or keep the accepted new data, and leave
no previous copy behind.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace

import pytest

from mirante import settings, stack
from mirante.backup import journal as journals
from mirante.backup import volumes
from mirante.backup.sets import volume_name
from mirante.backup.volumes import helper

# One stack for the session: these tests run in one xdist worker, in order.

OLD = {"wal/000001": "old wal", "chunks/1": "old chunk", "meta.json": "old meta"}
NEW = {"wal/000009": "new wal", "meta.json": "new meta"}
# Each script is a constant; names and contents arrive as arguments.
WRITE = 'mkdir -p "$(dirname "/data/$1")" && printf %s "$2" > "/data/$1"'
MOVE = 'mkdir -p "/data/$2" && mv "/data/$1" "/data/$2/"'
LIST = (
    "cd /data && find . -type f | sort"
    ' | while read -r f; do printf "%s=%s\\n" "$f" "$(cat "$f")"; done'
)


@pytest.fixture
def swap_settings(stack_settings: settings.Settings) -> Iterator[settings.Settings]:
    """A project of its own (no containers), whose grafana volume is the one swapped."""
    config = replace(stack_settings, project_name="mirantetest-swap")
    volume = volume_name(config, "grafana")
    subprocess.run(["docker", "volume", "create", volume], check=True, capture_output=True)
    yield config
    subprocess.run(["docker", "volume", "rm", "-f", volume], check=True, capture_output=True)


def put(config: settings.Settings, files: dict[str, str], under: str = "") -> None:
    docker = stack.write_project_files(config).docker
    for name, text in files.items():
        path = f"{under}/{name}" if under else name
        helper(config, docker, WRITE, [(volume_name(config, "grafana"), "/data", "rw")],
                      as_root=True, args=(path, text))  # fmt: skip


def content(config: settings.Settings) -> dict[str, str]:
    docker = stack.write_project_files(config).docker
    listed = helper(config, docker, LIST, [(volume_name(config, "grafana"), "/data", "ro")])
    return dict(line.removeprefix("./").split("=", 1) for line in listed.splitlines() if line)


def journal(config: settings.Settings, kept: bool) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    volume = volume_name(config, "grafana")
    record = journals.Journal(
        "restore", dead.pid, swapped=[volume], kept=[volume] if kept else [],
        path=config.state_dir / journals.DIRECTORY / f"restore-{dead.pid}.json",
    )  # fmt: skip
    record.path.parent.mkdir(parents=True, exist_ok=True)
    record.save()


def repair(config: settings.Settings) -> list[str]:
    """What the repair says, shown once (as a command prints it, then forgets it)."""
    notes = journals.repair(config, lambda: stack.write_project_files(config).docker)
    journals.acknowledge(config)
    return notes


def test_killed_while_moving_aside_gives_every_entry_back(swap_settings: settings.Settings) -> None:
    put(swap_settings, OLD)
    docker = stack.write_project_files(swap_settings).docker
    helper(swap_settings, docker, MOVE, [(volume_name(swap_settings, "grafana"), "/data", "rw")],
                  as_root=True, args=("wal", volumes.MOVING))  # fmt: skip
    journal(swap_settings, kept=False)
    (note,) = repair(swap_settings)
    assert "its data from before that restore is back" in note
    assert content(swap_settings) == OLD


def test_killed_while_copying_in_drops_the_half_copy(swap_settings: settings.Settings) -> None:
    put(swap_settings, OLD, volumes.PREVIOUS)
    put(swap_settings, {"wal/000009": "new w"})  # a copy cut short
    journal(swap_settings, kept=False)
    (note,) = repair(swap_settings)
    assert "its data from before that restore is back" in note
    assert content(swap_settings) == OLD


def test_killed_after_the_new_data_was_accepted_keeps_it(swap_settings: settings.Settings) -> None:
    put(swap_settings, OLD, volumes.PREVIOUS)
    put(swap_settings, NEW)
    journal(swap_settings, kept=True)
    (note,) = repair(swap_settings)
    assert "kept, and the previous copy removed" in note
    assert content(swap_settings) == NEW


def test_killed_before_anything_moved_changes_nothing(swap_settings: settings.Settings) -> None:
    put(swap_settings, OLD)
    journal(swap_settings, kept=False)
    (note,) = repair(swap_settings)
    assert "nothing had changed yet" in note
    assert content(swap_settings) == OLD
    assert journals.left_behind(swap_settings) == []
