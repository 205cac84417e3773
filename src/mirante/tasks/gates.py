"""`invoke gates`: static and runtime quality gates, with evidence under artifacts/gates/."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante.tasks._cli import exits_cleanly, split_names, table


@task(
    default=True,
    help={
        "only": "comma-separated gates to run (default: all); see --list",
        "list_": "list the gates and exit",
        "strict": "count skipped gates as failures",
        "reuse": "check the stack that is running instead of a throwaway copy of it",
    },
)
@exits_cleanly
def run_gates(
    c: Context, only: str = "", list_: bool = False, strict: bool = False, reuse: bool = False
) -> None:
    """Run the quality gates and write their evidence."""
    from mirante import gates as gates_mod  # not needed by the other tasks: keep them fast

    if list_:
        table(
            "gates",
            ("gate", "kind", "checks"),
            [(g.name, g.kind, g.description) for g in gates_mod.GATES],
        )
        return
    settings = settings_mod.load()
    report = gates_mod.run_gates(settings, split_names([only]), strict=strict, reuse=reuse)
    manifest = gates_mod.write_manifest(settings, report)
    table(
        "quality gates",
        ("gate", "kind", "status", "seconds", "reason"),
        [(r.name, r.kind, r.status.upper(), f"{r.duration:.1f}", r.reason) for r in report.results],
    )
    for result in report.results:
        if result.status != gates_mod.PASS:
            for line in result.evidence[:20]:
                print(f"  {result.name}: {line}")
    print(f"evidence: {manifest.relative_to(settings.root)}")
    counts = {
        s: sum(r.status == s for r in report.results)
        for s in (gates_mod.PASS, gates_mod.FAIL, gates_mod.SKIPPED)
    }
    summary = f"{counts['pass']} passed, {counts['fail']} failed, {counts['skipped']} skipped"
    if report.failed:
        raise Exit(
            f"gates: {summary}" + (" (--strict: skips count as failures)" if strict else ""), code=1
        )
    print(f"gates: {summary}")


namespace = Collection("gates", run_gates)
