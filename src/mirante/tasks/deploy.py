"""`invoke deploy.*`: deploy a service's image, roll it back, list its revisions."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante.tasks._cli import exits_cleanly
from mirante.tasks._remote import DRY_HELP, ENV_HELP, YES_HELP, execute


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
    from mirante.remote import deploy as plans

    if not tag:
        raise Exit("error: name the image tag with --tag (e.g. --tag v1.2.3)", code=2)
    execute(lambda s, e, d: plans.deploy_service_plan(s, e, name, tag, d), env, dry_run, yes)
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
    from mirante.remote import deploy as plans

    execute(lambda s, e, d: plans.rollback_plan(s, e, name, revision, d), env, dry_run, yes)


@task(
    help={"name": "the service (a Deployment of the overlay)", "env": ENV_HELP, "dry_run": DRY_HELP}
)
@exits_cleanly
def history(c: Context, name: str, env: str = "", dry_run: bool = False) -> None:
    """kubectl rollout history of NAME: the revisions deploy.rollback can go back to."""
    from mirante.remote import deploy as plans

    execute(lambda s, e, d: plans.history_plan(s, e, name, d), env, dry_run, yes=True)


namespace = Collection("deploy", service, rollback, history)
