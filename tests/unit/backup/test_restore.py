"""Restore: which Postgres globals are applied, and which are kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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


@pytest.mark.parametrize("length", [1, 54, 62, 63])
def test_scratch_database_names_never_truncate_onto_the_live_one(length: int) -> None:
    """Postgres cuts names at 63 bytes: <db>_mirante_restore once became <db> itself (63)."""
    database = "d" * length
    fresh, previous = restore.scratch_databases(database)
    names = {database, fresh, previous}
    assert len(names) == 3
    assert {name[:63] for name in names} == names  # none is cut
    assert fresh.startswith("mirante_restore_")
    assert previous.startswith("mirante_previous_")
    assert restore.scratch_databases("e" * length) != (fresh, previous)


CRAFTED = [
    ("alter user in lower case", "alter user mirante password 'owned';"),
    ("over several lines", "ALTER ROLE\n  mirante\n  WITH PASSWORD 'owned';"),
    ("quoted", 'ALTER ROLE "mirante" NOSUPERUSER;'),
    ("upper case, folded", "ALTER USER MIRANTE PASSWORD 'owned';"),
    ("the app's role", "alter role mirante_app superuser;"),
    ("a grant of the superuser", "GRANT mirante TO reader;"),
    ("a grant to the app's role", "GRANT pg_read_all_data TO mirante_app;"),
    ("hidden after an escape string",
     "ALTER ROLE reader SET x TO E'\\''; ALTER USER mirante PASSWORD 'y'; --'"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "sql"), CRAFTED, ids=[w for w, _ in CRAFTED])
def test_a_crafted_globals_dump_never_touches_the_stack_roles(what: str, sql: str) -> None:
    applied = restore.globals_to_apply(
        GLOBALS + sql + "\n", {"mirante"}, ("mirante", "mirante_app")
    )
    lowered = applied.lower()
    assert "owned" not in lowered, what
    assert "mirante " not in lowered.replace("granted by mirante", ""), (what, applied)
    assert "mirante;" not in lowered, (what, applied)
    assert "mirante_app" not in lowered, (what, applied)


@pytest.mark.parametrize(
    "sql",
    [
        "\\! id > /tmp/owned",
        "DROP ROLE reader;",
        "SET ROLE reader;",
        "SET SESSION AUTHORIZATION reader;",
        "SET standard_conforming_strings = off;",
        "DO $$ begin perform 1; end $$;",
        "CREATE TABLESPACE t LOCATION '/var/lib/postgresql/t';",
        "GRANT ALL ON DATABASE mirante TO reader;",
        "COPY x FROM PROGRAM 'id';",
    ],
)
def test_a_statement_pg_dumpall_never_writes_refuses_the_restore(sql: str) -> None:
    from mirante.errors import NotRestorable

    with pytest.raises(NotRestorable, match=r"which pg_dumpall --globals-only never writes"):
        restore.globals_to_apply(GLOBALS + sql + "\n", set(), ("mirante", "mirante_app"))


def test_what_pg_dumpall_17_writes_is_applied() -> None:
    """The psql restrict lines (17.6 and later), and memberships the superuser granted."""
    dump = GLOBALS + (
        "\\restrict aB3dE\n"
        "GRANT reader TO writer GRANTED BY mirante;\n"
        "COMMENT ON ROLE reader IS 'reads; only';\n"
        "\\unrestrict aB3dE\n"
    )
    applied = restore.globals_to_apply(dump, {"mirante"}, ("mirante", "mirante_app"))
    assert "\\restrict aB3dE" in applied
    assert "GRANT reader TO writer GRANTED BY mirante;" in applied
    assert "COMMENT ON ROLE reader IS 'reads; only';" in applied
