"""The one process runner: what a missing, failing, slow or piped program becomes."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from mirante import errors, runner
from mirante.errors import KubeCommandError, ToolError, ToolNotFound
from mirante.runner import Command
from mirante.tools import kube, promtools, terraform
from tests.helpers import REPO, parsed

SRC = REPO / "src" / "mirante"
PY = sys.executable


def test_a_missing_program_is_a_tool_error_without_a_hint() -> None:
    with pytest.raises(ToolError, match="command not found") as caught:
        runner.run(["mirante-no-such-program-xyz"])
    assert not isinstance(caught.value, ToolNotFound)
    assert caught.value.returncode == 127


def test_a_missing_program_with_a_hint_is_tool_not_found_naming_both() -> None:
    with pytest.raises(ToolNotFound) as caught:
        runner.run(["mirante-no-such-program-xyz", "x"], hint="install it with apt")
    assert str(caught.value) == "`mirante-no-such-program-xyz` is not on PATH: install it with apt"
    assert caught.value.tool == "mirante-no-such-program-xyz"
    assert isinstance(caught.value, errors.Failed)
    assert caught.value.exit_code == 1


def test_a_failure_carries_the_exit_code_and_stderr() -> None:
    with pytest.raises(ToolError) as caught:
        runner.run([PY, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"])
    assert caught.value.returncode == 3
    assert "boom" in caught.value.stderr


def test_unchecked_ok_codes_pipes_and_the_wrappers_error_class() -> None:
    said = runner.run([PY, "-c", "import sys; sys.exit(4)"], check=False)
    assert said.returncode == 4
    diff = Command((PY, "-c", "import sys; sys.exit(1)"), ok_codes=(0, 1))
    assert runner.run(diff).returncode == 1
    piped = Command((PY, "-c", "print('a b')"), pipe_to=(PY, "-c", "print(input().upper())"))
    assert runner.run(piped).stdout == "A B\n"
    assert piped.shown().count(" | ") == 1
    with pytest.raises(KubeCommandError):
        runner.run([PY, "-c", "import sys; sys.exit(2)"], error=KubeCommandError)


def test_a_program_that_runs_out_of_time_is_stopped_and_said_so() -> None:
    with pytest.raises(ToolError, match=r"timed out after 0\.1 s") as caught:
        runner.run([PY, "-c", "import time; time.sleep(5)"], timeout=0.1)
    assert caught.value.returncode == 124


def test_streams_feed_and_read_and_a_failure_says_what_the_program_said() -> None:
    assert runner.feeding([PY, "-c", "import sys; print(len(sys.stdin.read()))"],
                          iter([b"ab", b"cd"])) == "4\n"  # fmt: skip
    with runner.reading([PY, "-c", "print('x' * 3)"]) as out:
        assert out.read() == b"xxx\n"
    with pytest.raises(ToolError, match="nope"):
        runner.feeding([PY, "-c", "import sys; sys.exit('nope')"], iter([b""]))


def test_a_missing_terraform_says_how_to_install_terraform(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    command = terraform.Terraform(Path("terraform/envs/dev")).init()
    with pytest.raises(ToolNotFound) as caught:
        terraform.run_terraform(command, "dev", tmp_path)
    assert str(caught.value) == f"`terraform` is not on PATH: {terraform.INSTALL_HINT}"
    assert "apt-get" not in str(caught.value)


def test_each_wrapper_names_its_own_tool_and_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    kube.tool_version.cache_clear()
    with pytest.raises(ToolNotFound, match=r"^`helm` is not on PATH: run `bash scripts/ci"):
        kube.tool_version("helm")
    with pytest.raises(ToolNotFound, match=r"^`kubectl` is not on PATH: run `bash scripts/ci"):
        kube.run_kube(Command(("kubectl", "version")))
    amtool = str(promtools.missing("amtool"))
    assert amtool.startswith("`amtool` is not installed: `apt-get install prometheus-alertmanager`")


def _imports_subprocess(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(parsed(path)):
        if (isinstance(node, ast.Import) and any(a.name == "subprocess" for a in node.names)) or (
            isinstance(node, ast.ImportFrom) and node.module == "subprocess"
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_but_the_runner_starts_a_program_itself() -> None:
    found = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "runner.py" and (lines := _imports_subprocess(path))
    }
    assert found == {}
    assert _imports_subprocess(SRC / "runner.py")  # the check sees an import where one is
