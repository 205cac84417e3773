"""`invoke infra.plan|apply|destroy|output ENV`: the AWS foundation, through Terraform.

Each builds its guarded plan first (the environment's AWS account and region checked
against config/environments.yaml before any Terraform command); `--dry-run` prints the
exact commands and runs nothing.
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from mirante.tasks._cli import exits_cleanly
from mirante.tasks._remote import DRY_HELP, ENV_HELP, execute

YES_HELP = "do not ask before applying (the environment is named on the command line)"


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP})
@exits_cleanly
def plan(c: Context, env: str, dry_run: bool = False) -> None:
    """terraform init and plan of ENV's foundation (saved; nothing is applied)."""
    from mirante.infra import plans

    execute(plans.plan_plan, env, dry_run, yes=True)


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP, "yes": YES_HELP})
@exits_cleanly
def apply(c: Context, env: str, dry_run: bool = False, yes: bool = False) -> None:
    """Plan, show, ask, apply that plan; then keep the outputs for the k8s layer."""
    from mirante.infra import plans

    execute(plans.apply_plan, env, dry_run, yes)


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP, "yes": YES_HELP})
@exits_cleanly
def destroy(c: Context, env: str, dry_run: bool = False, yes: bool = False) -> None:
    """Plan the destruction, ask, destroy; refused where the environment is no-destructive."""
    from mirante.infra import plans

    execute(plans.destroy_plan, env, dry_run, yes)


@task(help={"env": ENV_HELP, "dry_run": DRY_HELP})
@exits_cleanly
def output(c: Context, env: str, dry_run: bool = False) -> None:
    """Terraform's outputs (buckets, IRSA roles, cluster) into .mirante/infra/ENV.json."""
    from mirante.infra import plans

    execute(plans.output_plan, env, dry_run, yes=True)


namespace = Collection("infra")
for _task in (plan, apply, destroy, output):
    namespace.add_task(_task)
