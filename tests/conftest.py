"""Fixtures every suite shares: the checkout, and an isolated copy of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirante import settings
from tests.helpers import REPO, scratch_checkout


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
