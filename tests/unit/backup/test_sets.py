"""The manifest schema every reader goes through, and what a damaged set does to the others.

Each attack that once got through (a shell word in a file name, a path out of the set, a
libpq connection string as a database, two archives for one service, a set with none, a
wrong type) is refused by name; hypothesis checks that nothing else gets through either.
"""

from __future__ import annotations

import copy
import json
import re
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from mirante import backup, settings
from mirante.backup import retention, sets
from mirante.errors import SetNotFound
from tests.helpers import make_set

SET = "20260101T120000Z"


def good_manifest() -> dict[str, Any]:
    archive = {
        "service": "postgres",
        "method": "pg_dump",
        "file": "postgres-mirante.dump",
        "size": 4,
        "sha256": "a" * 64,
        "image": "postgres:18.3",
        "seconds": 0.1,
    }
    return {
        "format": 1,
        "set": SET,
        "created": SET,
        "seconds": 0.2,
        "mirante_version": "0.1.0",
        "archives": [
            archive,
            {**archive, "method": "pg_dumpall-globals", "file": "postgres-globals.sql"},
            {
                **archive,
                "service": "alertmanager",
                "method": "volume-while-stopped",
                "file": "alertmanager.tar.zst",
            },
        ],
    }


def with_archive(**change: Any) -> dict[str, Any]:
    data = good_manifest()
    data["archives"][2].update(change)
    return data


def parse(data: Any) -> backup.BackupSet:
    return backup.parse_manifest(data, Path("/backups") / SET)


def test_the_good_manifest_parses() -> None:
    parsed = parse(good_manifest())
    assert parsed.services == ["alertmanager", "postgres"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (with_archive(file="alertmanager.tar.zst;id>&2;"), "file 'alertmanager.tar.zst;id>&2;'"),
        (with_archive(file="../other-set/alertmanager.tar.zst"), "is not an allowed value"),
        (with_archive(file="/etc/hostname"), "is not an allowed value"),
        (with_archive(file="alertmanager.tar.zst\n"), "is not an allowed value"),
        (
            with_archive(
                service="postgres",
                method="pg_dump",
                file="postgres-dbname=mirante application_name=.dump",
            ),
            "is not an allowed value",
        ),
        (with_archive(service="grafana", file="alertmanager.tar.zst"), "not an allowed value"),
        (with_archive(method="tsdb-snapshot"), "is not how alertmanager is backed up"),
        (with_archive(service="etcd"), "not a service backups know"),
        (with_archive(size="4"), "not a number"),
        (with_archive(size=True), "not a number"),
        (with_archive(size=4.5), "not a whole number"),
        (with_archive(size=-1), "negative"),
        (with_archive(seconds=None), "not a number"),
        (with_archive(seconds=float("nan")), "not a number"),
        (with_archive(sha256="zz"), "sha256"),
        (with_archive(extra=1), "exactly the fields"),
        ({**good_manifest(), "set": "garbage"}, "set 'garbage'"),
        ({**good_manifest(), "set": "20260102T120000Z"}, "not the name of its directory"),
        ({**good_manifest(), "seconds": None}, "seconds is None"),
        ({**good_manifest(), "created": 5}, "created is 5"),
        ({**good_manifest(), "format": 2}, "format 2"),
        ({**good_manifest(), "archives": []}, "no archive"),
        ({**good_manifest(), "archives": "all"}, "no archive"),
        ([], "not a JSON object"),
    ],
    ids=[
        "shell word in a file name",
        "path out of the set",
        "absolute path",
        "newline in a file name",
        "connection string as a database",
        "another service's file",
        "wrong method",
        "unknown service",
        "size as text",
        "size as a boolean",
        "size as a fraction",
        "negative size",
        "null seconds",
        "NaN seconds",
        "bad sha256",
        "extra field",
        "set not a set name",
        "set not its directory",
        "null set seconds",
        "created not text",
        "unknown format",
        "no archives",
        "archives not a list",
        "not an object",
    ],
)
def test_each_attack_is_refused_naming_the_field(data: Any, says: str) -> None:
    with pytest.raises(backup.Damaged, match=re.escape(says)):
        parse(data)


def test_two_archives_for_one_service_are_refused() -> None:
    data = good_manifest()
    data["archives"].append(
        {**data["archives"][2], "file": "alertmanager.tar.zst", "sha256": "b" * 64}
    )
    with pytest.raises(backup.Damaged, match="listed twice"):
        parse(data)


def test_postgres_without_its_globals_is_refused() -> None:
    data = good_manifest()
    del data["archives"][1]
    with pytest.raises(backup.Damaged, match="globals"):
        parse(data)


# Every value a field could be given in a hand-edited manifest.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
FIELDS = ["service", "method", "file", "size", "sha256", "image", "seconds"]


@given(field=st.sampled_from(FIELDS), value=JSON_VALUES)
@hsettings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_a_manifest_either_parses_into_safe_values_or_is_refused(field: str, value: Any) -> None:
    data = copy.deepcopy(good_manifest())
    data["archives"][2][field] = value
    try:
        parsed = parse(data)
    except backup.Damaged:
        return
    for archive in parsed.archives:
        # Nothing that parses can leave the set, be a shell word, or be a connection string.
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", archive.file)
        assert not archive.file.startswith(".")
        assert isinstance(archive.size, int)
        assert not isinstance(archive.size, bool)
        assert archive.size >= 0
        assert archive.seconds >= 0


@given(name=st.text(alphabet=string.printable, min_size=1, max_size=40))
def test_no_database_name_but_a_plain_identifier_makes_a_dump_file(name: str) -> None:
    data = good_manifest()
    data["archives"][0]["file"] = f"postgres-{name}.dump"
    try:
        parse(data)
    except backup.Damaged:
        return
    assert re.fullmatch(sets.DATABASE_NAME, name)


@pytest.fixture
def config(backup_settings: settings.Settings) -> settings.Settings:
    return backup_settings


def damage(config: settings.Settings, name: str, change: dict[str, Any]) -> None:
    manifest = config.backup_dir / name / backup.MANIFEST
    data = json.loads(manifest.read_text())
    data.update(change)
    manifest.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "change",
    [{"set": "garbage"}, {"seconds": None}, {"archives": [{"size": "4"}]}, {"archives": []}],
    ids=["set garbage", "seconds null", "size as text", "no archives"],
)
def test_a_damaged_set_is_listed_as_damaged_and_the_others_keep_working(
    config: settings.Settings, change: dict[str, Any]
) -> None:
    make_set(config, "20260101T120000Z")
    make_set(config, "20260102T120000Z")
    make_set(config, "20260103T120000Z")
    damage(config, "20260102T120000Z", change)
    good, damaged = backup.scan(config)
    assert [s.name for s in good] == ["20260101T120000Z", "20260103T120000Z"]
    assert [d.name for d in damaged] == ["20260102T120000Z"]
    assert "is damaged" in damaged[0].reason
    # verify of a healthy set, retention and the newest verified set all still work
    checked, checks = backup.verify(config, "20260103T120000Z")
    assert all(c.ok for c in checks)
    kept = [d.backup_set.name for d in retention.decide(good, 1, 0, checked.created_at) if d.keep]
    assert kept == ["20260103T120000Z"]
    with pytest.raises(SetNotFound, match="20260102T120000Z is damaged"):
        backup.verify(config, "20260102T120000Z")


def test_a_set_that_is_a_link_is_damaged_and_never_pruned(
    config: settings.Settings, tmp_path: Path
) -> None:
    elsewhere = make_set(config, "20260101T120000Z").rename(tmp_path / "elsewhere")
    (config.backup_dir / "20260101T120000Z").symlink_to(elsewhere, target_is_directory=True)
    make_set(config, "20260102T120000Z")
    good, damaged = backup.scan(config)
    assert [s.name for s in good] == ["20260102T120000Z"]
    assert "symbolic link" in damaged[0].reason
    retention.prune(config, keep_last=1, keep_days=0, delete=True)
    assert (elsewhere / backup.MANIFEST).is_file()


def test_an_archive_that_is_a_link_fails_verification(
    config: settings.Settings, tmp_path: Path
) -> None:
    path = make_set(config, SET)
    outside = tmp_path / "hostname"
    outside.write_bytes((path / "postgres-mirante.dump").read_bytes())
    (path / "postgres-mirante.dump").unlink()
    (path / "postgres-mirante.dump").symlink_to(outside)
    _, checks = backup.verify(config, SET)
    assert [(c.file, c.ok, c.detail) for c in checks if not c.ok] == [
        ("postgres-mirante.dump", False, "a link, not a file of the set")
    ]
