"""The one plan engine: guarded steps, printed by ``--dry-run`` and run as printed.

Every remote task (k8s, staging, deploy, provision, the clusters' flags) and every infra
task builds a :class:`Plan` first: the guard's verdict (:class:`Guard`) and the list of
steps, each an exact :class:`~mirante.runner.Command` or a named step of mirante's own (an
``action``). ``--dry-run`` prints :meth:`Plan.lines`; a real run executes the very same
steps with :meth:`Plan.execute`. How a plan's commands run (kubectl and helm, or Terraform) is
the plan's ``runs``, chosen by whoever built it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mirante.environments import Environment
from mirante.errors import GuardRefused, MiranteError, ToolError, ToolNotFound
from mirante.files import atomic_write
from mirante.runner import Command, run


@dataclass(frozen=True)
class Guard:
    """The guard's verdict: ``ok``; ``unchecked`` (nothing to check against); or refused."""

    status: Literal["ok", "unchecked", "refused"]
    detail: str


@dataclass(frozen=True)
class Step:
    """One step of a plan: an exact command, or a step of mirante's own (``action``).

    ``action`` receives the output of the step before it and returns a line for the
    report. ``save_to`` keeps a command's output in a file (snapshots); ``on_failure``
    turns the command's failure into one that says why (what a rollout waited on);
    ``confirm`` asks before the step, once the plan's output so far has been shown.
    """

    title: str
    command: Command | None = None
    action: Callable[[str], str] | None = None
    save_to: Path | None = None
    on_failure: Callable[[ToolError], MiranteError] | None = None
    confirm: bool = False

    def shown(self) -> str:
        """The step as one line, as dry-run prints it."""
        if self.command is None:
            return f"# mirante: {self.title}"
        saved = f" > {self.save_to}" if self.save_to else ""
        return self.command.shown() + saved


def stdout_of(command: Command, root: Path) -> str:
    """Run ``command`` from ``root``; what it printed (the default ``runs`` of a plan)."""
    return run(command, cwd=root).stdout


def unexplained(error: ToolError, done: int) -> MiranteError | None:
    """No plan-wide reading of a failure (the default ``explain`` of a plan)."""
    return None


@dataclass
class Plan:
    """The guarded steps of one task, shown by dry-run and run as shown.

    Attributes:
        ask: the environment's protection wants the whole plan confirmed first.
        done: what to say when every step ran (default: ``TASK: done``).
        runs: runs one command from the checkout, returning its output.
        explain: a failure every step can meet (an API that does not answer), given the
            number of steps that had run; ``None`` leaves it to the step.
    """

    task: str
    env: Environment
    guard: Guard
    steps: list[Step]
    notes: list[str] = field(default_factory=list)
    ask: bool = False
    done: str = ""
    runs: Callable[[Command, Path], str] = stdout_of
    explain: Callable[[ToolError, int], MiranteError | None] = unexplained

    def lines(self) -> list[str]:
        """Every step as one line."""
        return [step.shown() for step in self.steps]

    def execute(
        self,
        root: Path,
        ask: Callable[[Step], None] = lambda step: None,
        before: Callable[[Step], None] = lambda step: None,
        after: Callable[[Step, str], None] = lambda step, output: None,
    ) -> None:
        """Execute the steps in order; ``ask`` before a confirmed one; the first failure stops.

        Raises:
            GuardRefused: the guard did not pass (checked again here, before any step).
            ToolError: a command failed (or what ``explain`` or the step made of it).
            MiranteError: what ``ask`` or an action raised.
        """
        if self.guard.status != "ok":
            raise GuardRefused(f"{self.task}: {self.guard.detail}")
        output = ""
        for done, step in enumerate(self.steps):
            if step.confirm:
                ask(step)
            before(step)
            if step.command is not None:
                try:
                    output = self.runs(step.command, root)
                except ToolNotFound:
                    raise
                except ToolError as exc:
                    explained = self.explain(exc, done)
                    if explained is not None:
                        raise explained from None
                    if step.on_failure is None:
                        raise
                    raise step.on_failure(exc) from None
            elif step.action is not None:
                output = step.action(output)
            if step.save_to is not None:
                target = root / step.save_to
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(target, output, mode=0o600)
                output = f"saved {len(output.splitlines())} lines to {step.save_to}"
            after(step, output)
