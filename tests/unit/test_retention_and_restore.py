"""Prune decisions over synthetic sets, the backup metrics file, and the globals filter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mirante import backup, errors, postgres, settings
from mirante.backup import restore, retention

from .test_backup import make_set

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def config(checkout: Path, tmp_path: Path) -> settings.Settings:
    return settings.load(
        checkout,
        environ={"MIRANTE_BACKUP_DIR": str(tmp_path / "backups"), "MIRANTE_LOCK_TIMEOUT": "0.5"},
    )


def name_days_ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y%m%dT%H%M%SZ")


def sets_aged(config: settings.Settings, ages: list[float]) -> list[str]:
    names = [name_days_ago(age) for age in ages]
    for name in names:
        make_set(config, name)
    return names


def mark_verified(config: settings.Settings, name: str, ok: bool = True) -> None:
    (config.backup_dir / name / backup.VERIFIED).write_text(json.dumps({"ok": ok}))


def test_keeps_the_newest_n_and_the_young_ones_with_reasons(config: settings.Settings) -> None:
    names = sets_aged(config, [40, 35, 20, 3, 1, 0.5])  # oldest first
    decisions = retention.decide(backup.list_sets(config), 2, 10, NOW)
    kept = {d.backup_set.name: d.reason for d in decisions if d.keep}
    assert set(kept) == set(names[3:])
    assert kept[names[5]] == "among the newest 2 (#1)"
    assert kept[names[3]] == "3.0 days old, younger than 10 days"
    gone = [d for d in decisions if not d.keep]
    assert [d.backup_set.name for d in gone] == names[:3]
    assert gone[0].reason == "#6 newest and 40.0 days old (keeping 2, 10 days)"


def test_never_deletes_the_newest_verified_set_of_a_service(config: settings.Settings) -> None:
    names = sets_aged(config, [50, 40, 30, 2])
    mark_verified(config, names[1])
    mark_verified(config, names[2], ok=False)  # a failed verification protects nothing
    decided = retention.decide(backup.list_sets(config), 1, 7, NOW)
    decisions = {d.backup_set.name: d for d in decided}
    assert decisions[names[1]].keep
    assert decisions[names[1]].reason == "newest verified backup of postgres"
    assert not decisions[names[0]].keep
    assert not decisions[names[2]].keep


def test_a_policy_that_keeps_nothing_is_refused(config: settings.Settings) -> None:
    sets_aged(config, [40, 35])
    with pytest.raises(errors.PolicyRefused, match="would delete all 2 sets"):
        retention.decide(backup.list_sets(config), 0, 30, NOW)
    assert len(backup.list_sets(config)) == 2


def test_prune_deletes_only_with_delete_and_only_its_own_sets(config: settings.Settings) -> None:
    names = sets_aged(config, [40, 35, 1])
    foreign = config.backup_dir / name_days_ago(60)  # named like a set, but no manifest
    foreign.mkdir()
    (foreign / "precious.txt").write_text("not mirante's")
    partial = config.backup_dir / f"{name_days_ago(50)}.partial"
    partial.mkdir()

    listed = retention.prune(config, keep_last=1, keep_days=7, now=NOW)
    assert [d.keep for d in listed] == [False, False, True]
    assert all((config.backup_dir / n).is_dir() for n in names)  # dry run by default

    retention.prune(config, keep_last=1, keep_days=7, delete=True, now=NOW)
    assert sorted(p.name for p in config.backup_dir.iterdir() if not p.name.startswith(".")) == (
        sorted([names[2], foreign.name, partial.name])
    )
    assert (foreign / "precious.txt").read_text() == "not mirante's"
    assert "mirante_backup_sets 1.0" in backup.metrics_path(config).read_text()


def test_negative_keep_values_are_refused(config: settings.Settings) -> None:
    with pytest.raises(errors.PolicyRefused, match="0 or more"):
        retention.prune(config, keep_last=-1, now=NOW)


def test_metrics_describe_the_newest_set_of_each_service(config: settings.Settings) -> None:
    _, new = sets_aged(config, [3, 1])
    mark_verified(config, new)
    from prometheus_client.parser import text_string_to_metric_families

    path = backup.write_metrics(config)
    samples = {
        (s.name, s.labels.get("component", "")): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }
    newest = datetime.strptime(new, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    assert samples[("mirante_backup_last_success_timestamp_seconds", "postgres")] == newest
    assert samples[("mirante_backup_size_bytes", "postgres")] == 4
    assert samples[("mirante_backup_duration_seconds", "postgres")] == 0.1
    assert samples[("mirante_backup_verified", "postgres")] == 1
    assert samples[("mirante_backup_sets", "")] == 2
    assert path.stat().st_mode & 0o777 == 0o644  # node-exporter reads it as another user


GLOBALS = '''--
-- PostgreSQL database cluster dump
--
SET default_transaction_read_only = off;

CREATE ROLE mirante;
ALTER ROLE mirante WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN PASSWORD 'SCRAM-old';
CREATE ROLE reader;
ALTER ROLE reader WITH NOSUPERUSER LOGIN PASSWORD 'SCRAM-reader';
CREATE ROLE "Odd ""Name""";
ALTER ROLE "Odd ""Name""" WITH NOLOGIN;
'''


def test_globals_keep_the_stack_role_as_configured_and_skip_existing_roles() -> None:
    applied = restore.globals_to_apply(GLOBALS, {"mirante", "reader"}, "mirante")
    assert "ROLE mirante" not in applied  # its password stays the one of .env
    assert "CREATE ROLE reader;" not in applied  # exists: creating it again would fail
    assert "ALTER ROLE reader WITH NOSUPERUSER LOGIN PASSWORD 'SCRAM-reader';" in applied
    assert 'CREATE ROLE "Odd ""Name""";' in applied
    assert "SET default_transaction_read_only = off;" in applied


def test_s3_needs_boto3_before_anything_is_dumped(
    config: settings.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    import sys

    from mirante import db
    from mirante.errors import MiranteError

    monkeypatch.setitem(sys.modules, "boto3", None)  # as if it were not installed
    with_bucket = dataclasses.replace(config, s3_bucket="mirante-backups")
    with pytest.raises(MiranteError, match=r"pip install 'mirante\[s3\]'"):
        db.dump(with_bucket, "local")
    assert not config.backup_dir.exists()


def test_s3_keys_and_urls_without_passwords(config: settings.Settings) -> None:
    from mirante import db

    made = db.Dump("staging", Path("/b/db/staging/backup_staging_20260101T000000Z.dump"), 1, "x", 0)
    assert db.s3_key(config, made) == "mirante/db/staging/backup_staging_20260101T000000Z.dump"
    bare, password = postgres.split_password(
        "postgresql://app:s%40cret@db.example:6543/orders?sslmode=require"
    )
    assert (bare, password) == ("postgresql://app@db.example:6543/orders?sslmode=require", "s@cret")
