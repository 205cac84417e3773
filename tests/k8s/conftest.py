"""Remote-environment tests with the real kubectl and helm, and no cluster.

There is no cluster on these machines: what is tested is real rendering (kustomize,
kubernetes-validate), the guards against a real kubeconfig read by the real kubectl, and the
exact commands of the dry-run plans. They skip when kubectl or helm is missing, and fail
instead when MIRANTE_REQUIRE_KUBE_TOOLS=1 (CI sets it; scripts/ci/bootstrap.sh installs both).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import gate_suite, invoke_argv, run_as_user, scratch_checkout, write_kubeconfig


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gate_suite(
        items, Path(__file__).parent, pytest.mark.kube, _tools_missing, "MIRANTE_REQUIRE_KUBE_TOOLS"
    )


def _tools_missing() -> str:
    missing = [tool for tool in ("kubectl", "helm") if shutil.which(tool) is None]
    return f"{', '.join(missing)} not on PATH" if missing else ""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A scratch checkout: snapshots and generated values land there, not in the repo."""
    return scratch_checkout(tmp_path / "checkout")


class Runner:
    """Run `invoke ARGS` (or any command) as a user would.

    From the repository, with the given kubeconfig, the scratch checkout as MIRANTE_ROOT,
    and no terminal on stdin.
    """

    def __init__(self, kubeconfig: Path, root: Path) -> None:
        self.env = {"KUBECONFIG": str(kubeconfig), "MIRANTE_ROOT": str(root)}

    def command(self, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        return run_as_user(argv, {**self.env, **env}, timeout=120)

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.command(invoke_argv(*args), **env)


@pytest.fixture
def kube(root: Path, tmp_path: Path) -> Callable[..., Runner]:
    """``kube(current_context)``: a :class:`Runner` whose kubeconfig has that current context."""

    def with_context(current: str, servers: dict[str, str] | None = None) -> Runner:
        name = f"kubeconfig-{current or 'none'}-{len(servers or {})}"
        return Runner(write_kubeconfig(tmp_path / name, current, servers), root)

    return with_context
