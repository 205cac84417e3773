"""Shared fixtures: the checkout, and isolated copies of it for tests that write state."""

from __future__ import annotations

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
)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def scratch_checkout(path: Path) -> Path:
    """A checkout whose .env and .mirante/ are its own, its configs the repository's."""
    path.mkdir(parents=True, exist_ok=True)
    for part in CHECKOUT_PARTS:
        link = path / part
        if not link.exists():
            link.symlink_to(REPO / part, target_is_directory=True)
    return path


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return scratch_checkout(tmp_path / "checkout")
