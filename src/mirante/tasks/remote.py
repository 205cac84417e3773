"""`invoke k8s.*`, `provision`, `staging.reset`, `deploy.*`: remote environments, guarded.

Every task builds its plan first (guard, protection, exact commands); `--dry-run` prints it
and stops. A real run prints the same plan, asks where the environment's protection wants
it, then runs the steps one by one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante.environments import Environment
from mirante.settings import Settings
from mirante.tasks._cli import exits_cleanly

if TYPE_CHECKING:
    from mirante.k8s import Plan, Step

ENV_HELP = "dev, staging or prod (config/environments.yaml)"
DRY_HELP = "print the guarded plan, the exact commands, and run nothing"
YES_HELP = "do not ask (the environment must still be named on the command line)"


def _environment(name: str) -> tuple[Settings, Environment]:
    if not name:
        raise Exit("error: name the environment with --env (dev, staging or prod)", code=2)
    settings = settings_mod.load()
    return settings, settings.environments.get(name)


def confirm_env(env: Environment, question: str, yes: bool) -> None:
    """Ask for the environment's name to be typed; ``--yes`` stands for it."""
    if yes:
        return
    if not sys.stdin or not sys.stdin.isatty():
        raise Exit(
            f"{question} Refusing without a terminal to confirm on: pass --yes "
            f"(the environment, {env.name}, is already named).",
            code=1,
        )
    answer = input(f"{question} Type {env.name!r} to go on: ").strip()
    if answer != env.name:
        raise Exit("cancelled; nothing was changed.", code=1)


def _show(plan: Plan, dry_run: bool) -> None:
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


def _execute(
    build: Callable[[Settings, Environment, bool], Plan], env: str, dry_run: bool, yes: bool
) -> None:
    settings, environment = _environment(env)
    plan = build(settings, environment, dry_run)
    _show(plan, dry_run)
    if dry_run:
        return
    if plan.ask:
        confirm_env(environment, f"{plan.task} changes the {environment.name} cluster.", yes)
    plan.run(settings.root, settings.k8s_timeout, _before, _after)
    print(f"{plan.task}: done")


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP, "yes": YES_HELP})
@exits_cleanly
def install(c: Context, env: str, dry_run: bool = False, yes: bool = False) -> None:
    """helm upgrade --install of the observability releases, then the app's overlay."""
    from mirante import k8s

    _execute(k8s.install_plan, env, dry_run, yes)


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP})
@exits_cleanly
def diff(c: Context, env: str, dry_run: bool = False) -> None:
    """What k8s.install would change: helm template | kubectl diff, and kubectl diff -k."""
    from mirante import k8s

    _execute(k8s.diff_plan, env, dry_run, yes=True)


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP})
@exits_cleanly
def status(c: Context, env: str, dry_run: bool = False) -> None:
    """helm status of each release and the app's deployments, pods and services."""
    from mirante import k8s

    _execute(k8s.status_plan, env, dry_run, yes=True)


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP, "yes": YES_HELP})
@exits_cleanly
def uninstall(c: Context, env: str, dry_run: bool = False, yes: bool = False) -> None:
    """Delete the app's overlay and uninstall the releases (refused in prod)."""
    from mirante import k8s

    _execute(k8s.uninstall_plan, env, dry_run, yes)


@task(
    help={
        "profile": "docker (the compose stack, default) or k8s (the dev overlay)",
        "validate_only": "render and check, change nothing",
        "dry_run": DRY_HELP,
        "yes": YES_HELP,
    }
)
@exits_cleanly
def provision(
    c: Context,
    profile: str = "docker",
    validate_only: bool = False,
    dry_run: bool = False,
    yes: bool = False,
) -> None:
    """Provision the dev environment: the compose stack, or the dev overlay on its cluster."""
    from mirante import k8s, stack
    from mirante.tasks import stack as stack_tasks

    if profile not in ("docker", "k8s"):
        raise Exit(f"error: unknown profile {profile!r}; use docker or k8s", code=2)
    settings = settings_mod.load()
    if profile == "docker":
        print(
            "# provision --profile docker" + (": dry run, nothing is executed" if dry_run else "")
        )
        print("invoke stack.config" if validate_only else "invoke stack.up")
        if dry_run:
            return
        if validate_only:
            rendered = stack.config(settings)  # docker compose config: fails on a bad file
            lines = len(rendered.splitlines())
            print(f"{settings.compose_file.relative_to(settings.root)}: valid ({lines} lines)")
        else:
            stack_tasks.up(c)
        return
    env = settings.environments.get("dev")
    if validate_only:
        count = len(k8s.render_overlay(env))
        print(f"{env.overlay.relative_to(settings.root)}: {count} objects render and check")
        return
    _execute(lambda s, e, d: k8s.provision_k8s_plan(s, e, d), "dev", dry_run, yes)


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
    from mirante import db, k8s, seed

    if env and env != "staging":
        raise Exit(f"error: staging.reset resets staging only, not {env!r}", code=2)
    if yes and env != "staging":
        raise Exit("error: --yes needs --env staging too, so that the target is named", code=2)

    def plan(settings: Settings, environment: Environment, dry: bool) -> Plan:
        has_db = bool(settings.database_urls.get("staging"))

        def confirm(names: list[str]) -> None:
            for name in names:
                print(f"    will delete {name}")
            confirm_env(environment, f"Delete these {len(names)} objects in staging?", yes)

        def dump(directory: Path) -> str:
            made = db.dump(settings, "staging", directory)
            return f"database dump {made.path} (sha256 {made.sha256[:16]})"

        def seed_staging() -> str:
            report = seed.run(settings, "staging")
            return ", ".join(f"{table}: {rows} rows" for table, rows in report.rows.items())

        return k8s.reset_plan(
            settings, environment, dry, confirm,
            seed=seed_staging if has_db else None, snapshot_db=dump if has_db else None,
        )  # fmt: skip

    _execute(plan, "staging", dry_run, yes)


@task(
    help={
        "name": "the service (a Deployment of the overlay), e.g. app",
        "env": ENV_HELP,
        "tag": "the image tag to deploy, e.g. v1.2.3",
        "dry_run": DRY_HELP,
        "yes": YES_HELP,
    }
)
@exits_cleanly
def service(
    c: Context, name: str, env: str = "", tag: str = "", dry_run: bool = False, yes: bool = False
) -> None:
    """Build NAME's image as TAG, push it (registry set), set it, wait for the rollout."""
    from mirante import images, k8s
    from mirante.docker import client

    if not tag:
        raise Exit("error: name the image tag with --tag (e.g. --tag v1.2.3)", code=2)

    def plan(settings: Settings, environment: Environment, dry: bool) -> Plan:
        return k8s.deploy_plan(
            settings,
            environment,
            name,
            tag,
            dry,
            build=lambda image: images.build_app_as(settings, client(settings), image),
        )

    _execute(plan, env, dry_run, yes)
    if not dry_run:
        print(f"Deploy of service {name} version {tag} to {env} complete.")


@task(
    help={
        "name": "the service (a Deployment of the overlay)",
        "env": ENV_HELP,
        "revision": "the revision to go back to (deploy.history); default: the previous one",
        "dry_run": DRY_HELP,
        "yes": YES_HELP,
    }
)
@exits_cleanly
def rollback(
    c: Context,
    name: str,
    env: str = "",
    revision: str = "",
    dry_run: bool = False,
    yes: bool = False,
) -> None:
    """kubectl rollout undo of NAME (to --revision N), then wait for the rollout."""
    from mirante import k8s

    _execute(lambda s, e, d: k8s.rollback_plan(s, e, name, revision, d), env, dry_run, yes)


@task(
    help={"name": "the service (a Deployment of the overlay)", "env": ENV_HELP, "dry_run": DRY_HELP}
)
@exits_cleanly
def history(c: Context, name: str, env: str = "", dry_run: bool = False) -> None:
    """kubectl rollout history of NAME: the revisions deploy.rollback can go back to."""
    from mirante import k8s

    _execute(lambda s, e, d: k8s.history_plan(e, name, d), env, dry_run, yes=True)


k8s_namespace = Collection("k8s", install, diff, status, uninstall)
staging_namespace = Collection("staging", reset)
deploy_namespace = Collection("deploy", service, rollback, history)
