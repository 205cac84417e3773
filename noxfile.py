"""Nox sessions for mirante: lint, typecheck and tests run by default (`nox`)."""

from __future__ import annotations

import os

import nox

nox.needs_version = ">=2024.10"  # nox.project.dependency_groups
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_venv = "yes"
# uv makes the sessions' environments ten times faster than pip (where it is installed:
# `pip install nox uv`); venv otherwise. Its environments get pip too: the app's wheelhouse
# is downloaded with `python -m pip`, and pip-audit reads an environment through pip.
nox.options.default_venv_backend = "uv|venv"
os.environ.setdefault("UV_VENV_SEED", "1")

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"


def install_groups(session: nox.Session, *groups: str) -> None:
    """Install the dependency groups of pyproject.toml into the session."""
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint and check formatting with ruff."""
    install_groups(session, "lint")
    session.run("ruff", "check", *session.posargs, ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check src/, tasks.py and noxfile.py with mypy --strict."""
    install_groups(session, "lint")
    session.install("-e", ".")
    session.run("mypy", *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run unit and integration tests (integration needs a Docker daemon)."""
    install_groups(session, "test")
    session.install("-r", "app/requirements.txt")  # the sample app's own units are tested too
    session.install("-e", ".")
    # Three workers: the integration tests' two groups, each with a stack of its own, in
    # two (most of their time is spent waiting on the stack), the others in the third.
    session.run("pytest", "-n", "3", "--dist", "loadgroup", *session.posargs)


@nox.session(python=PYTHON)
def gates(session: nox.Session) -> None:
    """Run the quality gates (`invoke gates`) on a throwaway copy of the stack.

    Arguments after -- go to it (``-- --reuse`` checks the stack that is running).
    """
    session.install("-e", ".")
    session.run("invoke", "gates", *session.posargs)


@nox.session(python=PYTHON)
def security(session: nox.Session) -> None:
    """Bandit over src/ and app/, pip-audit of the project and the app, the secret scan."""
    # The project's dependencies, not the project: nothing is built in the source tree (CI
    # runs this beside the tests session, which installs it).
    session.install(*PYPROJECT["project"]["dependencies"])
    install_groups(session, "security")
    session.run("invoke", "security", *session.posargs, env={"PYTHONPATH": "src"})


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks (commands, backups, image bundles, load) and print figures and ratios."""
    session.install("-e", ".")
    session.run("python", "benchmarks/run.py", *session.posargs)
    session.run("python", "benchmarks/backup.py")
    session.run("python", "benchmarks/images.py")
    session.run("python", "benchmarks/load.py")
