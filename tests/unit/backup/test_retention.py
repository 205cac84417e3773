"""Prune decisions over synthetic sets, and the backup metrics file they feed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mirante import backup, errors, settings
from mirante.backup import retention
from tests.helpers import make_set

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def name_days_ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y%m%dT%H%M%SZ")


def sets_aged(backup_settings: settings.Settings, ages: list[float]) -> list[str]:
    names = [name_days_ago(age) for age in ages]
    for name in names:
        make_set(backup_settings, name)
    return names


def mark_verified(backup_settings: settings.Settings, name: str, ok: bool = True) -> None:
    (backup_settings.backup_dir / name / backup.VERIFIED).write_text(json.dumps({"ok": ok}))


def test_keeps_the_newest_n_and_the_young_ones_with_reasons(
    backup_settings: settings.Settings,
) -> None:
    names = sets_aged(backup_settings, [40, 35, 20, 3, 1, 0.5])  # oldest first
    decisions = retention.decide(backup.list_sets(backup_settings), 2, 10, NOW)
    kept = {d.backup_set.name: d.reason for d in decisions if d.keep}
    assert set(kept) == set(names[3:])
    assert kept[names[5]] == "among the newest 2 (#1)"
    assert kept[names[3]] == "3.0 days old, younger than 10 days"
    gone = [d for d in decisions if not d.keep]
    assert [d.backup_set.name for d in gone] == names[:3]
    assert gone[0].reason == "#6 newest and 40.0 days old (keeping 2, 10 days)"


def test_never_deletes_the_newest_verified_set_of_a_service(
    backup_settings: settings.Settings,
) -> None:
    names = sets_aged(backup_settings, [50, 40, 30, 2])
    mark_verified(backup_settings, names[1])
    mark_verified(backup_settings, names[2], ok=False)  # a failed verification protects nothing
    decided = retention.decide(backup.list_sets(backup_settings), 1, 7, NOW)
    decisions = {d.backup_set.name: d for d in decided}
    assert decisions[names[1]].keep
    assert decisions[names[1]].reason == "newest verified backup of postgres"
    assert not decisions[names[0]].keep
    assert not decisions[names[2]].keep


def test_a_policy_that_keeps_nothing_is_refused(backup_settings: settings.Settings) -> None:
    sets_aged(backup_settings, [40, 35])
    with pytest.raises(errors.PolicyRefused, match="would delete all 2 sets"):
        retention.decide(backup.list_sets(backup_settings), 0, 30, NOW)
    assert len(backup.list_sets(backup_settings)) == 2


def test_prune_deletes_only_with_delete_and_only_its_own_sets(
    backup_settings: settings.Settings,
) -> None:
    names = sets_aged(backup_settings, [40, 35, 1])
    foreign = backup_settings.backup_dir / name_days_ago(60)  # named like a set, but no manifest
    foreign.mkdir()
    (foreign / "precious.txt").write_text("not mirante's")
    partial = backup_settings.backup_dir / f"{name_days_ago(50)}.partial"
    partial.mkdir()

    listed = retention.prune(backup_settings, keep_last=1, keep_days=7, now=NOW)
    assert [d.keep for d in listed] == [False, False, True]
    assert all((backup_settings.backup_dir / n).is_dir() for n in names)  # dry run by default

    retention.prune(backup_settings, keep_last=1, keep_days=7, delete=True, now=NOW)
    assert sorted(
        p.name for p in backup_settings.backup_dir.iterdir() if not p.name.startswith(".")
    ) == (sorted([names[2], foreign.name, partial.name]))
    assert (foreign / "precious.txt").read_text() == "not mirante's"
    assert "mirante_backup_sets 1.0" in backup.metrics_path(backup_settings).read_text()


def test_negative_keep_values_are_refused(backup_settings: settings.Settings) -> None:
    with pytest.raises(errors.PolicyRefused, match="0 or more"):
        retention.prune(backup_settings, keep_last=-1, now=NOW)


def test_metrics_describe_the_newest_set_of_each_service(
    backup_settings: settings.Settings,
) -> None:
    _, new = sets_aged(backup_settings, [3, 1])
    mark_verified(backup_settings, new)
    from prometheus_client.parser import text_string_to_metric_families

    path = backup.write_metrics(backup_settings)
    samples = {
        (s.name, s.labels.get("component", "")): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }
    newest = datetime.strptime(new, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    assert samples[("mirante_backup_last_success_timestamp_seconds", "postgres")] == newest
    assert samples[("mirante_backup_size_bytes", "postgres")] == 4 + len(b"-- globals\n")
    assert samples[("mirante_backup_duration_seconds", "postgres")] == 0.1
    assert samples[("mirante_backup_verified", "postgres")] == 1
    assert samples[("mirante_backup_sets", "")] == 2
    assert path.stat().st_mode & 0o777 == 0o644  # node-exporter reads it as another user
