"""What the remote task modules share: the environment, the plan printed, the plan run.

Every remote task builds its plan first (guard, protection, exact commands); `--dry-run`
prints it and stops. A real run prints the same plan, asks where the environment's
protection wants it, then runs the steps one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from invoke.exceptions import Exit

from mirante import settings as settings_mod
from mirante.remote.environments import Environment
from mirante.settings import Settings
from mirante.tasks._cli import confirm

if TYPE_CHECKING:
    from mirante.remote.guard import Guard
    from mirante.remote.plans import Plan


class Shown(Protocol):
    """What :func:`show` prints of a plan (a remote one, or infra's)."""

    task: str
    env: Environment
    notes: list[str]

    @property
    def guard(self) -> Guard: ...

    def lines(self) -> list[str]: ...


class Titled(Protocol):
    """A step, as :func:`_before` and :func:`_after` name it."""

    @property
    def title(self) -> str: ...


ENV_HELP = "dev, staging or prod (config/environments.yaml)"
DRY_HELP = "print the guarded plan, the exact commands, and run nothing"
YES_HELP = "do not ask (the environment must still be named on the command line)"

PlanBuilder = Callable[[Settings, Environment, bool], "Plan"]


def environment(name: str) -> tuple[Settings, Environment]:
    if not name:
        raise Exit("error: name the environment with --env (dev, staging or prod)", code=2)
    settings = settings_mod.load()
    return settings, settings.environments.get(name)


def show(plan: Shown, dry_run: bool) -> None:
    print(f"# {plan.task}{': dry run, nothing is executed' if dry_run else ''}")
    print(f"# guard: {plan.guard.status}: {plan.guard.detail}")
    print(f"# protection: {plan.env.protection}")
    for line in plan.lines():
        print(line)
    for note in plan.notes:
        print(f"# note: {note}")


def _before(step: Titled) -> None:
    print(f"--> {step.title}", flush=True)


def _after(step: Titled, output: str) -> None:
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
    plan.run(settings.root, settings.k8s_timeout, _before, _after)
    print(f"{plan.task}: done")
