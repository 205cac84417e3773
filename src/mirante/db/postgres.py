"""Postgres client tools: inside the stack's own container, or against any database URL.

:class:`StackPostgres` runs psql / pg_dump / pg_restore inside the stack's Postgres
container (backups and restores of the local stack); :func:`pg_tool` runs one of them in a
one-off container of the stack's Postgres image against a URL (``db.*`` and ``seed`` for
every environment), the password in a 0600 env file, never on a command line.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from mirante import images, stack
from mirante.errors import MiranteError
from mirante.settings import Settings
from mirante.tools.docker import docker_errors, run_container

if TYPE_CHECKING:
    from python_on_whales import Container, DockerClient


class StackPostgres:
    """Postgres client tools inside the stack's Postgres container (backup and restore)."""

    def __init__(self, settings: Settings, docker: DockerClient, container: Container) -> None:
        self.settings = settings
        self.docker = docker
        self.container = container

    def execute(self, *argv: str) -> str:
        """Run a client tool in the Postgres container; its output."""
        with docker_errors():
            return str(self.docker.container.execute(self.container, list(argv), user="postgres"))

    def sql(self, statement: str, database: str = "template1") -> str:
        """Run one SQL statement with psql; its output."""
        return self.execute(
            "psql",
            "-U",
            self.settings.postgres_user,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            statement,
        ).strip()

    def copy_in(self, path: Path, name: str) -> str:
        """Copy a host file into the container; the path it has there."""
        inside = f"/tmp/{name}"  # noqa: S108 (inside the postgres container)
        with docker_errors():
            self.docker.copy(path, (self.container, inside))
            self.docker.container.execute(
                self.container, ["chown", "postgres", inside], user="root"
            )
        return inside

    def copy_out(self, inside: str, path: Path) -> None:
        """Copy a file out of the container to ``path`` (the caller removes it there)."""
        with docker_errors():
            self.docker.copy((self.container, inside), path)

    def remove(self, inside: str) -> None:
        """Remove a file from the container."""
        with suppress(MiranteError), docker_errors():
            self.docker.container.execute(self.container, ["rm", "-f", inside], user="root")


def quote_identifier(identifier: str) -> str:
    """An SQL identifier, double-quoted (a database or role name)."""
    return '"' + identifier.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """An SQL string literal, single-quoted."""
    return "'" + text.replace("'", "''") + "'"


def split_password(url: str) -> tuple[str, str]:
    """The URL without its password, and the password (``""`` when it has none)."""
    parts = urlsplit(url)
    password = unquote(parts.password or "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (
        (unquote(parts.username or "") + "@" if parts.username else "")
        + host
        + (f":{parts.port}" if parts.port else "")
    )
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), password


@contextmanager
def _password_file(password: str) -> Iterator[Path]:
    """A 0600 env file carrying PGPASSWORD, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="mirante-db-") as scratch:
        path = Path(scratch) / "pg.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"PGPASSWORD={password}\n" if password else "")
        yield path


def client_image(settings: Settings, docker: DockerClient) -> str:
    """The running stack's Postgres image (its tools match its server), else the local build."""
    running = stack.container_states(docker, settings).get("postgres")
    if running is not None and running.config.image:
        return str(running.config.image)
    return images.ensure_tool_image(settings, docker, "postgres")


def pg_tool(
    settings: Settings,
    docker: DockerClient,
    url: str,
    argv: list[str],
    out: Path | None = None,
) -> str:
    """Run a Postgres client tool against ``url``; ``out`` is mounted at /out."""
    bare, password = split_password(url)
    image = client_image(settings, docker)
    with _password_file(password) as env_file:
        return run_container(
            docker,
            image,
            [*argv[1:], "-d", bare],
            entrypoint=argv[0],  # the tool itself, not the image's server entrypoint
            networks=["host"],
            env_files=[env_file],
            user=f"{os.getuid()}:{os.getgid()}",
            volumes=[(str(out), "/out", "rw")] if out else [],
        )
