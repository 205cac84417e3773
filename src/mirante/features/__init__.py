"""Feature flags per environment in ``config/features.yaml``, toggled in place.

The file is read and written with ruamel.yaml's round-trip mode, so comments, key order
and layout survive a toggle. A toggle holds a file lock from read to rename, so concurrent
toggles never lose one another's change, and the new text replaces the file atomically: a
reader sees the old file or the new one, never half of either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mirante import files, loader
from mirante.errors import FeaturesError, UnknownEnvironment
from mirante.files import atomic_write
from mirante.settings import Settings

FEATURES_FILE = Path("config") / "features.yaml"
STATES = {"enable": True, "disable": False}


@dataclass(frozen=True)
class Flag:
    """One feature flag of an environment."""

    name: str
    description: str
    states: dict[str, bool]


@dataclass(frozen=True)
class Change:
    """A flag change that was written: the flag, its environment, old and new value."""

    name: str
    env: str
    before: bool
    after: bool


def path_of(settings: Settings) -> Path:
    """The feature flags file of the checkout."""
    return settings.root / FEATURES_FILE


def known_environments(settings: Settings) -> list[str]:
    """The environments the flags file knows."""
    return ["local", *settings.environments.by_name]


# A flag's and an environment's name: ASCII, as names that are matched and listed must be.
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")


def _read(path: Path) -> Any:
    document = loader.load_round_trip(
        path, FEATURES_FILE, FeaturesError, "create it (see the README)"
    )
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, dict):
        raise FeaturesError(f"{FEATURES_FILE}: expected a `features:` mapping of flags")
    for name, body in features.items():
        if not isinstance(name, str) or not NAME.match(name):
            raise FeaturesError(
                f"{FEATURES_FILE}: flag name {str(name)[:40]!r} must be a word of ASCII letters, "
                "digits, '_', '.' or '-', starting with a letter"
            )
        envs = body.get("environments") if isinstance(body, dict) else None
        if (
            not isinstance(envs, dict)
            or not all(isinstance(e, str) and NAME.match(e) for e in envs)
            or not all(isinstance(v, bool) for v in envs.values())
        ):
            raise FeaturesError(
                f"{FEATURES_FILE}: flag {name!r} needs `environments:` mapping each "
                "environment (by name) to true or false"
            )
        if not isinstance(body.get("description", ""), str):
            raise FeaturesError(
                f"{FEATURES_FILE}: flag {name!r} has a description that is not text"
            )
    return document


def flags(settings: Settings, env: str = "") -> list[Flag]:
    """Every flag (with its state in ``env`` only, when given)."""
    if env:
        _check_env(settings, env)
    document = _read(path_of(settings))
    return [
        Flag(
            str(name),
            str(body.get("description", "")),
            {str(e): bool(v) for e, v in body["environments"].items() if not env or e == env},
        )
        for name, body in document["features"].items()
    ]


def _check_env(settings: Settings, env: str) -> None:
    known = known_environments(settings)
    if env not in known:
        raise UnknownEnvironment(env, known)


def check(settings: Settings, name: str, state: str, env: str) -> None:
    """What :func:`toggle` checks first, without writing anything.

    Raises:
        FeaturesError, UnknownEnvironment: as :func:`toggle`.
    """
    if state not in STATES:
        raise FeaturesError(f"unknown state {state!r}; use enable or disable")
    _check_env(settings, env)
    features = _read(path_of(settings))["features"]
    if name not in features:
        raise FeaturesError(f"unknown feature {name!r}; known features: {', '.join(features)}")


def toggle(settings: Settings, name: str, state: str, env: str) -> Change:
    """Set flag ``name`` in ``env`` to ``state`` (enable / disable), keeping the rest as is.

    Raises:
        FeaturesError: unknown state, environment or flag (listing the known ones), or a
            malformed file (with its line and column; the file is not touched).
    """
    if state not in STATES:
        raise FeaturesError(f"unknown state {state!r}; use enable or disable")
    _check_env(settings, env)
    path = path_of(settings)
    lock = settings.state_dir / "features.lock"  # not beside the file: config/ is in git
    with files.locked(lock, settings.lock_timeout, "features.toggle"):
        files.remove_stale_temps(path)  # left by a toggle that was killed mid-write
        document = _read(path)
        features = document["features"]
        if name not in features:
            raise FeaturesError(f"unknown feature {name!r}; known features: {', '.join(features)}")
        envs = features[name]["environments"]
        before = bool(envs.get(env, False))
        envs[env] = STATES[state]
        atomic_write(path, loader.dump_round_trip(document), mode=path.stat().st_mode & 0o777)
    return Change(name, env, before, STATES[state])
