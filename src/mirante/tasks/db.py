"""`invoke db.*`: dump an environment's database (and upload it), check its health."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante.files import human_size as size
from mirante.tasks._cli import exits_cleanly, table

ENV_HELP = "local (the stack's Postgres), dev, staging or prod"


@task(name="backup", help={"env": ENV_HELP})
@exits_cleanly
def backup_(c: Context, env: str = "local") -> None:
    """pg_dump an environment's database into the backup directory (and S3 when configured)."""
    from mirante.db import databases as db

    made = db.dump(settings_mod.load(), env)
    where = made.uploaded_to or str(made.path)
    print(
        f"dump of {env}: {made.path} ({size(made.size)}, {made.seconds:.1f} s, "
        f"sha256 {made.sha256[:16]})"
    )
    print(f"Backup of the {env} environment complete, stored at {where}")


@task(help={"env": ENV_HELP})
@exits_cleanly
def healthcheck(c: Context, env: str = "local") -> None:
    """Connect to an environment's database: version, size, connections; exit 1 when down."""
    from mirante.db import databases as db

    health = db.healthcheck(settings_mod.load(), env)
    table(
        f"database health: {env}",
        ("check", "result"),
        [
            ("connection", f"OK ({health.seconds:.2f} s)" if health.ok else "FAILED"),
            ("detail", health.detail),
            ("server version", health.server_version or "-"),
            ("database size", size(health.database_size) if health.ok else "-"),
            ("connections", health.connections if health.ok else "-"),
        ],
    )
    if not health.ok:
        raise Exit(f"error: the {env} database does not answer: {health.detail}", code=1)


def _seed(env: str) -> None:
    from mirante.db import seed as seed_mod

    report = seed_mod.run_seed(settings_mod.load(), env)
    table(
        f"seed of {env} ({', '.join(report.files)})",
        ("table", "rows"),
        sorted(report.rows.items()),
    )


@task(help={"env": ENV_HELP})
@exits_cleanly
def seed(c: Context, env: str = "local") -> None:
    """Create the schema and load the fixtures (idempotent: a second run changes nothing)."""
    _seed(env)


@task(name="migrate-seed", help={"env": ENV_HELP})
@exits_cleanly
def migrate_seed(c: Context, env: str = "local") -> None:
    """The schema (db/reference.sql creates it) and the seeds, in one transaction."""
    _seed(env)


namespace = Collection("db", backup_, healthcheck, migrate_seed)
