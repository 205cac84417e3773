"""db.backup and db.healthcheck against the stack's real Postgres."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from mirante import files, stack
from tests.helpers import invoke

# One stack for the session: these tests run in one xdist worker, in order.


def test_db_backup_writes_a_private_readable_dump(
    running_stack: stack.UpReport, stack_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**stack_env, "MIRANTE_BACKUP_DIR": str(tmp_path / "backups")}
    container = f"{stack_env['MIRANTE_PROJECT_NAME']}-postgres-1"
    sql = ["docker", "exec", "-u", "postgres", container, "psql", "-U", "mirante", "-c"]
    subprocess.run([*sql, "create table public.mirante_db_probe as select 1 as id"], check=True)
    try:
        result = invoke(env, "db.backup", "--env", "local")
    finally:
        subprocess.run([*sql, "drop table public.mirante_db_probe"], check=True)
    assert result.returncode == 0, result.stderr
    (dump,) = (tmp_path / "backups" / "db" / "local").glob("backup_local_*.dump")
    assert result.stdout.strip().endswith(f"stored at {dump}")
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    recorded = dump.with_name(dump.name + ".sha256").read_text().split()[0]
    assert recorded == files.sha256_of(dump)
    listing = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--user",
            f"{os.getuid()}:{os.getgid()}",  # the dump is 0600, the user's
            "--entrypoint",
            "pg_restore",
            "-v",
            f"{dump.parent}:/in:ro",
            _postgres_image(stack_env),
            "--list",
            f"/in/{dump.name}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "dbname: mirante" in listing
    assert "TABLE DATA public mirante_db_probe" in listing
    assert not list(dump.parent.glob("*.partial"))


def _postgres_image(stack_env: dict[str, str]) -> str:
    return subprocess.run(
        [
            "docker",
            "inspect",
            "--format",
            "{{.Config.Image}}",
            f"{stack_env['MIRANTE_PROJECT_NAME']}-postgres-1",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_db_healthcheck_answers_and_names_a_bad_password(
    running_stack: stack.UpReport, stack_env: dict[str, str]
) -> None:
    def dangling() -> set[str]:
        listed = subprocess.run(
            ["docker", "volume", "ls", "-q", "-f", "dangling=true"],
            capture_output=True,
            text=True,
            check=True,
        )
        return set(listed.stdout.split())

    before = dangling()
    ok = invoke(stack_env, "db.healthcheck")
    assert ok.returncode == 0, ok.stderr
    assert dangling() <= before  # the one-off client container leaves no anonymous volume
    assert "OK (" in ok.stdout
    assert "server version" in ok.stdout
    port = stack_env["MIRANTE_POSTGRES_PORT"]
    wrong = invoke(
        {
            **stack_env,
            "STAGE_DATABASE_URL": f"postgresql://mirante:not-the-password@127.0.0.1:{port}/mirante",
        },
        "db.healthcheck",
        "--env",
        "staging",
    )
    assert wrong.returncode == 1
    (line,) = wrong.stderr.strip().splitlines()
    assert line.startswith("error: the staging database does not answer: ")
    assert "password authentication failed" in line
    assert "not-the-password" not in wrong.stdout + wrong.stderr


def test_environment_errors_are_one_line(stack_env: dict[str, str]) -> None:
    unknown = invoke(stack_env, "db.backup", "--env", "qa")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "error: unknown environment 'qa'; known environments: local, dev, staging, prod"
    )
    unset = invoke({**stack_env, "PROD_DATABASE_URL": ""}, "db.backup", "--env", "prod")
    assert unset.returncode == 1
    assert unset.stderr.strip().startswith("error: PROD_DATABASE_URL is not set;")


def test_db_backup_uploads_to_s3(
    running_stack: stack.UpReport, stack_env: dict[str, str], tmp_path: Path
) -> None:
    """Against a real S3-compatible server named by MIRANTE_TEST_S3_BUCKET.

    With MIRANTE_TEST_S3_ENDPOINT and AWS_* credentials; none can run on these machines.
    """
    bucket = os.environ.get("MIRANTE_TEST_S3_BUCKET", "")
    if not bucket:
        pytest.skip(
            "no S3-compatible server here (no registry for MinIO's image, no Debian or PyPI "
            "package of one); set MIRANTE_TEST_S3_BUCKET to run it"
        )
    boto3 = pytest.importorskip("boto3")
    endpoint = os.environ.get("MIRANTE_TEST_S3_ENDPOINT", "")
    env = {
        **stack_env,
        "MIRANTE_BACKUP_DIR": str(tmp_path / "backups"),
        "MIRANTE_S3_BUCKET": bucket,
        "MIRANTE_S3_ENDPOINT": endpoint,
        "MIRANTE_S3_PREFIX": f"mirante-test/{tmp_path.name}",
    }
    result = invoke(env, "db.backup")
    assert result.returncode == 0, result.stderr
    (dump,) = (tmp_path / "backups" / "db" / "local").glob("*.dump")
    key = f"mirante-test/{tmp_path.name}/local/{dump.name}"
    assert f"stored at s3://{bucket}/{key}" in result.stdout
    head = boto3.client("s3", endpoint_url=endpoint or None).head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == dump.stat().st_size
    assert head["Metadata"]["sha256"] == files.sha256_of(dump)


def _table_digest(stack_env: dict[str, str]) -> str:
    container = f"{stack_env['MIRANTE_PROJECT_NAME']}-postgres-1"
    query = (
        "select md5(string_agg(t::text, ',' order by t::text)) from ("
        "select row(r.*)::text as t from mirante.reference_values r union all "
        "select row(s.*)::text from mirante.sample_tenants s) rows"
    )
    return subprocess.run(
        ["docker", "exec", "-u", "postgres", container, "psql", "-U", "mirante", "-Atc", query],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_seed_twice_changes_nothing(
    running_stack: stack.UpReport, stack_env: dict[str, str]
) -> None:
    first = invoke(stack_env, "seed", "--env", "local")
    assert first.returncode == 0, first.stderr
    assert "mirante.reference_values" in first.stdout
    assert "mirante.sample_tenants" in first.stdout
    digest = _table_digest(stack_env)
    second = invoke(stack_env, "db.migrate-seed", "--env", "local")
    assert second.returncode == 0, second.stderr
    rows = [
        line.split() for line in second.stdout.splitlines() if line.strip().startswith("mirante.")
    ]
    assert dict((r[0], r[-1]) for r in rows) == {
        "mirante.reference_values": "13",
        "mirante.sample_tenants": "50",
    }
    assert _table_digest(stack_env) == digest


def test_seed_of_prod_loads_reference_values_only(
    running_stack: stack.UpReport, stack_env: dict[str, str], stack_root: Path
) -> None:
    from mirante import settings
    from mirante.db import databases as db

    local = db.database_url(settings.load(stack_root, environ=stack_env), "local")
    env = {**stack_env, "PROD_DATABASE_URL": local}
    done = invoke(env, "seed", "--env", "prod")
    assert done.returncode == 0, done.stderr
    assert "reference.sql)" in done.stdout
    assert "sample.sql" not in done.stdout
    assert "mirante.reference_values" in done.stdout
    assert "sample_tenants" not in done.stdout
