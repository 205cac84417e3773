"""Every runbook script under scripts/ is a thin wrapper that explains itself with --help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

SCRIPTS = sorted(p for p in (REPO / "scripts").rglob("*.sh") if p.parent.name != "ci")


def test_the_runbook_scripts_named_by_the_seeds_exist() -> None:
    names = {p.name for p in SCRIPTS}
    assert {
        "backup_observability.sh", "backup_database.sh", "provision-dev.sh", "reset-staging.sh",
        "deploy_service.sh", "rollback_service.sh", "toggle_feature.sh", "seed-data.sh",
        "seed-dev-data.sh", "seed-staging-data.sh", "validate_architecture.sh",
        "run-quality-gates.sh", "health_check.sh", "setup_infra.sh", "destroy_infra.sh",
    } <= names  # fmt: skip


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(p.relative_to(REPO)) for p in SCRIPTS])
def test_help_explains_and_changes_nothing(script: Path, checkout: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "MIRANTE_ROOT": str(checkout),  # where a task that ran would write .env, .mirante/
    }
    before = _tree(checkout)
    done = subprocess.run(
        ["bash", str(script), "--help"], capture_output=True, text=True, env=env, check=False
    )
    assert _tree(checkout) == before  # nothing written: no secrets, no state, no backups
    assert done.returncode == 0, done.stderr
    assert "usage" in (done.stdout + done.stderr).lower()
    assert os.access(script, os.X_OK)
    assert "python3 -m invoke" in script.read_text() or "seed-data.sh" in script.read_text()


def _tree(root: Path) -> dict[str, float]:
    """Every path under ``root`` (links not followed) with its modification time."""
    return {str(p.relative_to(root)): p.lstat().st_mtime for p in root.rglob("*")}
