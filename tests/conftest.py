"""Fixtures every suite shares: the checkout, and an isolated copy of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO, scratch_checkout


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return scratch_checkout(tmp_path / "checkout")
