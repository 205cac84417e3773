"""`invoke health` against the real stack.

All OK, a stopped app, thresholds, a full disk, backups of different ages, and the
seeded data the app serves.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from mirante import settings, stack, waits
from tests.helpers import TEST_PORTS, invoke

# One stack for the session: these tests run in one xdist worker, in order.

APP = f"http://127.0.0.1:{TEST_PORTS['APP']}"
# Statuses are what these tests check, not this machine's speed: a busy CI host must not
# turn the latency row WARN (the latency thresholds have their own test below).
CALM = {"MIRANTE_HEALTH_P95_WARN": "5", "MIRANTE_HEALTH_P95_CRITICAL": "10"}


def health(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    done = invoke(env, "health", "--json", *args, timeout=120)
    assert done.stderr.strip() == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {row["component"]: row["status"] for row in report["checks"]}


def reasons(report: dict[str, Any]) -> dict[str, str]:
    return {row["component"]: row["reason"] for row in report["checks"]}


@pytest.fixture
def env(running_stack: stack.UpReport, stack_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The test stack's settings, an empty backup directory of its own, calm latency limits."""
    return {**stack_env, **CALM, "MIRANTE_BACKUP_DIR": str(tmp_path / "backups")}


def every_target_scraped() -> bool:
    prometheus = f"http://127.0.0.1:{TEST_PORTS['PROMETHEUS']}/api/v1/targets"
    active = requests.get(prometheus, timeout=5).json()["data"]["activeTargets"]
    return bool(active) and all(t["health"] != "unknown" for t in active)


def test_a_healthy_stack_is_all_ok(running_stack: stack.UpReport, env: dict[str, str]) -> None:
    # Right after start-up, targets not scraped yet are a WARN (their own test is a unit one).
    assert waits.until(every_target_scraped, 60, 1)
    code, report = health(env)
    found = statuses(report)
    healthy = {r.service for r in running_stack.rows if r.state == "healthy"}
    unavailable = {r.service for r in running_stack.rows if r.state == "unavailable"}
    assert code == 0, report
    assert report["status"] == "OK", report
    assert {s for s in healthy if found[s] != "OK"} == set(), report
    # What cannot run here is a skip with its reason, never an OK.
    assert {s for s, status in found.items() if status == "SKIP"} == unavailable, report
    for name in (
        "postgres data", "app latency", "disk: docker", "disk: backups",
        "last verified backup", "prometheus targets", "critical alerts",
    ):  # fmt: skip
        assert found[name] == "OK", report
    why = reasons(report)
    # The database was seeded on its first start: the reference values and 50 tenants.
    assert "reference_values 13, sample_tenants 50" in why["postgres data"], why
    assert "p95" in why["app latency"], why
    assert "20 requests" in why["app latency"], why
    assert why["last verified backup"].startswith("no backup sets yet"), why
    assert report["seconds"] < 10, report  # generous: the target (3 s) is in benchmarks/


def test_the_app_serves_the_seeded_data(running_stack: stack.UpReport) -> None:
    answer = requests.get(f"{APP}/catalog", timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["rows"] == {"mirante.reference_values": 13, "mirante.sample_tenants": 50}
    assert [p["code"] for p in body["reference"]["llm_provider"]] == ["primary", "fallback"]
    assert body["tenants"][0] == {
        "id": 1, "name": "tenant-001", "plan": "team", "llm_provider": "primary",
    }  # fmt: skip
    metrics = requests.get(f"{APP}/metrics", timeout=10).text
    assert 'mirante_seed_rows{table="mirante.sample_tenants"} 50.0' in metrics
    assert "mirante_database_up 1.0" in metrics


def test_the_app_reads_as_its_own_read_only_role(
    running_stack: stack.UpReport, stack_settings: settings.Settings, stack_env: dict[str, str]
) -> None:
    config = settings.load(stack_settings.root, environ=stack_env)  # with the generated secrets
    inspect = json.loads(
        subprocess.run(
            ["docker", "inspect", f"{config.project_name}-app-1"],
            capture_output=True, check=True, text=True, timeout=30,
        ).stdout
    )[0]  # fmt: skip
    env = dict(line.split("=", 1) for line in inspect["Config"]["Env"])
    assert env["PGUSER"] == config.postgres_app_user != config.postgres_user
    assert config.postgres_password not in json.dumps(inspect)  # not the superuser's password

    def as_app(sql: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "docker", "exec", "-e", f"PGPASSWORD={config.postgres_app_password}",
                f"{config.project_name}-postgres-1", "psql", "-h", "127.0.0.1",
                "-U", config.postgres_app_user, "-d", config.postgres_db, "-Atc", sql,
            ],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    read = as_app("select current_user, count(*) from mirante.reference_values")
    assert read.stdout.strip() == f"{config.postgres_app_user}|13", read.stderr
    attributes = as_app(
        "select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user"
    )
    assert attributes.stdout.strip() == "f|f|f", attributes.stderr
    for write in (
        "insert into mirante.reference_values values ('k', 'c', 'l', 9)",
        "set default_transaction_read_only = off; delete from mirante.sample_tenants",
        "create table public.mirante_probe (id int)",
    ):
        refused = as_app(write)
        assert refused.returncode != 0, write
        assert "read-only transaction" in refused.stderr or "permission denied" in refused.stderr


@pytest.fixture
def stopped_app(stack_settings: settings.Settings) -> Iterator[None]:
    container = f"{stack_settings.project_name}-app-1"
    subprocess.run(["docker", "stop", container], capture_output=True, check=True, timeout=60)
    yield
    stack.up(stack_settings, ["app"])


def test_a_stopped_app_is_critical(stopped_app: None, env: dict[str, str]) -> None:
    code, report = health(env)
    found, why = statuses(report), reasons(report)
    assert code == 2, report
    assert report["status"] == "CRITICAL", report
    assert found["app"] == "CRITICAL", why
    assert why["app"].startswith("exited"), why
    assert "invoke stack.logs app" in why["app"], why
    assert found["app latency"] == "CRITICAL", why
    assert why["app latency"].endswith("failed: Connection refused"), why
    # The rest of the stack is still judged on its own.
    assert found["prometheus"] == "OK", report
    assert found["postgres data"] == "OK", report


def test_thresholds_turn_rows_warn(env: dict[str, str], tiny_disk: Path) -> None:
    # The backups on a disk with some of it used (an empty tmpfs, as pytest's scratch space
    # may be, is 100 % free: no threshold makes that WARN).
    (tiny_disk / "filler").write_bytes(b"\0" * (100 * 1024))
    tight = {
        **env,
        "MIRANTE_BACKUP_DIR": str(tiny_disk / "backups"),
        "MIRANTE_HEALTH_DISK_WARN": "99.99",  # a disk in use has less free space than that
        "MIRANTE_HEALTH_P95_WARN": "0.000001",
    }
    code, report = health(tight)
    found, why = statuses(report), reasons(report)
    assert code == 1, report
    assert report["status"] == "WARN", report
    assert found["disk: backups"] == "WARN"
    assert why["disk: backups"].endswith("below 99.99%")
    assert found["disk: docker"] in ("WARN", "SKIP"), why  # SKIP: a daemon on another machine
    assert found["app latency"] == "WARN", why
    assert "above 0 ms" in why["app latency"], why


def test_contradicting_thresholds_are_refused(env: dict[str, str]) -> None:
    done = invoke({**env, "MIRANTE_HEALTH_DISK_WARN": "2"}, "health", timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: MIRANTE_HEALTH_DISK_CRITICAL=5 is above MIRANTE_HEALTH_DISK_WARN=2; "
        "set MIRANTE_HEALTH_DISK_CRITICAL to at most 2"
    )


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, mounted for the test (it needs root, as CI has)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_filling_backup_disk_warns_then_turns_critical(
    env: dict[str, str], tiny_disk: Path
) -> None:
    env = {**env, "MIRANTE_BACKUP_DIR": str(tiny_disk / "backups")}
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * (900 * 1024))  # about 10 % of the 1 MiB left
    code, report = health(env)
    assert statuses(report)["disk: backups"] == "WARN", report
    assert code == 1
    with filler.open("ab") as more:
        more.write(b"\0" * (80 * 1024))  # about 2 % left
    code, report = health(env)
    assert statuses(report)["disk: backups"] == "CRITICAL", report
    assert code == 2


def _verified_set(env: dict[str, str]) -> Path:
    made = invoke(env, "backup", "--services", "postgres")
    assert made.returncode == 0, made.stderr
    checked = invoke(env, "backup.verify", "latest")
    assert checked.returncode == 0, checked.stderr
    backups = Path(env["MIRANTE_BACKUP_DIR"])
    return sorted(p for p in backups.iterdir() if p.is_dir())[-1]


def _aged_copy(path: Path, hours: float) -> str:
    """The set copied under the name (its UTC start) it would have ``hours`` earlier."""
    when = datetime.strptime(path.name, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    name = (when - timedelta(hours=hours)).strftime("%Y%m%dT%H%M%SZ")
    copy = path.parent / name
    shutil.copytree(path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["set"] = name
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return name


def test_backup_age_follows_the_newest_verified_set(env: dict[str, str]) -> None:
    fresh = _verified_set(env)
    code, report = health(env)
    assert statuses(report)["last verified backup"] == "OK", report
    assert reasons(report)["last verified backup"].startswith(f"{fresh.name}, verified"), report

    # Only sets older than the limits are left verified: WARN after 26 h, CRITICAL after 72 h.
    old = _aged_copy(fresh, 30)
    older = _aged_copy(fresh, 100)
    (fresh / "verified.json").write_text('{"ok": false}')
    code, report = health(env)
    assert statuses(report)["last verified backup"] == "WARN", report
    why = reasons(report)["last verified backup"]
    assert why.startswith(f"{old}, verified"), why
    assert "older than 26 h" in why, why
    shutil.rmtree(fresh.parent / old)
    code, report = health(env)
    assert statuses(report)["last verified backup"] == "CRITICAL", report
    assert code == 2
    assert older in reasons(report)["last verified backup"]


def test_a_paused_app_is_critical_within_the_deadline(env: dict[str, str]) -> None:
    from mirante.health import DEADLINE

    app = f"{env['MIRANTE_PROJECT_NAME']}-app-1"
    subprocess.run(["docker", "pause", app], check=True, capture_output=True)
    try:
        code, report = health(env)
    finally:
        subprocess.run(["docker", "unpause", app], check=True, capture_output=True)

        def healthy_again() -> bool:
            state = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Health.Status}}", app],
                capture_output=True,
                text=True,
                check=False,
            )
            return state.stdout.strip() == "healthy"

        waits.until(healthy_again, 90, 1)  # its healthchecks failed while it was paused
    found, why = statuses(report), reasons(report)
    assert code == 2, report
    assert found["app latency"] == "CRITICAL", why
    # One deadline for the whole run (each of the 20 probes used to wait 2 x p95 critical).
    assert report["seconds"] <= DEADLINE + 2, report
