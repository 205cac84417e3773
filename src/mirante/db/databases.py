"""Databases of the environments: ``pg_dump`` backups (optionally uploaded to S3) and health.

Environments are ``local`` (the stack's own Postgres) and ``dev`` / ``staging`` / ``prod``,
whose URLs come from ``DEV_DATABASE_URL`` / ``STAGE_DATABASE_URL`` / ``PROD_DATABASE_URL``.
The Postgres client tools run from the stack's Postgres image on the host network, so
nothing needs installing; the password reaches them through a private env file, never
through a command line.
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mirante import backup
from mirante.db.postgres import client_image, pg_tool
from mirante.errors import DatabaseError, MiranteError, ToolError, UnknownEnvironment
from mirante.files import finalise, sha256_of
from mirante.services import reachable_host
from mirante.settings import VARIABLES, Settings
from mirante.tools.docker import client, run_container

if TYPE_CHECKING:
    from python_on_whales import DockerClient

ENVIRONMENTS = ("local", "dev", "staging", "prod")


@dataclass
class Dump:
    """One database dump that was written, and where."""

    env: str
    path: Path
    size: int
    sha256: str
    seconds: float
    uploaded_to: str = ""


@dataclass
class Health:
    """Whether one database answers, with its server version and size."""

    env: str
    ok: bool
    detail: str
    server_version: str = ""
    database_size: int = 0
    connections: int = 0
    seconds: float = 0.0


def url_variable(env: str) -> str:
    """The settings variable holding the database URL of an environment."""
    return next(v.name for v in VARIABLES if v.path == ("database_urls", env))


def database_url(settings: Settings, env: str) -> str:
    """The URL of ``env``'s database.

    Raises:
        UnknownEnvironment: for a name not in ENVIRONMENTS.
        MiranteError: when that environment's URL is not set.
    """
    if env not in ENVIRONMENTS:
        raise UnknownEnvironment(env, list(ENVIRONMENTS))
    if env == "local":
        # Quoted: a password may hold any of : @ / ? # % (unquoted, they end the password,
        # or %xx is decoded into another one).
        user, password = (
            quote(settings.postgres_user, safe=""),
            quote(settings.postgres_password, safe=""),
        )
        host = reachable_host(settings)
        return f"postgresql://{user}:{password}@{host}:{settings.ports['postgres']}/{settings.postgres_db}"
    url = settings.database_urls.get(env, "")
    if not url:
        raise MiranteError(
            f"{url_variable(env)} is not set; put the {env} database URL "
            "(postgresql://user:password@host:5432/dbname) in .env or the environment"
        )
    return url


def dump_directory(settings: Settings, env: str) -> Path:
    """Where ``db.backup`` puts the dumps of ``env``: ``<backup dir>/db/<env>/``."""
    return settings.backup_dir / "db" / env


def dumps(settings: Settings, env: str) -> list[Path]:
    """The complete dumps of ``env`` in its dump directory, oldest first (UTC-named)."""
    return sorted(dump_directory(settings, env).glob(f"backup_{env}_*.dump"))


def dump(settings: Settings, env: str, directory: Path | None = None) -> Dump:
    """``pg_dump -Fc`` of ``env``'s database; uploaded to S3 when a bucket is configured.

    Written into ``directory`` (default ``<backup dir>/db/<env>/``).

    The dump is written as ``*.partial``, checked with ``pg_restore --list``, made 0600 and
    renamed; a ``.sha256`` file sits next to it.

    Raises:
        UnknownEnvironment, DatabaseError, MiranteError.
    """
    url = database_url(settings, env)
    if settings.backup.s3_bucket:
        _boto3()  # before dumping: a missing client is known up front
    docker = client(settings)  # one-off containers: the compose project's files are not needed
    directory = directory or dump_directory(settings, env)
    with backup.locked(settings):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"backup_{env}_{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.dump"
        partial = directory / f"{name}.partial"
        began = time.monotonic()
        try:
            try:
                pg_tool(
                    settings,
                    docker,
                    url,
                    ["pg_dump", "-Fc", "-f", f"/out/{partial.name}"],
                    directory,
                )
            except ToolError as exc:
                raise DatabaseError(env, "pg_dump", str(exc)) from None
            if not partial.is_file() or partial.stat().st_size == 0:
                raise DatabaseError(env, "pg_dump", "the dump is empty")
            try:
                listing = _pg_restore_list(settings, docker, directory, partial.name)
            except ToolError as exc:
                raise DatabaseError(env, "pg_restore --list", str(exc)) from None
            if not listing.strip():
                raise DatabaseError(env, "pg_restore --list", "the dump lists nothing")
            final = finalise(partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        digest = sha256_of(final)
        (directory / f"{name}.sha256").write_text(f"{digest}  {name}\n")
        made = Dump(env, final, final.stat().st_size, digest, round(time.monotonic() - began, 2))
    if settings.backup.s3_bucket:
        made.uploaded_to = upload(settings, made)
    return made


def _pg_restore_list(settings: Settings, docker: DockerClient, directory: Path, name: str) -> str:
    return run_container(
        docker,
        client_image(settings, docker),
        ["--list", f"/out/{name}"],
        entrypoint="pg_restore",
        user=f"{os.getuid()}:{os.getgid()}",
        volumes=[(str(directory), "/out", "ro")],
    )


def _boto3() -> Any:
    """boto3, an optional dependency (``mirante[s3]``), imported only when S3 is configured."""
    try:
        return importlib.import_module("boto3")
    except ImportError:
        raise MiranteError(
            "MIRANTE_S3_BUCKET is set but boto3 is not installed: pip install 'mirante[s3]' "
            "(or unset MIRANTE_S3_BUCKET to keep dumps local)"
        ) from None


def s3_key(settings: Settings, made: Dump) -> str:
    """The S3 object key of a dump."""
    return "/".join(
        p for p in (settings.backup.s3_prefix.strip("/"), made.env, made.path.name) if p
    )


def upload(settings: Settings, made: Dump) -> str:
    """Upload a dump to the configured bucket; returns its ``s3://`` address.

    Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
    ~/.aws, an instance role); MIRANTE_S3_ENDPOINT points it at MinIO or another
    S3-compatible store.
    """
    boto3 = _boto3()
    key = s3_key(settings, made)
    where = f"s3://{settings.backup.s3_bucket}/{key}"
    try:
        client = boto3.client("s3", endpoint_url=settings.backup.s3_endpoint or None)
        client.upload_file(
            str(made.path),
            settings.backup.s3_bucket,
            key,
            ExtraArgs={"Metadata": {"sha256": made.sha256}},
        )
    except Exception as exc:  # boto3 raises botocore's many classes; all end here
        raise DatabaseError(
            made.env, "upload", f"{where}: {exc}; the dump is kept at {made.path}"
        ) from None
    return where


HEALTH_SQL = (
    "select current_setting('server_version'), pg_database_size(current_database()), "
    "(select count(*) from pg_stat_activity where datname = current_database())"
)


def healthcheck(settings: Settings, env: str) -> Health:
    """Connect to ``env``'s database and read its version, size and connections.

    Raises:
        UnknownEnvironment, MiranteError (URL not set).
    """
    url = database_url(settings, env)
    docker = client(settings)  # one-off containers: the compose project's files are not needed
    began = time.monotonic()
    try:
        answer = pg_tool(
            settings,
            docker,
            url,
            ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "|", "-c", HEALTH_SQL],
        )
    except ToolError as exc:
        return Health(env, False, str(exc), seconds=round(time.monotonic() - began, 2))
    seconds = round(time.monotonic() - began, 2)
    try:
        version, size, connections = answer.strip().splitlines()[-1].split("|")
        return Health(env, True, "connected", version, int(size), int(connections), seconds)
    except ValueError:
        return Health(env, False, f"unexpected answer: {answer.strip()[:200]}", seconds=seconds)
