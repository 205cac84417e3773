"""Integration tests run the real stack on a real Docker daemon.

They skip, with the reason, when no daemon answers, and fail instead when
MIRANTE_REQUIRE_DOCKER=1 (CI sets it, so they cannot silently skip there). The stack runs
as its own compose project on its own ports, from a scratch checkout, so a developer's
running stack and .env are never touched.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirante import settings, stack
from tests.helpers import gate_suite, project_env, scratch_checkout

# The data tests (backups, restores, faults, images) in one group, the signal tests (alerts,
# traces, load, health, observed services) in the other: about as long as each other.
FIRST_GROUP = {
    "test_faults.py", "test_backup.py", "test_interrupted_swap.py", "test_db.py",
    "test_bundle.py", "test_stand_ins.py", "test_gates.py",
}  # fmt: skip


def docker_answers() -> str:
    """'' when a daemon answers, else why not."""
    try:
        result = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if result.returncode == 0 else (result.stderr.strip() or "docker version failed")


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the group marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gate_suite(
        items,
        Path(__file__).parent,
        pytest.mark.integration,
        lambda: f"no Docker daemon answers ({reason})" if (reason := docker_answers()) else "",
        "MIRANTE_REQUIRE_DOCKER",
    )
    # Two groups of integration tests, each in one worker (pytest-xdist --dist loadgroup)
    # with a stack of its own (tests.helpers.project_env), while the other tests run in a
    # third; without xdist, one stack serves them all.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            group = "stack" if Path(str(item.fspath)).name in FIRST_GROUP else "stack-b"
            item.add_marker(pytest.mark.xdist_group(group))
    # The round trip needs a minute of the session stack's data: run it once that exists.
    items.sort(key=lambda item: item.get_closest_marker("late") is not None)


@pytest.fixture(scope="session")
def stack_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # prometheus/ is a copy: the gates test adds a broken rule to it for a moment.
    return scratch_checkout(
        tmp_path_factory.mktemp("stack") / "checkout", copies=("prometheus", "config")
    )


@pytest.fixture(scope="session")
def stack_env(stack_root: Path) -> dict[str, str]:
    return project_env("mirantetest", stack_root)


@pytest.fixture(scope="session")
def stack_settings(stack_root: Path, stack_env: dict[str, str]) -> settings.Settings:
    return settings.load(stack_root, environ=stack_env)


@pytest.fixture(scope="session")
def running_stack(
    stack_settings: settings.Settings, stack_env: dict[str, str]
) -> Iterator[stack.UpReport]:
    """The whole stack, up once for the session; whatever can run here comes up healthy."""
    report = stack.up(stack_settings)
    yield report
    stack.down(settings.load(stack_settings.root, environ=stack_env), volumes=True)
