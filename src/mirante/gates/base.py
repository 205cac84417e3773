"""What every gate shares: its verdict, its result, the context it checks, its record.

A gate is a function from a :class:`GateContext` to a :class:`Verdict`; the registry and
the runner are in :mod:`mirante.gates`, the gates themselves in ``static`` and ``runtime``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirante import images, services, stack
from mirante.settings import Settings
from mirante.tools import promtools

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
# Values for the dashboards' template variables when their queries are checked.
SAMPLE_VARIABLES = {"$job": "app", "$provider": ".*", "$service": "app"}


@dataclass
class Verdict:
    """A gate's outcome: status, reason, evidence and raw tool outputs."""

    status: str
    reason: str = ""
    evidence: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class GateResult:
    """A gate's verdict with its name, kind and duration, as the report lists it."""

    name: str
    kind: str
    status: str
    reason: str
    duration: float
    evidence: list[str]
    outputs: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class GateContext:
    """What gates share: settings, tools, and (runtime gates) the running stack.

    Not invoke's ``Context``: the task layer hands the gates only settings.
    """

    settings: Settings
    reuse: bool = False
    tools: promtools.Tools = field(init=False)
    stack_report: stack.UpReport | None = None
    stack_error: str = ""
    bring_up_seconds: float = 0.0
    rendered: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.tools = tools_for(self.settings)

    @property
    def root(self) -> Path:
        """The checkout the gates read."""
        return self.settings.root

    def running(self) -> set[str]:
        """The services of the checked stack that are healthy."""
        if self.stack_report is None:
            return set()
        return {r.service for r in self.stack_report.rows if r.state == "healthy"}

    def url(self, port: str, path: str) -> str:
        """``path`` on the published port ``port`` (a key of ``Settings.ports``)."""
        return f"http://{services.reachable_host(self.settings)}:{self.settings.ports[port]}{path}"


@dataclass(frozen=True)
class Gate:
    """One registered gate: its name, kind, description and check."""

    name: str
    kind: str  # static | runtime
    description: str
    check: Callable[[GateContext], Verdict]


def verdict_of(
    problems: list[str], ok_reason: str, outputs: dict[str, str] | None = None
) -> Verdict:
    """``pass`` with ``ok_reason`` when there are no problems, else ``fail`` naming them."""
    if problems:
        head = problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
        return Verdict(FAIL, head, problems, outputs or {})
    return Verdict(PASS, ok_reason, [], outputs or {})


def tools_for(settings: Settings) -> promtools.Tools:
    """The promtool and amtool to run: the host's, else those of the stack's own images."""
    return promtools.Tools(
        settings.root, fallback=lambda service: images.service_image(settings, service)
    )


def last_lines(text: str, count: int = 3) -> str:
    """The last ``count`` lines of a tool's output, joined on one line with ``|``."""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-count:])
