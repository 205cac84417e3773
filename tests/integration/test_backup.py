"""Backups of the real stack: consistent, private, verifiable, restorable, serialised."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mirante import backup, settings, stack

from .conftest import invoke

ROWS = "select md5(string_agg(id::text || ':' || note, ',' order by id)) from mirante_backup_probe"


def psql(docker: object, container: object, sql: str, database: str, user: str) -> str:
    return str(
        docker.container.execute(  # type: ignore[attr-defined]
            container, ["psql", "-U", user, "-d", database, "-Atc", sql], user="postgres"
        )
    ).strip()


def test_backup_is_consistent_private_and_restorable(
    running_stack: stack.UpReport, stack_settings: settings.Settings, tmp_path: Path
) -> None:
    config = settings.load(
        stack_settings.root,
        environ={
            **{v.name: stack_settings.value_of(v) for v in settings.VARIABLES if not v.secret},
            "MIRANTE_BACKUP_DIR": str(tmp_path / "backups"),
        },
    )
    _, _, docker = stack.prepare(config)
    postgres = stack.container_states(docker, config)["postgres"]
    user, database = config.postgres_user, config.postgres_db
    psql(
        docker,
        postgres,
        "create table mirante_backup_probe (id int primary key, note text); "
        "insert into mirante_backup_probe select g, md5(g::text) from generate_series(1, 500) g",
        database,
        user,
    )
    expected = psql(docker, postgres, ROWS, database, user)

    made = backup.create(config)
    assert set(made.services) >= {"prometheus", "postgres", "alertmanager"}
    assert not list(config.backup_dir.glob("*.partial"))
    for archive in made.archives:
        file = made.path / archive.file
        assert (
            stat.S_IMODE(file.stat().st_mode) == 0o600 and file.stat().st_size == archive.size > 0
        )
    states = stack.container_states(docker, config)
    assert stack.describe(states["alertmanager"]) in ("healthy", "starting", "running")  # restarted
    _, checks = backup.verify(config, made.name)
    assert all(c.ok for c in checks), checks

    # The dump restores into a fresh database with the very same rows.
    dump = made.path / f"postgres-{database}.dump"
    docker.copy(dump, (postgres, "/tmp/probe.dump"))  # type: ignore[attr-defined]
    psql(docker, postgres, "create database mirante_restore_probe", "postgres", user)
    try:
        docker.container.execute(  # type: ignore[attr-defined]
            postgres,
            ["pg_restore", "-U", user, "-d", "mirante_restore_probe", "/tmp/probe.dump"],
            user="root",  # the copied dump keeps its 0600 mode and owner
        )
        assert psql(docker, postgres, ROWS, "mirante_restore_probe", user) == expected
    finally:
        psql(docker, postgres, "drop database mirante_restore_probe", "postgres", user)
        psql(docker, postgres, "drop table mirante_backup_probe", database, user)


def test_concurrent_backups_are_serialised(
    running_stack: stack.UpReport, stack_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **stack_env,
        "MIRANTE_BACKUP_DIR": str(tmp_path / "backups"),
        "MIRANTE_LOCK_TIMEOUT": "120",
    }
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: invoke(env, "backup", "--services", "postgres"), range(2)))
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    sets = sorted(p.name for p in (tmp_path / "backups").iterdir() if not p.name.startswith("."))
    assert len(sets) == 2 and sets[0] != sets[1]


def test_a_killed_backup_leaves_no_final_named_set(
    running_stack: stack.UpReport, stack_env: dict[str, str], tmp_path: Path
) -> None:
    from .conftest import REPO

    env = {**os.environ, **stack_env, "MIRANTE_BACKUP_DIR": str(tmp_path / "backups")}
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "backup"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    backups = tmp_path / "backups"
    partial = None
    deadline = time.monotonic() + 60  # wait until the set is being written, then kill it
    while partial is None and process.poll() is None and time.monotonic() < deadline:
        partial = next(backups.glob("*.partial"), None) if backups.is_dir() else None
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert partial is not None, "the backup finished before it could be interrupted"
    finals = [p for p in (tmp_path / "backups").iterdir() if backup.SET_NAME.match(p.name)]
    assert finals == []
    assert (
        backup.list_sets(
            settings.load(
                Path(stack_env["MIRANTE_ROOT"]),
                environ={**stack_env, "MIRANTE_BACKUP_DIR": str(tmp_path / "backups")},
            )
        )
        == []
    )


def test_bad_set_name_is_one_clear_line(
    running_stack: stack.UpReport, stack_env: dict[str, str]
) -> None:
    result = invoke(stack_env, "backup.verify", "../../etc")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: '../../etc' is not a backup set name")
    assert "Traceback" not in result.stderr
