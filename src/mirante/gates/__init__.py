"""Quality gates: is the observability stack sound? Each gate is a small function.

A gate returns a :class:`Verdict` (pass / fail / skipped, reason, evidence, raw tool
outputs); :func:`run_gates` times each gate, turns expected failures into ``fail`` verdicts,
and :func:`write_manifest` leaves the evidence under ``artifacts/gates/<UTC timestamp>/``.
Static gates (:mod:`mirante.gates.static`) read files and run promtool / amtool; runtime
gates (:mod:`mirante.gates.runtime`) check the running stack (started by the gates, or
reused with ``reuse``). A skip is never a pass.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from mirante import stack
from mirante.errors import MiranteError, ToolError, ToolNotFound, UnknownGate
from mirante.files import atomic_write
from mirante.gates import runtime, sandbox, static
from mirante.gates.base import (
    FAIL,
    PASS,
    SKIPPED,
    Gate,
    GateContext,
    GateResult,
    Verdict,
    tools_for,
)
from mirante.gates.runtime import (
    gate_metrics_exist,
    load_allowlist,
    missing_metrics,
    referenced_metrics,
)
from mirante.gates.static import (
    committed_secrets,
    compose_policy,
    gate_dashboards,
    gate_environment,
    gate_pins_resolve,
    gate_prometheus,
    tracked_files,
)
from mirante.runner import run as run_tool
from mirante.settings import Settings, read_env_file
from mirante.tools import promtools

__all__ = [
    "FAIL",
    "GATES",
    "PASS",
    "SKIPPED",
    "Gate",
    "GateContext",
    "GateResult",
    "Report",
    "UnknownGate",
    "Verdict",
    "committed_secrets",
    "compose_policy",
    "gate_dashboards",
    "gate_environment",
    "gate_metrics_exist",
    "gate_pins_resolve",
    "gate_prometheus",
    "load_allowlist",
    "missing_metrics",
    "referenced_metrics",
    "run",
    "select",
    "tracked_files",
    "write_manifest",
]

GATES: tuple[Gate, ...] = static.GATES + runtime.GATES
BY_NAME = {g.name: g for g in GATES}


def select(only: Sequence[str]) -> list[Gate]:
    """The gates named in ``only`` (all when empty), in registry order."""
    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise UnknownGate(
            f"unknown gate {', '.join(map(repr, unknown))}; known gates: {', '.join(BY_NAME)}"
        )
    return [g for g in GATES if not names or g.name in names]


@dataclass
class Report:
    """The results of one gates run."""

    started: str
    results: list[GateResult]
    strict: bool

    @property
    def failed(self) -> list[GateResult]:
        """The gates that failed (and, with ``strict``, those skipped)."""
        return [
            r for r in self.results if r.status == FAIL or (self.strict and r.status == SKIPPED)
        ]


def run_gates(
    settings: Settings, only: Sequence[str] = (), strict: bool = False, reuse: bool = False
) -> Report:
    """Run the selected gates (all by default), static ones first.

    Runtime gates check a throwaway copy of the stack (:mod:`mirante.gates.sandbox`: its own
    project and loopback ports, removed afterwards), so that a stack the user has up is
    never touched; with ``reuse``, they check the stack that is already running instead.
    """
    chosen = select(only)
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    static_ctx = GateContext(settings)
    results = [_result(g, static_ctx) for g in chosen if g.kind != "runtime"]
    runtime = [g for g in chosen if g.kind == "runtime"]
    if runtime:
        with _stack_for_gates(settings, reuse) as ctx:
            results += [_result(g, ctx) for g in runtime]
    return Report(started, results, strict)


def _result(gate: Gate, ctx: GateContext) -> GateResult:
    """Run one gate, timed; an expected failure becomes a ``fail`` verdict."""
    # The stack gate reports on the start-up done before the runtime gates: count its time.
    began = time.monotonic() - (ctx.bring_up_seconds if gate.name == "stack" else 0.0)
    try:
        verdict = gate.check(ctx)
    except ToolNotFound as exc:
        verdict = Verdict(SKIPPED, str(exc))
    except MiranteError as exc:
        verdict = Verdict(FAIL, str(exc).splitlines()[0])
    except OSError as exc:  # requests' connection errors and file problems
        verdict = Verdict(FAIL, f"{type(exc).__name__}: {exc}")
    return GateResult(
        gate.name,
        gate.kind,
        verdict.status,
        verdict.reason,
        round(time.monotonic() - began, 2),
        verdict.evidence,
        verdict.outputs,
    )


@contextmanager
def _stack_for_gates(settings: Settings, reuse: bool) -> Iterator[GateContext]:
    """The context of the runtime gates: a throwaway copy, or (``reuse``) the running stack.

    A stack that cannot come up becomes ``stack_error``, for the gates to report.
    """
    began = time.monotonic()
    if reuse:
        ctx = GateContext(settings, reuse=True)
        try:
            running = [r for r in stack.status(settings) if r.state in stack.UP_STATES]
        except MiranteError as exc:
            running, ctx.stack_error = [], str(exc).splitlines()[0]
        if running:
            rows = [stack.ServiceState(r.service, "healthy", r.url) for r in running]
            ctx.stack_report = stack.UpReport(rows, "reused")
        elif not ctx.stack_error:
            ctx.stack_error = (
                "--reuse, but no service of the stack is running; "
                "drop --reuse or run `invoke stack.up`"
            )
        ctx.bring_up_seconds = time.monotonic() - began
        yield ctx
        return
    with ExitStack() as cleanup:
        try:
            copy = cleanup.enter_context(sandbox.throwaway(settings))
        except MiranteError as exc:
            ctx = GateContext(settings)
            ctx.stack_error = str(exc).splitlines()[0]
        else:
            ctx = GateContext(copy.settings)
            ctx.stack_report = copy.report
        ctx.bring_up_seconds = time.monotonic() - began
        yield ctx


def write_manifest(
    settings: Settings, report: Report, tools: promtools.Tools | None = None
) -> Path:
    """artifacts/gates/<started>/manifest.json plus one raw-output file per gate."""
    directory = settings.root / "artifacts" / "gates" / report.started
    directory.mkdir(parents=True, exist_ok=True)
    for result in report.results:
        if result.outputs:
            text = "\n\n".join(f"### {label}\n{output}" for label, output in result.outputs.items())
            atomic_write(directory / f"{result.name}.txt", text + "\n")
    tools = tools or tools_for(settings)
    versions = {}
    for tool in ("promtool", "amtool"):
        try:
            versions[tool] = {"where": tools.where(tool), "version": tools.version(tool)}
        except MiranteError as exc:
            versions[tool] = {"where": "missing", "version": str(exc)}
    env = read_env_file(stack.env_file(settings)) if stack.env_file(settings).is_file() else {}
    manifest = {
        "started": report.started,
        "git_revision": _git_revision(settings.root),
        "strict": report.strict,
        "passed": not report.failed,
        "tools": versions,
        "images": {k: v for k, v in sorted(env.items()) if k.endswith("_IMAGE")},
        "gates": [{k: v for k, v in asdict(r).items() if k != "outputs"} for r in report.results],
    }
    path = directory / "manifest.json"
    atomic_write(path, json.dumps(manifest, indent=2) + "\n")
    return path


def _git_revision(root: Path) -> str:
    try:
        return run_tool(["git", "-C", str(root), "rev-parse", "HEAD"]).stdout.strip()
    except ToolError:
        return "unknown"
