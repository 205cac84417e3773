"""`invoke staging.reset`: snapshot, delete what is labelled env=staging, reapply, seed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante.tasks._cli import confirm, exits_cleanly
from mirante.tasks._remote import DRY_HELP, execute

if TYPE_CHECKING:
    from mirante.environments import Environment
    from mirante.plans import Plan
    from mirante.settings import Settings


@task(
    help={
        "env": "must be staging: with --yes, the environment has to be named",
        "dry_run": DRY_HELP,
        "yes": "do not ask; only together with --env staging",
    }
)
@exits_cleanly
def reset(c: Context, env: str = "", dry_run: bool = False, yes: bool = False) -> None:
    """Reset staging: snapshot, delete the objects labelled env=staging, reapply, seed."""
    from mirante.remote import staging as plans

    if env and env != "staging":
        raise Exit(f"error: staging.reset resets staging only, not {env!r}", code=2)
    if yes and env != "staging":
        raise Exit("error: --yes needs --env staging too, so that the target is named", code=2)

    def build(settings: Settings, environment: Environment, dry: bool) -> Plan:
        def ask(names: list[str]) -> None:
            for name in names:
                print(f"    will delete {name}")
            question = f"Delete these {len(names)} objects in staging?"
            confirm(question, yes, type_name=environment.name)

        return plans.staging_reset_plan(settings, environment, dry, ask)

    execute(build, "staging", dry_run, yes)


namespace = Collection("staging", reset)
