"""`invoke validate.service URL`: does a running service honour the observability contract?"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante.tasks._cli import exits_cleanly, table


@task(
    help={
        "url": "the service's base URL, e.g. http://127.0.0.1:8000",
        "llm": "require the LLM metric families (default: when the service exposes any)",
        "no_llm": "do not check the LLM metric families",
    }
)
@exits_cleanly
def service(c: Context, url: str, llm: bool = False, no_llm: bool = False) -> None:
    """Check health, trace ids, traceparent, /metrics families and OTLP export; exit 1 on a fail."""
    from mirante.observe import contract

    checks = contract.validate(url, llm=True if llm else (False if no_llm else None))
    table(
        f"observability contract: {url}",
        ("check", "result", "found", "fix"),
        [(ch.name, "pass" if ch.ok else "FAIL", ch.detail, ch.fix) for ch in checks],
    )
    failed = [ch.name for ch in checks if not ch.ok]
    if failed:
        raise Exit(f"error: {len(failed)} of {len(checks)} checks failed: {', '.join(failed)}", 1)
    print(f"{len(checks)} checks passed.")


namespace = Collection("validate", service)
