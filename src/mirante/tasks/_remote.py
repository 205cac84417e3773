"""What the remote and infra task modules share: the environment, the plan printed and run.

Every remote or infra task builds its plan first (guard, protection, exact commands);
`--dry-run` prints it and stops. A real run prints the same plan, asks where the
environment's protection wants it (and before each step that asks), then runs the steps one
by one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from invoke.exceptions import Exit

from mirante import settings as settings_mod
from mirante.tasks._cli import confirm

if TYPE_CHECKING:  # `invoke --list` loads this module: the plan engine only when one runs
    from mirante.environments import Environment
    from mirante.plans import Plan, Step
    from mirante.settings import Settings

ENV_HELP = "dev, staging or prod (config/environments.yaml)"
DRY_HELP = "print the guarded plan, the exact commands, and run nothing"
YES_HELP = "do not ask (the environment must still be named on the command line)"

PlanBuilder = Callable[["Settings", "Environment", bool], "Plan"]


def environment(name: str) -> tuple[Settings, Environment]:
    if not name:
        raise Exit("error: name the environment with --env (dev, staging or prod)", code=2)
    settings = settings_mod.load()
    return settings, settings.environments.get(name)


def show(plan: Plan, dry_run: bool) -> None:
    print(f"# {plan.task}{': dry run, nothing is executed' if dry_run else ''}")
    print(f"# guard: {plan.guard.status}: {plan.guard.detail}")
    print(f"# protection: {plan.env.protection}")
    for line in plan.lines():
        print(line)
    for note in plan.notes:
        print(f"# note: {note}")


def _before(step: Step) -> None:
    print(f"--> {step.title}", flush=True)


def _after(step: Step, output: str) -> None:
    for line in output.rstrip().splitlines():
        print(f"    {line}")


def execute(build: PlanBuilder, env: str, dry_run: bool, yes: bool) -> None:
    """Build the plan, print it; unless a dry run, confirm where asked and run it."""
    settings, chosen = environment(env)
    plan = build(settings, chosen, dry_run)
    show(plan, dry_run)
    if dry_run:
        return
    if plan.ask:
        confirm(f"{plan.task} changes the {chosen.name} cluster.", yes, type_name=chosen.name)

    def ask(step: Step) -> None:
        confirm(f"{plan.task}: {step.title} in {chosen.name}, as planned above?", yes,
                type_name=chosen.name)  # fmt: skip

    plan.execute(settings.root, ask, _before, _after)
    print(plan.done or f"{plan.task}: done")
