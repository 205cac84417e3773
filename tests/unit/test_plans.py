"""The plan engine: guarded, in order, asking where a step asks, and failing as planned.

Its commands are real programs (this interpreter), run through the one runner.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from mirante import errors
from mirante.environments import Environment
from mirante.plans import Guard, Plan, Step
from mirante.runner import Command

PY = sys.executable


def say(text: str) -> Command:
    return Command((PY, "-c", f"print({text!r})"))


def fail(code: int, said: str) -> Command:
    return Command((PY, "-c", f"import sys; sys.stderr.write({said!r}); sys.exit({code})"))


@pytest.fixture
def env(checkout: Path) -> Environment:
    from mirante import settings

    return settings.load(checkout, environ={}).environments.get("dev")


def test_a_plan_runs_its_steps_in_order_asks_and_saves(env: Environment, tmp_path: Path) -> None:
    said: list[str] = []
    steps = [
        Step("first", say("one\ntwo")),
        Step("count", action=lambda out: f"{len(out.splitlines())} lines before"),
        Step("snapshot", say("kept"), save_to=Path("snap/out.txt")),
        Step("apply", say("applied"), confirm=True),
    ]
    plan = Plan("task", env, Guard("ok", "checked"), steps)
    assert plan.lines()[1] == "# mirante: count"
    assert plan.lines()[2].endswith(" > snap/out.txt")
    plan.execute(
        tmp_path,
        ask=lambda step: said.append(f"ask {step.title}"),
        before=lambda step: said.append(f"before {step.title}"),
        after=lambda step, output: said.append(f"after {step.title}: {output.strip()}"),
    )
    assert said == [
        "before first", "after first: one\ntwo",
        "before count", "after count: 2 lines before",
        "before snapshot", "after snapshot: saved 1 lines to snap/out.txt",
        "ask apply", "before apply", "after apply: applied",
    ]  # fmt: skip
    saved = tmp_path / "snap" / "out.txt"
    assert saved.read_text() == "kept\n"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


def test_no_step_runs_unless_the_guard_passed(env: Environment, tmp_path: Path) -> None:
    ran: list[str] = []
    step = Step("never", action=lambda out: ran.append("ran") or "")
    for status in ("unchecked", "refused"):
        guard = Guard(status, "another context")  # type: ignore[arg-type]
        plan = Plan("k8s.install dev", env, guard, [step])
        with pytest.raises(errors.GuardRefused, match=r"k8s\.install dev: another context"):
            plan.execute(tmp_path)
    assert ran == []


def test_a_failure_is_read_by_the_plan_then_by_its_step_then_raised(
    env: Environment, tmp_path: Path
) -> None:
    seen: list[tuple[str, int]] = []

    def explain(error: errors.ToolError, done: int) -> errors.MiranteError | None:
        seen.append((error.stderr, done))
        return errors.ClusterUnreachable("no API") if "dial tcp" in error.stderr else None

    def why(error: errors.ToolError) -> errors.MiranteError:
        return errors.KubeWaitFailed(f"the rollout waited on: {error.stderr}")

    first = Step("ok", say("fine"))
    plans = [
        (Step("api", fail(1, "dial tcp: i/o timeout")), errors.ClusterUnreachable, "no API"),
        (Step("rollout", fail(1, "pods pending"), on_failure=why), errors.KubeWaitFailed,
         "the rollout waited on: pods pending"),
        (Step("other", fail(3, "boom")), errors.ToolError, "exited 3: boom"),
    ]  # fmt: skip
    for step, kind, message in plans:
        plan = Plan("t", env, Guard("ok", ""), [first, step], explain=explain)
        with pytest.raises(kind, match=message):
            plan.execute(tmp_path)
    assert [done for _, done in seen] == [1, 1, 1]  # one step had run before each failure


def test_a_missing_program_is_never_read_as_the_steps_failure(
    env: Environment, tmp_path: Path
) -> None:
    step = Step("x", Command(("mirante-no-such-tool",)), on_failure=lambda e: errors.Failed("no"))

    def runs(command: Command, root: Path) -> str:
        from mirante.runner import run

        return run(command, cwd=root, hint="install it").stdout

    plan = Plan("t", env, Guard("ok", ""), [step], runs=runs)
    with pytest.raises(errors.ToolNotFound, match="`mirante-no-such-tool` is not on PATH: install"):
        plan.execute(tmp_path)
