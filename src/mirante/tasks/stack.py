"""`invoke stack.*`: bring the observability stack up, inspect it, take it down."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante import stack
from mirante.tasks._cli import (
    confirm,
    exits_cleanly,
    flag_number,
    load_settings,
    show_notes,
    split_names,
    table,
    tell,
)

STATE_COLUMNS = ("service", "state", "url", "seconds to healthy", "image", "reason")


def state_rows(rows: Sequence[stack.ServiceState]) -> list[tuple[str, str, str, str, str, str]]:
    """Table cells for service states: seconds with one decimal, '-' where none applies."""
    return [
        (
            r.service,
            r.state,
            r.url,
            "-" if r.seconds is None else f"{r.seconds:.1f}",
            r.image,
            r.reason,
        )
        for r in rows
    ]


@task(
    help={
        "services": "comma-separated services to start (default: all); repeatable",
        "timeout": "seconds to wait for health (default: MIRANTE_STACK_TIMEOUT)",
        "strict": "fail when a service is unavailable instead of skipping it",
    },
    iterable=["services"],
)
@exits_cleanly
def up(
    c: Context, services: list[str] | None = None, timeout: str = "", strict: bool = False
) -> None:
    """Start the stack and wait until every service is healthy."""
    # The table's imports load while compose waits for health, not after it.
    threading.Thread(target=importlib.import_module, args=("rich.table",), daemon=True).start()
    from mirante.backup import journal  # what an interrupted backup or restore left

    config = load_settings({"MIRANTE_STACK_TIMEOUT": ("timeout", timeout)})
    show_up(
        config,
        stack.up(
            config, split_names(services or []), strict=strict, waiting=tell, repair=journal.repair
        ),
    )


def show_up(config: settings_mod.Settings, report: stack.UpReport) -> None:
    """What ``stack.up`` prints: generated secrets, builds, the state table, what is missing."""
    for name in report.generated_secrets:
        print(f"generated {name} into .env (mode 0600); it stays there for the next runs")
    for build in report.built:
        print(f"built {build.image} in {build.seconds:.1f} s")
    show_notes(config, report.notes)
    table(f"mirante stack (images: {report.source})", STATE_COLUMNS, state_rows(report.rows))
    if report.unavailable:
        print(
            f"{len(report.unavailable)} service(s) unavailable and skipped (--strict makes that an "
            "error). To run them without a registry, bring their pinned images in a bundle "
            "(`invoke images.save` where they are, `invoke images.load FILE` here), or set "
            "MIRANTE_IMAGE_SOURCE=registry where one answers."
        )


@task(
    help={
        "volumes": "also delete the stack's volumes (all its data); asks unless --yes",
        "yes": "do not ask for confirmation",
    }
)
@exits_cleanly
def down(c: Context, volumes: bool = False, yes: bool = False) -> None:
    """Stop and remove the stack's containers (and with --volumes its data)."""
    settings = settings_mod.load()
    if volumes:
        confirm(
            f"This deletes every volume of compose project {settings.project_name!r} "
            "(Prometheus, Grafana, Loki, Tempo, Alertmanager and Postgres data).",
            yes,
        )
    report = stack.down(settings, volumes=volumes, waiting=tell)
    for note in report.notes:
        print(f"note: {note}")
    print(
        f"removed {len(report.containers)} container(s), {len(report.networks)} network(s)"
        + (f", {len(report.volumes)} volume(s)" if volumes else "")
    )


@task
@exits_cleanly
def status(c: Context) -> None:
    """Show each service's state and URL."""
    rows = stack.status(settings_mod.load())
    table(
        "mirante stack",
        (*STATE_COLUMNS[:3], STATE_COLUMNS[4]),
        [(*r[:3], r[4]) for r in state_rows(rows)],
    )


@task(
    help={
        "service": "a service, or `all` (invoke has no optional positional arguments)",
        "follow": "keep printing new lines",
        "tail": "only the last N lines (0 = all)",
    },
    positional=["service"],
)
@exits_cleanly
def logs(c: Context, service: str, follow: bool = False, tail: str = "") -> None:
    """Print the logs of the stack or of one service."""
    lines = int(flag_number("tail", tail, 0, 1e9, "a number of lines, 0 or more", integer=True))
    for line in stack.logs(settings_mod.load(), "" if service == "all" else service, lines, follow):
        print(line)


@task(
    help={
        "service": "a service, or `all` (every service that has a container)",
        "timeout": "seconds to wait for health (default: MIRANTE_STACK_TIMEOUT)",
    },
    positional=["service"],
)
@exits_cleanly
def restart(c: Context, service: str, timeout: str = "") -> None:
    """Restart services and wait until they are healthy again."""
    done = stack.restart(
        load_settings({"MIRANTE_STACK_TIMEOUT": ("timeout", timeout)}),
        [] if service == "all" else [service],
        waiting=tell,
    )
    for note in done.notes:
        print(f"note: {note}")
    table("restarted", STATE_COLUMNS[:4], [r[:4] for r in state_rows(done.rows)])


@task
@exits_cleanly
def config(c: Context) -> None:
    """Render and validate the compose configuration with the current settings."""
    print(stack.config(settings_mod.load()), end="")


@task
@exits_cleanly
def urls(c: Context) -> None:
    """List where each service answers."""
    table("mirante URLs", ("service", "url"), stack.urls(settings_mod.load()))


namespace = Collection("stack", up, down, status, logs, restart, config, urls)
