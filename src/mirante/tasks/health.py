"""`invoke health`: OK / WARN / CRITICAL per component; the exit code follows the worst row."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante.tasks._cli import exits_cleanly, styled, table

STYLES = {"OK": "green", "WARN": "yellow", "CRITICAL": "bold red"}


@task(
    help={
        "env": "local (the compose stack, default) or a remote environment: dev, staging, prod",
        "json": "print the report as JSON instead of a table",
    }
)
@exits_cleanly
def health(c: Context, env: str = "local", json: bool = False) -> None:
    """Check every component concurrently; exit 0 (all OK), 1 (a WARN) or 2 (a CRITICAL)."""
    from mirante import health as health_mod

    report = health_mod.check(settings_mod.load(), env)
    if json:
        print(report.as_json())
    else:
        table(
            f"mirante health: {env} ({report.seconds:.1f} s)",
            ("component", "status", "reason"),
            [
                (r.component, styled(r.status, STYLES.get(r.status, "")), r.reason)
                for r in report.rows
            ],
        )
        print(f"overall: {report.status}")
    if report.exit_code:
        raise Exit(code=report.exit_code)
