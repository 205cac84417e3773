"""`invoke security`: bandit, pip-audit and the secret scan, with an evidence file."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante.tasks._cli import exits_cleanly, styled, table

STYLES = {"pass": "green", "fail": "bold red", "skipped": "yellow"}


@task()
@exits_cleanly
def security(c: Context) -> None:
    """bandit (high fails), pip-audit (skipped, never passed, without its service), secrets."""
    from mirante import security as security_mod

    root = settings_mod.find_root()
    report = security_mod.run_checks(root)
    table(
        "security",
        ("check", "status", "reason"),
        [
            (ch.name, styled(ch.status, STYLES.get(ch.status, "")), ch.reason)
            for ch in report.checks
        ],
    )
    print(f"evidence: {report.evidence.relative_to(root)}")
    counts = {s: sum(ch.status == s for ch in report.checks) for s in ("pass", "fail", "skipped")}
    print(
        f"security: {counts['pass']} passed, {counts['fail']} failed, {counts['skipped']} skipped"
    )
    if report.failed:
        raise Exit(code=1)
