"""The task layer: a failure becomes one line and an exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from mirante import stack
from mirante.tasks import stack as stack_tasks


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
