"""The seeded data, read from Postgres for ``GET /catalog``.

Reference values and sample tenants, loaded by `invoke seed` or at the database's first
start.

The connection comes from libpq's own variables (``PGHOST``, ``PGPORT``, ``PGUSER``,
``PGPASSWORD``, ``PGDATABASE``), so no password is ever part of a URL or a command line.
Without ``PGHOST`` the app runs without a database and says so on ``GET /catalog``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from prometheus_client import Gauge

TABLES = ("mirante.reference_values", "mirante.sample_tenants")
SEED_ROWS = Gauge(
    "mirante_seed_rows", "Rows in each seed table when GET /catalog last read it.", ["table"]
)
DATABASE_UP = Gauge("mirante_database_up", "1 when GET /catalog last reached Postgres, else 0.")


class CatalogUnavailable(Exception):
    """No database configured, or it does not answer, or it was never seeded."""


def read(environ: Mapping[str, str] | None = None, timeout: int = 2) -> dict[str, Any]:
    """Every reference value (grouped by kind) and sample tenant, with the row counts.

    Raises:
        CatalogUnavailable: with the reason, one line.
    """
    import psycopg

    environ = os.environ if environ is None else environ
    if not environ.get("PGHOST"):
        raise CatalogUnavailable("no database configured: set PGHOST (and PGUSER, PGPASSWORD...)")
    try:
        with psycopg.connect(connect_timeout=timeout) as conn:
            present = conn.execute(
                "select to_regclass(%s) is not null, to_regclass(%s) is not null", TABLES
            ).fetchone()
            if not present or not present[0]:
                raise CatalogUnavailable(
                    "the database is not seeded (no mirante.reference_values): run `invoke seed`"
                )
            reference = conn.execute(
                "select kind, code, label from mirante.reference_values order by kind, position"
            ).fetchall()
            tenants = (
                conn.execute(
                    "select id, name, plan, llm_provider from mirante.sample_tenants order by id"
                ).fetchall()
                if present[1]
                else []
            )
    except psycopg.Error as exc:
        DATABASE_UP.set(0)
        first = str(exc).strip().splitlines()
        raise CatalogUnavailable(
            f"the database does not answer: {first[0] if first else exc}"
        ) from None
    DATABASE_UP.set(1)
    SEED_ROWS.labels(TABLES[0]).set(len(reference))
    SEED_ROWS.labels(TABLES[1]).set(len(tenants))
    kinds: dict[str, list[dict[str, str]]] = {}
    for kind, code, label in reference:
        kinds.setdefault(kind, []).append({"code": code, "label": label})
    return {
        "reference": kinds,
        "tenants": [
            {"id": i, "name": name, "plan": plan, "llm_provider": provider}
            for i, name, plan, provider in tenants
        ],
        "rows": {TABLES[0]: len(reference), TABLES[1]: len(tenants)},
    }
