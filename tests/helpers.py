"""What the test suites share.

The checkout, scratch copies of it, running commands as a user would, and the gate that
skips (or fails) a suite whose tools are missing.

Imported as ``tests.helpers`` (pytest puts the repository on ``sys.path``, see
``pythonpath`` in pyproject.toml); fixtures stay in the conftest files.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
import yaml
from invoke.program import Program

from mirante import backup, files, settings, stack
from mirante.backup import sets
from mirante.files import linked_checkout

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def parsed(path: Path) -> ast.Module:
    """A source file's syntax tree, parsed once per run (the import-graph tests share it)."""
    return ast.parse(path.read_text(), str(path))


def scratch_checkout(path: Path, copies: tuple[str, ...] = ()) -> Path:
    """A checkout of this repository whose .env and .mirante/ are its own.

    See :func:`mirante.files.linked_checkout`; the parts in ``copies`` may be changed.
    """
    return linked_checkout(REPO, path, copies)


def run_as_user(
    argv: Sequence[str], env: Mapping[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command as a user would.

    From the repository, with ``env`` over the current environment, and no terminal on
    stdin (so nothing that asks can pass without --yes). The directory of the interpreter
    running the tests comes first on PATH: the runbook scripts' ``python3`` is this one,
    with mirante installed, whatever PATH the suite was started with.
    """
    merged = {**os.environ, **env}
    merged["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), merged.get("PATH", "")])
    return subprocess.run(
        list(argv),
        cwd=REPO,
        env=merged,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@dataclasses.dataclass(frozen=True)
class Said:
    """What a command run in-process ended with: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def cli(env: Mapping[str, str], *args: str) -> Said:
    """Run `invoke ARGS` in this process, as the ``invoke`` program runs tasks.py's tasks.

    The same parser, tasks and exits as :func:`invoke` without a new interpreter: with
    ``env`` over the environment, from the repository, and no terminal on stdin.
    """
    import tasks

    out, err = io.StringIO(), io.StringIO()
    saved_environ, saved_stdin, saved_cwd = dict(os.environ), sys.stdin, Path.cwd()
    code: object = 0
    try:
        os.environ.update(env)
        os.chdir(REPO)
        sys.stdin = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                Program(namespace=tasks.ns, binary="inv[oke]").run(["invoke", *args])
            except SystemExit as exc:
                code = exc.code
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return Said(returncode, out.getvalue(), err.getvalue())


def invoke_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


def gate_suite(
    items: list[pytest.Item],
    here: Path,
    marker: pytest.MarkDecorator,
    missing: Callable[[], str],
    require: str,
) -> None:
    """Mark the tests under ``here``, and skip or fail them when what they need is absent.

    When ``missing()`` says why, skip them with that reason, or fail the run when the
    variable ``require`` is 1 (CI sets it).
    """
    ours = [i for i in items if here in Path(str(i.fspath)).parents]
    for item in ours:
        item.add_marker(marker)
    reason = missing() if ours else ""
    if not reason:
        return
    if os.environ.get(require) == "1":
        raise pytest.UsageError(f"{require}=1 but {reason}; run scripts/ci/bootstrap.sh first")
    skip = pytest.mark.skip(reason=f"{reason} (scripts/ci/bootstrap.sh)")
    for item in ours:
        item.add_marker(skip)


# Remote environments: the API servers config/environments.yaml expects, and one more.
SERVERS = {
    "mirante-dev": "https://dev.k8s.mirante.internal:6443",
    "mirante-staging": "https://staging.k8s.mirante.internal:6443",
    "mirante-prod": "https://prod.k8s.mirante.internal:6443",
    "other-cluster": "https://other.example.internal:6443",
}


def write_kubeconfig(path: Path, current: str, servers: dict[str, str] | None = None) -> Path:
    """A real kubeconfig: one context per entry of ``servers``, ``current`` selected."""
    servers = servers or SERVERS
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": s}} for n, s in servers.items()],
        "users": [{"name": "someone", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "someone"}} for n in servers],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def worker_index() -> int:
    """0 in a plain run; N in pytest-xdist's worker gwN."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name.removeprefix("gw")) if name.startswith("gw") and name[2:].isdigit() else 0


# Integration tests: each project of the real stack runs on these ports (1xxxx). Under
# pytest-xdist each worker runs its own stack: worker N's ports are these plus 2000 * N.
TEST_PORTS = {
    name: port + 2000 * worker_index()
    for name, port in {
        "PROMETHEUS": 19090,
        "ALERTMANAGER": 19093,
        "GRAFANA": 13000,
        "LOKI": 13100,
        "TEMPO": 13200,
        "OTLP_GRPC": 14317,
        "OTLP_HTTP": 14318,
        "NODE_EXPORTER": 19100,
        "POSTGRES": 15432,
        "APP": 18000,
        "TEMPO_OTLP": 14418,
    }.items()
}


def project_env(project: str, root: Path, **extra: str) -> dict[str, str]:
    """The variables of compose project ``project`` (this worker's own) from ``root``."""
    env = {f"MIRANTE_{k}_PORT": str(v) for k, v in TEST_PORTS.items()}
    if worker_index():
        project = f"{project}{worker_index()}"
    env.update(MIRANTE_PROJECT_NAME=project, MIRANTE_ROOT=str(root), MIRANTE_STACK_TIMEOUT="240")
    env.update(extra)
    return env


def invoke(
    env: dict[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run `invoke ARGS` as a user would (see ``run_as_user``)."""
    return run_as_user(invoke_argv(*args), env, timeout)


def leftovers(config: settings.Settings) -> stack.DownReport:
    """Whatever of a project still exists: containers, volumes, networks."""
    docker = stack.write_project_files(config).docker
    label = f"com.docker.compose.project={config.project_name}"
    return stack.DownReport(
        [c.name for c in stack.container_states(docker, config).values()],
        [v.name for v in docker.volume.list(filters=[("label", label)])],
        [n.name for n in docker.network.list(filters=[("label", label)])],
    )


def make_set(config: settings.Settings, name: str, payload: bytes = b"data") -> Path:
    """A valid Postgres-only set: one database dump and the globals."""
    path = config.backup_dir / name
    path.mkdir(parents=True)
    (path / "postgres-mirante.dump").write_bytes(payload)
    (path / "postgres-globals.sql").write_bytes(b"-- globals\n")
    archives = [
        backup.Archive(
            "postgres",
            method,
            file,
            (path / file).stat().st_size,
            files.sha256_of(path / file),
            "postgres:18.3",
            0.1,
        )
        for method, file in (
            ("pg_dump", "postgres-mirante.dump"),
            ("pg_dumpall-globals", "postgres-globals.sql"),
        )
    ]
    made = backup.BackupSet(name, path, name, 0.2, "0.1.0", archives)
    (path / backup.MANIFEST).write_text(json.dumps(sets.manifest_of(made)))
    return path


def docker_out(*args: str) -> str:
    """What ``docker ARGS`` prints (it must succeed)."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def build_example_shop(config: settings.Settings) -> str:
    """The example shop (examples/shop) as an image: Debian's nodejs on the stack's base.

    Its npm packages are installed here first (``npm ci``, the lockfile's versions), as the
    sample app's wheels are: npm inside a build container cannot always reach a registry.
    """
    import hashlib
    import shutil
    import tempfile

    from mirante import images
    from mirante.tools.docker import client, docker_errors

    source_dir = REPO / "examples" / "shop"
    parts = ("Dockerfile", "package.json", "package-lock.json", "server.js", "telemetry.js")
    digest = hashlib.sha256(b"".join((source_dir / p).read_bytes() for p in parts)).hexdigest()
    tag = f"mirante/example-shop:{digest[:12]}"
    docker = client(config)
    with docker_errors():
        if docker.image.exists(tag):
            return tag
    base = images.ensure_base(config, docker, images.effective_source(config))
    with tempfile.TemporaryDirectory(prefix="shop-") as scratch:
        context = Path(scratch)
        for part in parts:
            shutil.copy(source_dir / part, context / part)
        subprocess.run(
            ["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=context, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        with docker_errors():
            docker.legacy_build(context, tags=[tag], build_args={"BASE_IMAGE": base})
    return tag
