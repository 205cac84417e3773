"""`invoke k8s.*`: the helm releases and the app's overlay on a remote environment."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from mirante.tasks._cli import exits_cleanly
from mirante.tasks._remote import DRY_HELP, ENV_HELP, YES_HELP, execute


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP, "yes": YES_HELP})
@exits_cleanly
def install(c: Context, env: str, dry_run: bool = False, yes: bool = False) -> None:
    """helm upgrade --install of the observability releases, then the app's overlay."""
    from mirante.remote import k8s as plans

    execute(plans.install_plan, env, dry_run, yes)


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP})
@exits_cleanly
def diff(c: Context, env: str, dry_run: bool = False) -> None:
    """What k8s.install would change: helm template | kubectl diff, and kubectl diff -k."""
    from mirante.remote import k8s as plans

    execute(plans.diff_plan, env, dry_run, yes=True)


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP})
@exits_cleanly
def status(c: Context, env: str, dry_run: bool = False) -> None:
    """helm status of each release and the app's deployments, pods and services."""
    from mirante.remote import k8s as plans

    execute(plans.status_plan, env, dry_run, yes=True)


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP, "yes": YES_HELP})
@exits_cleanly
def uninstall(c: Context, env: str, dry_run: bool = False, yes: bool = False) -> None:
    """Delete the app's overlay and uninstall the releases (refused in prod)."""
    from mirante.remote import k8s as plans

    execute(plans.uninstall_plan, env, dry_run, yes)


namespace = Collection("k8s", install, diff, status, uninstall)
