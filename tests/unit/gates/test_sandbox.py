"""The throwaway copy of the stack.

What it publishes, whose copies it removes, and the testcontainers settings it applies
only where the user has none.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mirante import files
from mirante.gates import sandbox
from mirante.services import SERVICES, published_ports
from mirante.tools import docker


def test_every_published_port_of_the_compose_file_is_known(repo: Path) -> None:
    inside = sandbox.container_ports(repo / "compose" / "docker-compose.yml")
    keys = {key for service in SERVICES for key in published_ports(service)}
    assert set(inside) == keys
    assert inside["prometheus"] == 9090
    assert inside["tempo-otlp"] == 4318
    assert inside["otlp-grpc"] == 4317


def test_a_process_that_ended_is_not_alive_and_this_one_is() -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()
    assert files.alive(os.getpid())
    assert not files.alive(ended.pid)


def test_testcontainers_defaults_never_override_the_users_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "false")
    monkeypatch.delenv("TESTCONTAINERS_HOST_OVERRIDE", raising=False)
    docker._testcontainers_settings()
    assert os.environ["TESTCONTAINERS_RYUK_DISABLED"] == "false"
    assert os.environ["TESTCONTAINERS_HOST_OVERRIDE"] == "127.0.0.1"


def test_the_copy_is_removed_whole_not_only_the_services_it_started() -> None:
    class Compose:
        def __init__(self) -> None:
            self.services: list[str] | None = ["prometheus", "tempo"]
            self.downed_with: object = "not yet"

        def stop(self, down: bool = True) -> None:
            self.downed_with = (down, self.services)

    compose = Compose()
    docker.remove_compose(compose)  # type: ignore[arg-type]
    assert compose.downed_with == (True, None)  # testcontainers adds the services when set
