"""Shared fixtures: the checkout, and isolated copies of it for tests that write state."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Top-level folders a stack needs; linked (not copied) into a scratch checkout.
CHECKOUT_PARTS = (
    "compose",
    "prometheus",
    "alertmanager",
    "grafana",
    "loki",
    "tempo",
    "otel-collector",
    "app",
    "images",
    "src",
    "docs",
    "k8s",
    "config",
    "db",
    ".env.example",
)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def scratch_checkout(path: Path, copies: tuple[str, ...] = ()) -> Path:
    """A checkout whose .env and .mirante/ are its own, its configs the repository's
    (linked; the parts named in ``copies`` are copied, for tests that change them)."""
    path.mkdir(parents=True, exist_ok=True)
    for part in CHECKOUT_PARTS:
        target = path / part
        if target.exists():
            continue
        if part in copies:
            shutil.copytree(REPO / part, target)
        else:
            target.symlink_to(REPO / part, target_is_directory=(REPO / part).is_dir())
    return path


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return scratch_checkout(tmp_path / "checkout")


def run_as_user(
    argv: Sequence[str], env: Mapping[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command as a user would: from the repository, with ``env`` over the current
    environment, and no terminal on stdin (so nothing that asks can pass without --yes)."""
    return subprocess.run(
        list(argv),
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def invoke_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


def gate_suite(
    items: list[pytest.Item],
    here: Path,
    marker: pytest.MarkDecorator,
    missing: Callable[[], str],
    require: str,
) -> None:
    """Mark the tests under ``here``. When ``missing()`` says what they need is absent, skip
    them with that reason, or fail the run when the variable ``require`` is 1 (CI sets it)."""
    ours = [i for i in items if here in Path(str(i.fspath)).parents]
    for item in ours:
        item.add_marker(marker)
    reason = missing() if ours else ""
    if not reason:
        return
    if os.environ.get(require) == "1":
        raise pytest.UsageError(f"{require}=1 but {reason}; run scripts/ci/bootstrap.sh first")
    skip = pytest.mark.skip(reason=f"{reason} (scripts/ci/bootstrap.sh)")
    for item in ours:
        item.add_marker(skip)
