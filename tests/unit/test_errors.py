"""The error tree: one clear line per failure, and every class under its exit code."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from mirante import settings, stack
from mirante.errors import ServiceUnhealthy, ToolError


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


def test_a_compose_error_with_every_service_up_is_shown_as_itself(
    monkeypatch: pytest.MonkeyPatch, checkout: Path
) -> None:
    healthy = SimpleNamespace(
        state=SimpleNamespace(status="running", health=SimpleNamespace(status="healthy"))
    )
    monkeypatch.setattr(stack, "container_states", lambda *_: {"app": healthy})
    said = (
        "error while interpolating services.app.image: "
        "required variable MIRANTE_APP_IMAGE is missing a value"
    )
    error = ToolError(["docker", "compose", "up"], 1, said)
    config = settings.load(checkout, environ={})
    found = stack.failure(None, config, ["app"], error, datetime.now(UTC), 60)  # type: ignore[arg-type]
    assert found is error


@pytest.mark.parametrize("url", ["http://[::1", "http://host:99999", "ftp://host", "host:8000"])
def test_a_url_that_is_not_one_is_one_clear_error(url: str) -> None:
    from mirante import contract
    from mirante.errors import ServiceUnreachable

    with pytest.raises(ServiceUnreachable, match="is not an http"):
        contract.validate(url)
