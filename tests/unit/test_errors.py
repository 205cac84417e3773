"""The error tree: one clear line per failure, and every class under its exit code."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from mirante import settings, stack
from mirante.errors import ServiceUnhealthy, ToolError
from tests.helpers import parsed


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


def test_the_docstring_tree_is_the_class_tree() -> None:
    """errors.py's docstring draws the tree: each class under its category, with its code."""
    import inspect
    import re

    from mirante import errors

    doc = (errors.__doc__ or "").split("The tree", 1)[1].splitlines()[1:]
    categories: dict[int, tuple[type, int]] = {
        0: (errors.MiranteError, 1)
    }  # depth -> (class, code)
    listed: dict[str, tuple[type, int]] = {}
    for line in doc:
        depth = (len(line) - len(line.lstrip())) // 4
        if heading := re.match(r"^\s*(\w+) (\d): ", line):
            category = getattr(errors, heading[1])
            categories[depth] = (category, int(heading[2]))
            listed[heading[1]] = (categories[depth - 1][0], int(heading[2]))
        elif line.strip() and depth:
            for name in re.findall(r"\b([A-Z]\w+)\b", line):
                listed[name] = categories[depth - 1]
    actual = {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.MiranteError) and cls is not errors.MiranteError
    }
    assert sorted(listed) == sorted(actual)
    for name, (category, code) in listed.items():
        assert issubclass(actual[name], category), f"{name} is not a {category.__name__}"
        assert actual[name].exit_code == code, name
    assert [c.exit_code for c in (errors.UsageError, errors.Refused, errors.Failed)] == [2, 3, 1]
    assert issubclass(errors.ToolNotFound, errors.ToolError)
    assert issubclass(errors.PolicyRefused, errors.Refused)


def test_no_module_keeps_an_error_class_of_its_own() -> None:
    """Every error class lives in errors.py, where the tree shows it."""
    import ast
    import inspect

    from mirante import errors

    names = {n for n, c in inspect.getmembers(errors, inspect.isclass)}
    src = Path(errors.__file__).parent
    elsewhere = [
        f"{path.relative_to(src)}: {node.name}"
        for path in src.rglob("*.py")
        if path.name != "errors.py"
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.ClassDef)
        and any(getattr(b, "id", getattr(b, "attr", "")) in names for b in node.bases)
    ]
    assert elsewhere == []


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
    from mirante.errors import ServiceUnreachable
    from mirante.observe import contract

    with pytest.raises(ServiceUnreachable, match="is not an http"):
        contract.validate(url)
