"""`invoke provision`: the dev environment, as the compose stack or on the dev cluster."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante.tasks._cli import exits_cleanly
from mirante.tasks._remote import DRY_HELP, YES_HELP, environment, execute


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
    if profile == "k8s":
        from mirante.remote import provision as plans
        from mirante.remote.steps import render_overlay

        if validate_only:
            settings, env = environment("dev")
            count = len(render_overlay(env))
            print(f"{env.overlay.relative_to(settings.root)}: {count} objects render and check")
            return
        execute(plans.provision_k8s_plan, "dev", dry_run, yes)
        return
    if profile != "docker":
        raise Exit(f"error: unknown profile {profile!r}; use docker or k8s", code=2)
    from mirante import stack
    from mirante.backup import journal
    from mirante.tasks.stack import show_up

    settings = settings_mod.load()
    print("# provision --profile docker" + (": dry run, nothing is executed" if dry_run else ""))
    print("invoke stack.config" if validate_only else "invoke stack.up")
    if dry_run:
        return
    if validate_only:
        rendered = stack.config(settings)  # docker compose config: fails on a bad file
        lines = len(rendered.splitlines())
        print(f"{settings.compose_file.relative_to(settings.root)}: valid ({lines} lines)")
    else:
        show_up(settings, stack.up(settings, repair=journal.repair))
