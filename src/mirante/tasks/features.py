"""`invoke features.*`: list and toggle the feature flags of config/features.yaml."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante.tasks._cli import exits_cleanly, table
from mirante.tasks._remote import YES_HELP, execute

ENV_HELP = "local (the compose stack), dev, staging or prod"


@task(name="list", help={"env": f"{ENV_HELP}; default: every environment"})
@exits_cleanly
def list_(c: Context, env: str = "") -> None:
    """Every flag and its state per environment."""
    from mirante import features

    settings = settings_mod.load()
    found = features.flags(settings, env)
    envs = [env] if env else features.known_environments(settings)
    rows = [
        (f.name, *("on" if f.states.get(e) else "off" for e in envs), f.description) for f in found
    ]
    table("feature flags (config/features.yaml)", ("flag", *envs, "description"), rows)


@task(
    help={
        "name": "the flag",
        "state": "enable or disable",
        "env": ENV_HELP,
        "dry_run": "(a cluster) print the refresh of its flags ConfigMap, change nothing",
        "yes": YES_HELP,
    }
)
@exits_cleanly
def toggle(
    c: Context, name: str, state: str, env: str = "", dry_run: bool = False, yes: bool = False
) -> None:
    """Enable or disable a flag in one environment; the file keeps its comments and order.

    For a cluster environment, its flags ConfigMap is refreshed from the file afterwards
    (guarded like every remote task); the pods pick the change up without a restart.
    """
    from invoke.exceptions import Exit

    from mirante import features
    from mirante.errors import GuardRefused
    from mirante.remote import k8s as plans

    if not env:
        raise Exit("error: name the environment with --env (local, dev, staging or prod)", code=2)
    settings = settings_mod.load()
    remote = env != "local" and env in settings.environments.by_name
    if dry_run and remote:
        features.check(settings, name, state, env)
        print(f"# would {state} {name} in config/features.yaml for {env}, then:")
        execute(plans.flags_plan, env, dry_run=True, yes=yes)
        return
    change = features.toggle(settings, name, state, env)
    word = "enabled" if change.after else "disabled"
    unchanged = " (it already was)" if change.before == change.after else ""
    print(f"Feature {change.name} was {word} in environment {change.env}{unchanged}.")
    if remote:
        try:
            execute(plans.flags_plan, env, dry_run=False, yes=yes)
        except GuardRefused as exc:
            raise GuardRefused(
                f"{exc} (config/features.yaml has the change; the {env} cluster gets it with "
                f"`invoke features.toggle {name} {state} --env {env}` or `invoke k8s.install "
                f"{env}` once the context is right)"
            ) from None


namespace = Collection("features", list_, toggle)
