"""`invoke features.*`: list and toggle the feature flags of config/features.yaml."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante.tasks._cli import exits_cleanly, table

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


@task(help={"name": "the flag", "state": "enable or disable", "env": ENV_HELP})
@exits_cleanly
def toggle(c: Context, name: str, state: str, env: str = "") -> None:
    """Enable or disable a flag in one environment; the file keeps its comments and order."""
    from invoke.exceptions import Exit

    from mirante import features

    if not env:
        raise Exit("error: name the environment with --env (local, dev, staging or prod)", code=2)
    change = features.toggle(settings_mod.load(), name, state, env)
    word = "enabled" if change.after else "disabled"
    unchanged = " (it already was)" if change.before == change.after else ""
    print(f"Feature {change.name} was {word} in environment {change.env}{unchanged}.")


namespace = Collection("features", list_, toggle)
