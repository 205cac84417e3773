"""db.backup to S3: boto3 checked first, keys and URLs without passwords."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mirante import settings
from mirante.db import databases as db
from mirante.db import postgres

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def test_s3_needs_boto3_before_anything_is_dumped(
    backup_settings: settings.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from mirante.db import databases as db
    from mirante.errors import MiranteError

    monkeypatch.setitem(sys.modules, "boto3", None)  # as if it were not installed
    with_bucket = dataclasses.replace(
        backup_settings,
        backup=dataclasses.replace(backup_settings.backup, s3_bucket="mirante-backups"),
    )
    with pytest.raises(MiranteError, match=r"pip install 'mirante\[s3\]'"):
        db.dump(with_bucket, "local")
    assert not backup_settings.backup_dir.exists()


def test_s3_keys_and_urls_without_passwords(backup_settings: settings.Settings) -> None:
    from mirante.db import databases as db

    made = db.Dump("staging", Path("/b/db/staging/backup_staging_20260101T000000Z.dump"), 1, "x", 0)
    assert (
        db.s3_key(backup_settings, made)
        == "mirante/db/staging/backup_staging_20260101T000000Z.dump"
    )
    bare, password = postgres.split_password(
        "postgresql://app:s%40cret@db.example:6543/orders?sslmode=require"
    )
    assert (bare, password) == ("postgresql://app@db.example:6543/orders?sslmode=require", "s@cret")


@pytest.mark.parametrize("password", ["p#a/s?s@w:rd", "%41%42", "plain"])
def test_the_local_url_carries_any_password_exactly(
    backup_settings: settings.Settings, password: str
) -> None:
    config = dataclasses.replace(backup_settings, postgres_password=password, bind="10.1.2.3")
    bare, carried = postgres.split_password(db.database_url(config, "local"))
    assert carried == password
    assert bare == f"postgresql://{config.postgres_user}@10.1.2.3:5432/{config.postgres_db}"
