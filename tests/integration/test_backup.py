"""Backups of the real stack: consistent, private, verifiable, restorable, serialised."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from mirante import backup, settings, stack, waits
from mirante.observe import otlp
from mirante.tools.docker import docker_errors
from tests.helpers import docker_out, invoke

# One stack for the session: these tests run in one xdist worker, in order.

ROWS = "select md5(string_agg(id::text || ':' || note, ',' order by id)) from mirante_backup_probe"


def psql(docker: object, container: object, sql: str, database: str, user: str) -> str:
    return str(
        docker.container.execute(  # type: ignore[attr-defined]
            container, ["psql", "-U", user, "-d", database, "-Atc", sql], user="postgres"
        )
    ).strip()


def prometheus_window(port: int, end: float) -> tuple[object, list[dict[str, str]]]:
    """Every series value of the minute before ``end`` (5 s steps), and the series names."""
    base = f"http://127.0.0.1:{port}/api/v1"
    window = {"start": end - 60, "end": end}
    values = requests.get(
        f"{base}/query_range", params={"query": '{job=~".+"}', "step": "5", **window}, timeout=30
    ).json()["data"]["result"]
    series = requests.get(
        f"{base}/series", params={"match[]": '{job=~".+"}', **window}, timeout=30
    ).json()["data"]
    return sorted(values, key=lambda r: sorted(r["metric"].items())), sorted(
        series, key=lambda m: sorted(m.items())
    )


class LokiTempoProbe:
    """Log lines in Loki and traces in Tempo, before the backup and after the restore.

    Where those two do not run here, every check says why it is skipped.
    """

    SERVICE = "mirante-backup-probe"

    def __init__(self, config: settings.Settings, running: set[str]) -> None:
        self.config, self.running = config, running
        self.trace_ids: list[str] = []
        self.lines = 0

    @classmethod
    def start(cls, report: stack.UpReport, config: settings.Settings) -> LokiTempoProbe:
        running = {r.service for r in report.rows if r.state == "healthy"}
        probe = cls(config, running & {"loki", "tempo"})
        if not probe.running:
            return probe
        route = otlp.route(config, running)
        if "tempo" in probe.running:
            probe.trace_ids = [otlp.new_trace_id() for _ in range(5)]
            for trace_id in probe.trace_ids:
                otlp.send(route.traces, otlp.span(trace_id, cls.SERVICE, "GET /probe"))
            # A query before the backup: Tempo 2.10 then ignores SIGTERM (grafana/tempo#5733).
            assert waits.until(lambda: len(probe.traces()) == 5, 60) is True
        if "loki" in probe.running:
            for number in range(20):
                otlp.send(route.logs, otlp.log(otlp.new_trace_id(), cls.SERVICE, f"line {number}"))
            probe.lines = waits.until(probe.count_lines, 60, done=lambda n: n == 20)
            assert probe.lines == 20
        return probe

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.config.ports[service]}{path}"

    def traces(self) -> list[str]:
        return [
            t
            for t in self.trace_ids
            if requests.get(self.url("tempo", f"/api/traces/{t}"), timeout=10).status_code == 200
        ]

    def count_lines(self) -> int:
        answer = requests.get(
            self.url("loki", "/loki/api/v1/query_range"),
            params={
                "query": f'{{service_name="{self.SERVICE}"}}',
                "limit": "1000",
                "start": str(int((time.time() - 3600) * 1e9)),
            },
            timeout=10,
        ).json()
        return sum(len(stream["values"]) for stream in answer["data"]["result"])

    def check_backup_output(self, output: str, since: float) -> None:
        """The backup says Tempo was killed exactly when the daemon saw it die of SIGKILL.

        Tempo 2.10 ignores SIGTERM once it has served a query (grafana/tempo#5733), though
        not on every run: the daemon's own ``die`` event is the truth the note must match.
        """
        if "tempo" not in self.running:
            return
        codes = docker_out(
            "events",
            "--since", str(int(since)),
            "--until", str(int(time.time()) + 1),
            "--filter", f"container={self.config.project_name}-tempo-1",
            "--filter", "event=die",
            "--format", "{{.Actor.Attributes.exitCode}}",
        ).split()  # fmt: skip
        assert codes, "Tempo was never stopped for its copy"
        noted = "note: tempo did not stop on SIGTERM and was killed" in output
        assert noted == ("137" in codes), (codes, output)
        if noted:
            assert "flushed to disk first" in output

    def check_restored(self) -> None:
        if "tempo" in self.running:
            assert waits.until(lambda: len(self.traces()) == 5, 60) is True, self.traces()
        if "loki" in self.running:
            assert waits.until(self.count_lines, 60, done=lambda n: n == self.lines) == self.lines


@pytest.mark.late
def test_backup_down_up_restore_gives_back_the_same_data(
    running_stack: stack.UpReport, stack_env: dict[str, str], tmp_path: Path
) -> None:
    """The user's round trip, command by command.

    Backup, list, verify, down --volumes, up, restore. The same Prometheus series values and
    Postgres rows come back; a tampered set is refused before anything is touched.
    """
    env = {**stack_env, "MIRANTE_BACKUP_DIR": str(tmp_path / "backups")}
    config = settings.load(Path(env["MIRANTE_ROOT"]), environ=env)
    docker = stack.write_project_files(config).docker
    user, database = config.postgres_user, config.postgres_db

    def rows() -> str:
        postgres = stack.container_states(docker, config)["postgres"]
        return psql(docker, postgres, ROWS, database, user)

    psql(
        docker,
        stack.container_states(docker, config)["postgres"],
        "create table mirante_backup_probe (id int primary key, note text); "
        "insert into mirante_backup_probe select g, md5(g::text) from generate_series(1, 500) g",
        database,
        user,
    )
    expected_rows = rows()
    port = config.ports["prometheus"]

    # A full minute of scrapes to compare: Prometheus up for over 65 s, and the window
    # holding the scraped series, not only rule results (the wall clock may jump here).
    def window() -> tuple[float, float, tuple[object, list[dict[str, str]]]]:
        uptime = requests.get(
            f"http://127.0.0.1:{port}/api/v1/query",
            params={"query": "time() - process_start_time_seconds{job='prometheus'}"},
            timeout=10,
        ).json()["data"]["result"]
        end = time.time() - 2
        return float(uptime[0]["value"][1]) if uptime else 0.0, end, prometheus_window(port, end)

    uptime, end, (expected_values, expected_series) = waits.until(
        window, 180, 3, done=lambda w: w[0] > 65 and len(w[2][1]) > 100
    )
    assert uptime > 65, f"{len(expected_series)} series"
    assert len(expected_series) > 100, f"{len(expected_series)} series"
    assert expected_values

    signals = LokiTempoProbe.start(running_stack, config)
    began = time.time()
    made = invoke(env, "backup")
    assert made.returncode == 0, made.stderr
    signals.check_backup_output(made.stdout, began)
    (created,) = backup.list_sets(config)
    assert set(created.services) >= {"prometheus", "postgres", "alertmanager"}
    for archive in created.archives:
        file = created.path / archive.file
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        assert file.stat().st_size == archive.size
    assert stack.describe(stack.container_states(docker, config)["alertmanager"]) in (
        "healthy",
        "starting",
        "running",
    )  # started again after its volume was archived
    listed = invoke(env, "backup.list")
    assert created.name in listed.stdout
    assert "not yet" in listed.stdout
    verified = invoke(env, "backup.verify", "latest")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    down = invoke(env, "stack.down", "--volumes", "--yes")
    assert down.returncode == 0, down.stderr
    up = invoke(env, "stack.up")
    assert up.returncode == 0, up.stderr
    assert prometheus_window(port, end) != (expected_values, expected_series)  # really empty
    postgres = stack.container_states(docker, config)["postgres"]
    assert not psql(docker, postgres, "select to_regclass('mirante_backup_probe')", database, user)

    # A tampered copy of the set is refused before anything is touched.
    tampered = config.backup_dir / "20000101T000000Z"
    shutil.copytree(created.path, tampered)
    manifest = json.loads((tampered / backup.MANIFEST).read_text())
    (tampered / backup.MANIFEST).write_text(json.dumps({**manifest, "set": tampered.name}))
    archive = tampered / "prometheus.tar.zst"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    refused = invoke(env, "backup.restore", tampered.name, "--yes")
    assert refused.returncode != 0
    assert "failed verification, nothing was touched: prometheus.tar.zst" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert prometheus_window(port, end) != (expected_values, expected_series)

    restored = invoke(env, "backup.restore", created.name, "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert rows() == expected_rows
    # The app still reads the restored database, as its own role with the password of .env.
    catalog = requests.get(f"http://127.0.0.1:{config.ports['app']}/catalog", timeout=10)
    assert catalog.status_code == 200, catalog.text
    signals.check_restored()
    assert prometheus_window(port, end) == (expected_values, expected_series)
    states = stack.container_states(docker, config)
    assert all(
        stack.describe(states[s]) == "healthy" for s in ("prometheus", "alertmanager", "postgres")
    )
    with docker_errors():
        leftovers = [v.name for v in docker.volume.list() if v.name.endswith("_mirante_restore")]
    assert leftovers == []
    assert (
        psql(
            docker,
            states["postgres"],
            "select count(*) from pg_database where datname like '%_mirante_%'",
            "postgres",
            user,
        )
        == "0"
    )


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
    assert len(sets) == 2
    assert sets[0] != sets[1]


def test_a_killed_backup_leaves_no_final_named_set(
    running_stack: stack.UpReport, stack_env: dict[str, str], tmp_path: Path
) -> None:
    from tests.helpers import REPO

    env = {**os.environ, **stack_env, "MIRANTE_BACKUP_DIR": str(tmp_path / "backups")}
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "backup"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    backups = tmp_path / "backups"

    def being_written() -> Path | None:
        return next(backups.glob("*.partial"), None) if backups.is_dir() else None

    # Wait until the set is being written (or the backup ended), then kill it.
    partial = waits.until(
        being_written, 60, 0.05, done=lambda found: found or process.poll() is not None
    )
    process.kill()
    process.wait()
    assert partial is not None, "the backup finished before it could be interrupted"
    # Its helper containers are gone too (the daemon removes them): none keeps a volume.
    volume = f"{stack_env['MIRANTE_PROJECT_NAME']}_prometheus_data"

    def holders() -> list[str]:
        return subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"volume={volume}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()

    left = waits.until(holders, 60, 1, done=lambda found: len(found) == 1)
    assert len(left) == 1, f"containers still holding {volume}: {left}"
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


def test_a_stack_that_is_not_running_is_one_clear_line(tmp_path: Path) -> None:
    """Backup and restore against a project with no containers and no volumes."""
    from tests.helpers import make_set, project_env, scratch_checkout

    root = scratch_checkout(tmp_path / "checkout")
    env = project_env("mirantenothing", root, MIRANTE_BACKUP_DIR=str(tmp_path / "backups"))
    made = invoke(env, "backup")
    assert made.returncode == 1
    assert made.stderr.strip() == (
        "error: backup of the stack failed at find volumes: no volume of the stack exists; "
        "run `invoke stack.up` first; no set was written"
    )
    elsewhere = tmp_path / "new" / "dest"
    failed = invoke(env, "backup", "--dest", str(elsewhere))
    assert failed.returncode == 1
    assert not (tmp_path / "new").exists()  # neither the directories this run made nor its lock
    make_set(settings.load(root, environ=env), "20260101T120000Z", b"PGDMP")
    restored = invoke(env, "backup.restore", "latest", "--yes")
    assert restored.returncode == 1
    assert restored.stderr.strip() == (
        "error: postgres is not running; start the stack with `invoke stack.up`, then restore"
    )
    missing = invoke(env, "backup.restore", "latest", "--services", "prometheus", "--yes")
    assert missing.stderr.strip() == (
        "error: set 20260101T120000Z holds no backup of prometheus; it holds: postgres"
    )
