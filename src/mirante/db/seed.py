"""Seed data: the schema, reference values and (outside prod) sample rows, idempotently.

``db/reference.sql`` holds what every environment needs; ``db/sample.sql`` adds sample rows
for local, dev and staging. Both run in one transaction through ``psql`` from the stack's
Postgres image, so running the seed twice changes nothing and a failure changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from mirante.db import databases as db
from mirante.db.postgres import pg_tool
from mirante.errors import DatabaseError, ToolError
from mirante.settings import Settings
from mirante.tools.docker import client

SAMPLE_ENVIRONMENTS = ("local", "dev", "staging")
TABLES = ("mirante.reference_values", "mirante.sample_tenants")


@dataclass(frozen=True)
class SeedReport:
    """What a seed run loaded, per file."""

    env: str
    files: tuple[str, ...]
    rows: dict[str, int]


def tables_for(env: str) -> tuple[str, ...]:
    """The seed tables ``env`` holds (prod has no sample rows)."""
    return tuple(t for t in TABLES if env in SAMPLE_ENVIRONMENTS or "sample" not in t)


def files_for(env: str) -> tuple[str, ...]:
    """The SQL files that seed an environment, in order."""
    return ("reference.sql", "sample.sql") if env in SAMPLE_ENVIRONMENTS else ("reference.sql",)


def run_seed(settings: Settings, env: str) -> SeedReport:
    """Apply the seed files of ``env`` to its database; the row count of each table after.

    Raises:
        UnknownEnvironment, MiranteError (URL not set), DatabaseError (psql failed).
    """
    url = db.database_url(settings, env)
    files = files_for(env)
    counts = " union all ".join(  # table names from TABLES, never from input
        f"select '{table}', count(*) from {table}"  # noqa: S608
        for table in tables_for(env)
    )
    argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-At", "-F", "|"]
    for name in files:
        argv += ["-f", f"/out/{name}"]
    docker = client(settings)  # one-off containers: the compose project's files are not needed
    try:
        answer = pg_tool(
            settings, docker, url, [*argv, "-c", counts], (settings.root / "db").resolve()
        )
    except ToolError as exc:
        raise DatabaseError(env, "seed", str(exc)) from None
    rows = {}
    for line in answer.strip().splitlines():
        table, _, count = line.partition("|")
        if count.isdigit():
            rows[table] = int(count)
    return SeedReport(env, files, rows)
