"""Restore: which Postgres globals are applied, and which are kept."""

from __future__ import annotations

from datetime import UTC, datetime

from mirante.backup import restore

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


GLOBALS = '''--
-- PostgreSQL database cluster dump
--
SET default_transaction_read_only = off;

CREATE ROLE mirante;
ALTER ROLE mirante WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN PASSWORD 'SCRAM-old';
CREATE ROLE mirante_app;
ALTER ROLE mirante_app WITH NOSUPERUSER LOGIN PASSWORD 'SCRAM-app-old';
ALTER ROLE mirante_app SET default_transaction_read_only TO 'on';
CREATE ROLE reader;
ALTER ROLE reader WITH NOSUPERUSER LOGIN PASSWORD 'SCRAM-reader';
CREATE ROLE "Odd ""Name""";
ALTER ROLE "Odd ""Name""" WITH NOLOGIN;
'''


def test_globals_keep_the_stack_role_as_configured_and_skip_existing_roles() -> None:
    applied = restore.globals_to_apply(GLOBALS, {"mirante", "reader"}, ("mirante", "mirante_app"))
    assert "ROLE mirante " not in applied  # its password stays the one of .env
    assert "ROLE mirante;" not in applied
    assert "mirante_app" not in applied  # the app's role too
    assert "CREATE ROLE reader;" not in applied  # exists: creating it again would fail
    assert "ALTER ROLE reader WITH NOSUPERUSER LOGIN PASSWORD 'SCRAM-reader';" in applied
    assert 'CREATE ROLE "Odd ""Name""";' in applied
    assert "SET default_transaction_read_only = off;" in applied
