"""Fixtures every suite shares: the checkout, and an isolated copy of it."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from mirante import settings
from tests.helpers import REPO, scratch_checkout

# Scratch directories on tmpfs where there is one (pytest's documented temproot variable):
# a scratch checkout is a score of symlinks, which ext4 here makes in 0.2-0.7 ms each and
# tmpfs in 0.005 ms. Set PYTEST_DEBUG_TEMPROOT to choose another place.
if (
    "PYTEST_DEBUG_TEMPROOT" not in os.environ
    and os.path.ismount("/dev/shm")
    and os.access("/dev/shm", os.W_OK)
):
    os.environ["PYTEST_DEBUG_TEMPROOT"] = "/dev/shm"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return scratch_checkout(tmp_path / "checkout")


@pytest.fixture
def backup_settings(checkout: Path, tmp_path: Path) -> settings.Settings:
    """Settings of a scratch checkout whose backups go to a temporary directory."""
    return settings.load(
        checkout,
        environ={"MIRANTE_BACKUP_DIR": str(tmp_path / "backups"), "MIRANTE_LOCK_TIMEOUT": "0.5"},
    )


# The fault-injection figures (tests/integration/test_faults.py records them as the
# "faults" user property); gathered from the reports, so that they reach the summary from
# an xdist worker too.
FAULT_FIGURES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        FAULT_FIGURES.extend(str(v) for k, v in report.user_properties if k == "faults")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault-injection figures (trials, kills, services left down, bytes lost)."""
    for line in FAULT_FIGURES:
        terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave the session's objects out of the interpreter's collections at exit.

    Python walks every tracked object in several collections as it shuts down; after the
    unit suite (a million syntax nodes of the import-graph tests among them) that took a
    second after the last line was printed.
    """
    gc.freeze()


def pytest_configure(config: pytest.Config) -> None:
    """Refuse ``--dist loadgroup`` where it cannot group (pytest 9.2, pytest-xdist#1386).

    Each group of integration tests shares its worker's stack, in order: ungrouped, every
    worker would start one, and the tests that need a minute of a stack's data or follow
    one another on it would fail in confusing ways.
    """
    if getattr(config.option, "dist", "no") != "loadgroup":
        return
    version = tuple(int(p) for p in pytest.__version__.split(".")[:2] if p.isdigit())
    if version >= (9, 2):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} drops pytest-xdist's groups (pytest-dev/pytest-xdist"
            "#1386), and each group of integration tests must share a worker: install the test "
            "group's pytest (<9.2), or run without -n"
        )
