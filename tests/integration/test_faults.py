"""Fault injection on the real stack, seeded and bounded in time.

SIGKILL of `invoke backup` and of `invoke backup.restore` at random moments, and SIGINT to
the process group (what a terminal's Ctrl-C sends) of backup, restore and `stack.up`, each
followed by the next run of the same command; two `stack.up` at once; databases whose
names Postgres could cut; hand-edited and hostile sets; secrets compose would spell
otherwise. What every trial must leave: no service down, no row and no byte of an earlier
set lost, no traceback. The figures are printed in pytest's summary (``faults:`` lines).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from mirante import backup, files, settings, stack, waits
from mirante.services import INTERNAL
from tests.helpers import REPO, docker_out, invoke

# One stack for the session: these tests run in one xdist worker, in order.

SEED = int(os.environ.get("MIRANTE_TEST_FAULT_SEED", "20261201"))
# Per signal and command: one in CI's run, more in the nightly job (MIRANTE_FAULT_TRIALS).
TRIALS = int(os.environ.get("MIRANTE_FAULT_TRIALS") or 1)
SERVICES = "alertmanager,prometheus"  # one stopped for its copy, one snapshot


def popen(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """The command in a process group of its own: Ctrl-C's SIGINT reaches it all."""
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def interrupt(process: subprocess.Popen[str], how: signal.Signals) -> bool:
    """SIGKILL the command, or SIGINT its whole group as a terminal does; whether it ran."""
    if process.poll() is not None:
        return False
    if how == signal.SIGINT:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(how)
    return True


def services_down(config: settings.Settings) -> list[str]:
    """The stack's services that are not up once every start has settled."""
    docker = stack.write_project_files(config).docker
    states = stack.container_states(docker, config).items()
    # The one-shot helpers (the healthprobe) exit once their work is done.
    return sorted(n for n, c in states if n not in INTERNAL and not stack.is_up(c))


def helpers_running(config: settings.Settings) -> list[str]:
    """This project's helper containers (backup-tools) still at work: a kill leaves them.

    By the volumes they mount: the project's own and a restore's fresh ones, all named
    ``<project>_...`` (a fresh volume has no compose label).
    """
    prefix = f"{config.project_name}_"
    found = []
    for volume in docker_out("volume", "ls", "-q").split():
        if volume.startswith(prefix):
            found += docker_out(
                "ps", "--filter", f"volume={volume}", "--format", "{{.Image}}"
            ).split()
    return [image for image in found if "backup-tools" in image]


def fingerprints(root: Path) -> dict[str, str]:
    """sha256 of every file of every complete set under ``root``."""
    return {
        str(p.relative_to(root)): files.sha256_of(p)
        for p in sorted(root.glob("*Z/*"))
        if p.is_file() and p.name != backup.VERIFIED
    }


def snapshots(config: settings.Settings) -> list[str]:
    listed = subprocess.run(
        [
            "docker",
            "exec",
            f"{config.project_name}-prometheus-1",
            "ls",
            "/prometheus/snapshots",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return listed.stdout.split()


def swap_leftovers(config: settings.Settings) -> list[str]:
    """A restore's fresh volumes, and previous copies of a volume's data, still there."""
    volumes = docker_out("volume", "ls", "--format", "{{.Name}}").split()
    found = [v for v in volumes if v.startswith(config.project_name) and v.endswith("_restore")]
    inside = subprocess.run(
        ["docker", "exec", f"{config.project_name}-alertmanager-1", "ls", "-a", "/alertmanager"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return found + [name for name in inside if name.startswith(".mirante-previous")]


@pytest.fixture
def fault_env(stack_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **stack_env,
        "MIRANTE_BACKUP_DIR": str(tmp_path / "backups"),
        "MIRANTE_LOCK_TIMEOUT": "120",
    }


@pytest.fixture
def fault_settings(stack_root: Path, fault_env: dict[str, str]) -> settings.Settings:
    return settings.load(stack_root, environ=fault_env)


def test_killed_backups_and_restores_leave_nothing_down_lost_or_behind(
    record_property: Callable[[str, object], None],
    running_stack: stack.UpReport,
    fault_env: dict[str, str],
    fault_settings: settings.Settings,
) -> None:
    rng = random.Random(SEED)
    began = time.monotonic()
    first = invoke(fault_env, "backup", "--services", SERVICES)
    duration = time.monotonic() - began
    assert first.returncode == 0, first.stderr
    good = backup.list_sets(fault_settings)[-1].name
    before = fingerprints(fault_settings.backup_dir)
    outputs = [first.stdout + first.stderr]
    kills = interrupts = repaired = trials = 0
    for command in (
        ("backup", "--services", SERVICES),
        ("backup.restore", good, "--services", "alertmanager", "--yes"),
        ("stack.up",),
    ):
        hows = [signal.SIGINT] * TRIALS
        if command[0] != "stack.up":
            hows = [signal.SIGKILL, signal.SIGINT] * TRIALS
        else:  # from stopped containers, so that the signal comes mid-start
            assert invoke(fault_env, "stack.down").returncode == 0
            began = time.monotonic()
            assert invoke(fault_env, "stack.up").returncode == 0
            duration = time.monotonic() - began
        for how in hows:
            trials += 1
            if command[0] == "stack.up":
                assert invoke(fault_env, "stack.down").returncode == 0
            process = popen(fault_env, *command)
            delay = rng.uniform(0.2, duration)
            time.sleep(delay)
            if interrupt(process, how):
                kills += how == signal.SIGKILL
                interrupts += how == signal.SIGINT
            outputs.append(process.communicate()[0])
            waits.until(
                lambda: not helpers_running(fault_settings), 30, 0.2
            )  # the kill orphaned them
            after = invoke(fault_env, *command)
            outputs.append(after.stdout + after.stderr)
            assert after.returncode == 0, after.stdout + after.stderr
            repaired += after.stdout.count("note: an interrupted")
            said = (
                f"{command[0]} sent {how.name} at {delay:.2f} s:\n{outputs[-2][-1500:]}\n"
                f"then:\n{outputs[-1][-1500:]}"
            )
            assert services_down(fault_settings) == [], said
            assert list(fault_settings.backup_dir.glob("*.partial")) == [], said
            assert snapshots(fault_settings) == [], said
            assert swap_leftovers(fault_settings) == [], said
    lost = [k for k, v in before.items() if fingerprints(fault_settings.backup_dir).get(k) != v]
    tracebacks = sum("Traceback" in o for o in outputs)
    verified = invoke(fault_env, "backup.verify", good)
    record_property(
        "faults",
        f"faults: {trials} trials (seed {SEED}), {kills} kill -9, {interrupts} SIGINT to the "
        f"group, {repaired} repairs said, {len(services_down(fault_settings))} services left "
        f"down, {len(lost)} files of earlier sets changed, {tracebacks} tracebacks",
    )
    assert lost == []
    assert tracebacks == 0
    assert verified.returncode == 0, verified.stdout


def test_a_full_destination_fails_in_one_line_and_loses_nothing(
    record_property: Callable[[str, object], None],
    running_stack: stack.UpReport,
    fault_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The backup directory fills up during a backup: an earlier set in it stays intact."""
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(small)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill: {mounted.stderr.strip()}")
    env = {**fault_env, "MIRANTE_BACKUP_DIR": str(small)}
    config = settings.load(Path(env["MIRANTE_ROOT"]), environ=env)
    try:
        earlier = invoke(env, "backup", "--services", "alertmanager")
        assert earlier.returncode == 0, earlier.stderr
        before = fingerprints(small)
        filler = small / "filler"
        with suppress(OSError), filler.open("wb", buffering=0) as fill:  # until the disk is full
            for _ in range(1024):
                fill.write(b"\0" * 4096)
        result = invoke(env, "backup", "--services", "prometheus,alertmanager")
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("error: backup of ")
        assert "No space left on device" in lines[0]
        assert lines[0].endswith("no set was written")
        lost = [k for k, v in before.items() if fingerprints(small).get(k) != v]
        left = sorted(p.name for p in small.iterdir() if p.name.endswith(".partial"))
        down = services_down(config)
        record_property(
            "faults",
            f"faults: full destination, {len(down)} services left down, {len(lost)} files of "
            f"earlier sets changed, {len(left)} partial sets left, "
            f"{int('Traceback' in result.stderr)} tracebacks",
        )
        assert (lost, left, down) == ([], [], [])
        assert [s.name for s in backup.list_sets(config)] == [
            p.parent.name for p in small.glob("*Z/manifest.json")
        ]
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_two_stack_up_at_once_both_succeed_on_one_network(
    running_stack: stack.UpReport, stack_env: dict[str, str]
) -> None:
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: invoke(stack_env, "stack.up"), range(2)))
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    project = stack_env["MIRANTE_PROJECT_NAME"]
    networks = docker_out(
        "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"
    ).split()
    assert len(networks) == 1
    assert not any("Traceback" in r.stderr for r in runs)


# Each hand edit that once got through, as (what it does, the edit of the manifest).
ATTACKS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("a shell word in a file name", lambda m: m["archives"][0].update(file="x.tar.zst;id>&2;")),
    ("a path out of the set", lambda m: m["archives"][0].update(file="../other/x.tar.zst")),
    ("an absolute path", lambda m: m["archives"][0].update(file="/etc/hostname")),
    (
        "a connection string as a database",
        lambda m: m["archives"].append(
            {
                **m["archives"][0],
                "service": "postgres",
                "method": "pg_dump",
                "file": "postgres-dbname=mirante application_name=.dump",
            }
        ),
    ),
    ("two archives for one service", lambda m: m["archives"].append(dict(m["archives"][0]))),
    ("no archives", lambda m: m.update(archives=[])),
    ("set garbage", lambda m: m.update(set="garbage")),
    ("size as text", lambda m: m["archives"][0].update(size="4")),
    ("seconds null", lambda m: m.update(seconds=None)),
]


def test_every_hand_edited_set_is_refused_before_anything_runs(
    running_stack: stack.UpReport,
    fault_env: dict[str, str],
    fault_settings: settings.Settings,
) -> None:
    made = invoke(fault_env, "backup", "--services", "alertmanager")
    assert made.returncode == 0, made.stderr
    good = backup.list_sets(fault_settings)[-1]
    for number, (attack, edit) in enumerate(ATTACKS):
        name = f"2000010{number + 1}T000000Z"
        copy = fault_settings.backup_dir / name
        shutil.copytree(good.path, copy)
        manifest = json.loads((copy / backup.MANIFEST).read_text())
        manifest["set"] = name
        edit(manifest)
        (copy / backup.MANIFEST).write_text(json.dumps(manifest))
        for args in (("backup.verify", name), ("backup.restore", name, "--yes")):
            result = invoke(fault_env, *args)
            said = f"{attack}: {result.stdout}{result.stderr}"
            assert result.returncode == 2, said
            assert "is damaged" in said or "no backup set" in said, said
            assert "uid=" not in said
            assert "Traceback" not in said
    listed = invoke(fault_env, "backup.list")
    assert listed.returncode == 0
    assert listed.stdout.count("DAMAGED") == len(ATTACKS)
    assert good.name in listed.stdout
    verified = invoke(fault_env, "backup.verify", good.name)  # the good set is untouched
    assert verified.returncode == 0, verified.stdout


def psql(config: settings.Settings, sql: str, database: str = "postgres") -> str:
    done = subprocess.run(
        ["docker", "exec", "-u", "postgres", f"{config.project_name}-postgres-1",
         "psql", "-U", config.postgres_user, "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_databases_whose_names_postgres_could_cut_are_restored_whole(
    record_property: Callable[[str, object], None],
    running_stack: stack.UpReport,
    fault_env: dict[str, str],
    fault_settings: settings.Settings,
) -> None:
    """63 characters: the restore once dropped the live database; 54-62: swapped it back."""
    names = {n: "d" if n == 1 else f"d{n:02d}" + "x" * (n - 3) for n in (1, 54, 62, 63)}
    rows = {length: 100 + length for length in names}
    for length, name in names.items():
        psql(fault_settings, f'drop database if exists "{name}"')
        psql(fault_settings, f'create database "{name}"')
        fill = f"insert into t select g from generate_series(1, {rows[length]}) g"  # noqa: S608
        psql(fault_settings, f"create table t (id int primary key); {fill}", name)
    made = invoke(fault_env, "backup", "--services", "postgres")
    assert made.returncode == 0, made.stderr
    for name in names.values():  # what the restore must undo
        psql(fault_settings, "delete from t where id > 10", name)
    restored = invoke(fault_env, "backup.restore", "latest", "--services", "postgres", "--yes")
    said = restored.stdout + restored.stderr
    found = {length: int(psql(fault_settings, "select count(*) from t", name) or 0)
             for length, name in names.items()}  # fmt: skip
    leftovers = psql(
        fault_settings, "select datname from pg_database where datname like 'mirante\\_%'"
    ).split()
    lost = sum(rows[n] - found[n] for n in names)
    record_property(
        "faults",
        f"faults: database names of {', '.join(map(str, names))} characters restored, "
        f"{lost} rows lost, {len(leftovers)} scratch databases left, "
        f"{int('Traceback' in said)} tracebacks",
    )
    assert restored.returncode == 0, said
    assert found == rows, said
    assert leftovers == []
    for name in names.values():
        psql(fault_settings, f'drop database "{name}"')


def test_hostile_sets_are_refused_by_name_with_nothing_touched(
    record_property: Callable[[str, object], None],
    running_stack: stack.UpReport,
    fault_env: dict[str, str],
    fault_settings: settings.Settings,
    tmp_path: Path,
) -> None:
    """What a copied directory can bring: every one refused in one line, no traceback."""
    import io
    import tarfile

    import zstandard

    made = invoke(fault_env, "backup", "--services", "alertmanager")
    assert made.returncode == 0, made.stderr
    good = backup.list_sets(fault_settings)[-1]
    root = fault_settings.backup_dir

    def copy(name: str) -> Path:
        target = root / name
        shutil.copytree(good.path, target)
        manifest = json.loads((target / backup.MANIFEST).read_text())
        manifest["set"] = name
        (target / backup.MANIFEST).write_text(json.dumps(manifest))
        return target

    def with_member(name: str, member: tarfile.TarInfo) -> Path:
        target = copy(name)
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            tar.addfile(member)
        archive = target / "alertmanager.tar.zst"
        archive.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(raw.getvalue()))
        manifest = json.loads((target / backup.MANIFEST).read_text())
        manifest["archives"][0].update(size=archive.stat().st_size,
                                       sha256=files.sha256_of(archive))  # fmt: skip
        (target / backup.MANIFEST).write_text(json.dumps(manifest))
        return target

    def tarinfo(name: str, kind: bytes, **attrs: Any) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        for key, value in attrs.items():
            setattr(info, key, value)
        return info

    def edited(name: str, change: Callable[[dict[str, Any]], None]) -> Path:
        target = copy(name)
        manifest = json.loads((target / backup.MANIFEST).read_text())
        change(manifest)
        (target / backup.MANIFEST).write_text(json.dumps(manifest))
        return target

    cases: list[tuple[str, Callable[[], Path], str]] = [
        ("a size of 10**400", lambda: edited(
            "20000201T000000Z", lambda m: m["archives"][0].update(size=10**400)), "damaged"),
        ("a deep manifest", lambda: (copy("20000202T000000Z") / backup.MANIFEST).write_text(
            "[" * 200_000 + "]" * 200_000) and root / "20000202T000000Z", "damaged"),
        ("a service named [/x]", lambda: edited(
            "20000203T000000Z", lambda m: m["archives"][0].update(service="[/x]")), "damaged"),
        ("a device node", lambda: with_member(
            "20000204T000000Z", tarinfo("./sda", tarfile.BLKTYPE, devmajor=8)), "device node"),
        ("a setuid file", lambda: with_member(
            "20000205T000000Z", tarinfo("./sh", tarfile.REGTYPE, mode=0o4755)), "setuid"),
        ("a fifo", lambda: with_member(
            "20000206T000000Z", tarinfo("./p", tarfile.FIFOTYPE)), "is a fifo"),
        ("a link to /etc/shadow", lambda: with_member(
            "20000207T000000Z", tarinfo("./s", tarfile.SYMTYPE, linkname="/etc/shadow")),
         "outside the volume"),
    ]  # fmt: skip
    tracebacks = refused = 0
    for what, make, says in cases:
        made_set = make()
        for args in (("backup.verify", made_set.name), ("backup.restore", made_set.name, "--yes")):
            result = invoke(fault_env, *args)
            said = f"{what}: {result.stdout}{result.stderr}"
            tracebacks += "Traceback" in said
            assert result.returncode in (1, 2), said
            assert says in said, said
            refused += 1
    # A fullwidth-digit "set" and a symlinked set: not sets, never verified through.
    (root / "\uff12\uff10\uff12\uff100101T000000Z").symlink_to(good.path)
    (root / "20000301T000000Z").symlink_to(tmp_path)
    lock = root / backup.LOCK
    lock.unlink(missing_ok=True)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    lock.symlink_to(victim)
    pruned = invoke(fault_env, "backup.prune", "--keep-last", "1")
    tracebacks += "Traceback" in pruned.stderr
    listed = invoke(fault_env, "backup.list")
    tracebacks += "Traceback" in listed.stderr
    intact = victim.read_text() == "precious"
    record_property(
        "faults",
        f"faults: {len(cases)} hostile sets and a .lock link, {refused} commands refused, "
        f"{tracebacks} tracebacks, the .lock's target {'intact' if intact else 'CLOBBERED'}",
    )
    assert pruned.returncode == 2, pruned.stderr
    assert "is a symbolic link" in pruned.stderr
    assert victim.read_text() == "precious"
    assert tracebacks == 0
    assert services_down(fault_settings) == []
    lock.unlink()
    verified = invoke(fault_env, "backup.verify", good.name)
    assert verified.returncode == 0, verified.stdout + verified.stderr
