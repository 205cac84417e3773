"""A throwaway copy of the stack, for checks that must never touch the user's own.

The copy is a compose project of its own (``<project>-check-<pid>``), run from a linked
checkout in a temporary directory (its own ``.env`` and ``.mirante/``), with every port
published on an ephemeral loopback port. testcontainers starts it with its compose
support and waits with its wait strategies; the copy is removed with its volumes when the
``with`` block ends, however it ends (an error, Ctrl-C). A copy left behind by a run that
was killed outright is removed by the next one.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mirante import stack
from mirante.errors import ToolError
from mirante.files import alive, linked_checkout
from mirante.runner import run
from mirante.services import ONESHOTS, published_ports
from mirante.settings import Settings
from mirante.tools.docker import (
    compose_environment,
    remove_compose,
    start_compose,
    throwaway_compose,
)

if TYPE_CHECKING:
    from testcontainers.compose import DockerCompose

SUFFIX = "-check-"
# A published port in the compose file: "${MIRANTE_BIND:?}:${MIRANTE_<KEY>_PORT:?}:<port>".
_PUBLISHED = re.compile(r"MIRANTE_(?P<key>[A-Z_]+)_PORT:\?\}:(?P<port>\d+)")


@dataclass(frozen=True)
class Sandbox:
    """A throwaway copy that is up: its settings and its ``stack.up`` report."""

    settings: Settings  # the copy's: its root, project name and the ports it was given
    report: stack.UpReport


def container_ports(compose_file: Path) -> dict[str, int]:
    """Each ``Settings.ports`` key and the container port it publishes, from the compose file."""
    return {
        m["key"].lower().replace("_", "-"): int(m["port"])
        for m in _PUBLISHED.finditer(compose_file.read_text())
    }


@contextmanager
def throwaway(settings: Settings, timeout: float = 0) -> Iterator[Sandbox]:
    """Bring a copy of the stack up healthy, yield it, then remove it with its volumes.

    Args:
        settings: the user's settings; the copy keeps them but for root, name and ports.
        timeout: seconds for every service to turn healthy (``settings.stack_timeout``).

    Raises:
        ServiceUnhealthy, ImageUnavailable, DockerUnavailable, ToolError: as ``stack.up``.
    """
    timeout = timeout or settings.stack_timeout
    name = f"{settings.project_name}{SUFFIX}{os.getpid()}"
    remove_leftovers(settings)
    with tempfile.TemporaryDirectory(prefix="mirante-check-") as scratch:
        root = linked_checkout(settings.root, Path(scratch) / "checkout")
        copy = replace(
            settings,
            root=root,
            project_name=name,
            bind="127.0.0.1",
            ports=dict.fromkeys(settings.ports, 0),
        )
        ready = stack.prepare(copy)
        copy = ready.settings
        compose = throwaway_compose(root, copy.compose_file, stack.env_file(copy), ready.names)
        since = datetime.now(UTC)
        with compose_environment(stack.env_file(copy)):
            try:
                try:
                    start_compose(compose, time.monotonic() + timeout, ONESHOTS)
                except ToolError as exc:
                    raise stack.failure(
                        ready.docker, copy, ready.names, exc, since, timeout
                    ) from None
                done = round((datetime.now(UTC) - since).total_seconds(), 1)
                healthy = stack.healthy_since(ready.docker, copy, since)
                copy = replace(copy, ports={**copy.ports, **_published(compose, ready)})
                ready = replace(ready, project=replace(ready.project, settings=copy))
                yield Sandbox(copy, stack.report(ready, healthy, done))
            finally:
                remove_compose(compose)


def _published(compose: DockerCompose, ready: stack.Prepared) -> dict[str, int]:
    """The host port each started service was given, by ``Settings.ports`` key."""
    inside = container_ports(ready.settings.compose_file)
    ports = {}
    for service in ready.startable:
        for key in published_ports(service):
            port = compose.get_service_port(service.name, inside[key])
            if port:
                ports[key] = port
    return ports


def remove_leftovers(settings: Settings) -> list[str]:
    """Remove the copies of runs that were killed before they could (their process is gone)."""
    prefix = f"{settings.project_name}{SUFFIX}"
    listed = run(
        ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
        check=False,
    )
    removed = []
    for project in sorted(set(listed.stdout.split())):
        pid = project.removeprefix(prefix)
        if project.startswith(prefix) and pid.isdigit() and not alive(int(pid)):
            run(["docker", "compose", "-p", project, "down", "--volumes", "-t", "0"], check=False)
            removed.append(project)
    return removed
