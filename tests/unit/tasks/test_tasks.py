"""The task layer: a failure becomes one line and an exit code, never a traceback."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from invoke.context import Context
from invoke.exceptions import Exit

from mirante import settings, stack
from mirante.tasks import backup as backup_tasks
from mirante.tasks import stack as stack_tasks
from tests.helpers import cli, scratch_checkout


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


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: stack_tasks.up(Context(), timeout="abc"), "--timeout 'abc'"),
        (lambda: stack_tasks.up(Context(), timeout="nan"), "--timeout 'nan'"),
        (lambda: stack_tasks.up(Context(), timeout="-1"), "--timeout '-1'"),
        (lambda: stack_tasks.restart(Context(), "app", timeout="1e309"), "--timeout '1e309'"),
        (lambda: stack_tasks.logs(Context(), "app", tail="²"), "--tail '²'"),
        (lambda: stack_tasks.logs(Context(), "app", tail="1.5"), "--tail '1.5'"),
        (lambda: backup_tasks.prune(Context(), keep_last="٣"), "--keep-last '٣'"),
        (lambda: backup_tasks.prune(Context(), keep_days="inf"), "--keep-days 'inf'"),
    ],
    ids=["letters", "nan", "negative", "overflow", "superscript", "fraction", "arabic", "inf"],
)
def test_a_bad_numeric_flag_is_one_line_and_exit_2(
    in_checkout: Path, call: Callable[[], None], says: str
) -> None:
    with pytest.raises(Exit) as caught:
        call()
    assert caught.value.code == 2
    assert str(caught.value.message).startswith(f"error: {says}: expected ")
    assert "\n" not in str(caught.value.message)


@pytest.mark.parametrize(
    ("text", "low", "high", "integer", "expected"),
    [
        ("1.5", 0, 10, False, 1.5),
        (" 7 ", 0, 10, True, 7),
        (".5", 0, 1, False, 0.5),
        ("10", 0, 10, True, 10),
        ("11", 0, 10, True, None),
        ("1e3", 0, 1e9, False, None),
        ("+1", 0, 10, False, None),
        ("\uff11", 0, 10, True, None),  # a full-width digit one
    ],
)
def test_the_one_numeric_parser(
    text: str, low: float, high: float, integer: bool, expected: float | None
) -> None:
    assert settings.number(text, low, high, integer=integer) == expected


@given(st.text(max_size=12))
def test_the_numeric_parser_never_raises_and_stays_in_bounds(text: str) -> None:
    value = settings.number(text, 0, 100)
    assert value is None or 0 <= value <= 100
    assert value is None or re.fullmatch(r"[0-9.]+", text.strip())


def _task_names() -> list[str]:
    import tasks

    return sorted(tasks.ns.task_names)


@pytest.fixture(scope="module")
def one_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scratch_checkout(tmp_path_factory.mktemp("help") / "checkout")


HELP = [(name, ("--help", "-h")[i % 2]) for i, name in enumerate(_task_names())]


@pytest.mark.parametrize(("name", "flag"), HELP, ids=[f"{n} {f}" for n, f in HELP])
def test_every_task_answers_help_as_users_type_it(one_checkout: Path, name: str, flag: str) -> None:
    """`invoke TASK --help` (or -h) prints the task's help and runs nothing, positionals or not."""
    import tasks

    before = sorted(p.relative_to(one_checkout) for p in one_checkout.rglob("*"))
    said = cli({"MIRANTE_ROOT": str(one_checkout)}, name, flag)
    assert said.returncode == 0, said.stderr
    assert said.stdout.startswith(f"Usage: inv[oke] [--core-opts] {name} "), said.stdout
    first_line = (tasks.ns[name].__doc__ or "").strip().splitlines()[0]
    assert first_line in said.stdout
    assert said.stderr == ""
    assert sorted(p.relative_to(one_checkout) for p in one_checkout.rglob("*")) == before


def test_a_task_with_positionals_still_takes_them() -> None:
    said = cli({}, "features.toggle", "llm_beta_provider")
    assert said.returncode == 1
    assert "did not receive required positional arguments: 'state'" in said.stderr


def test_a_flag_standing_for_a_setting_goes_through_the_loader(
    in_checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--keep-last over MIRANTE_BACKUP_KEEP_LAST: the flag wins, each is named when bad."""
    from mirante.errors import BadArgument, SettingsError
    from mirante.tasks._cli import load_settings

    monkeypatch.setenv("MIRANTE_BACKUP_KEEP_LAST", "4")
    flag = {"MIRANTE_BACKUP_KEEP_LAST": ("keep-last", "9")}
    assert load_settings(flag).backup.keep_last == 9
    assert load_settings({"MIRANTE_BACKUP_KEEP_LAST": ("keep-last", "")}).backup.keep_last == 4
    with pytest.raises(BadArgument, match=r"^--keep-last 'x': expected a whole number"):
        load_settings({"MIRANTE_BACKUP_KEEP_LAST": ("keep-last", "x")})
    monkeypatch.setenv("MIRANTE_BACKUP_KEEP_DAYS", "many")
    with pytest.raises(SettingsError, match="MIRANTE_BACKUP_KEEP_DAYS='many'"):
        load_settings(flag)
