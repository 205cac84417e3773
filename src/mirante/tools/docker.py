"""The tool wrappers: Docker and compose through python-on-whales, other programs by argv.

One factory builds the :class:`~python_on_whales.DockerClient` the whole library uses;
:func:`docker_errors` turns python-on-whales exceptions into :mod:`mirante.errors`;
the docker CLI itself runs through :mod:`mirante.runner`, as every other program does.
python-on-whales costs about 0.3 s to import, so it is imported inside these functions.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mirante import runner
from mirante.errors import ComposeMissing, DockerUnavailable, MiranteError, ToolError
from mirante.settings import Settings, read_env_file

if TYPE_CHECKING:
    from python_on_whales import DockerClient
    from testcontainers.compose import DockerCompose

_DAEMON_DOWN = re.compile(
    r"cannot connect to the docker daemon|is the docker daemon running|"
    r"error during connect|connection refused.*docker\.sock|permission denied.*docker\.sock|"
    r"failed to connect to the docker api",
    re.IGNORECASE,
)


def client(
    settings: Settings, env_file: Path | None = None, profiles: Sequence[str] = ()
) -> DockerClient:
    """The DockerClient for this checkout's compose project.

    Args:
        settings: where the compose file is and the project name.
        env_file: the rendered compose variables (see ``stack.write_compose_env``).
        profiles: compose profiles to enable (``*``: all of them).
    """
    from python_on_whales import DockerClient

    if shutil.which("docker") is None:
        raise DockerUnavailable("the `docker` command is not on PATH")
    shadowed = _shadowed(env_file)
    return DockerClient(
        client_call=["env", *[f"--unset={k}" for k in shadowed], "docker"]
        if shadowed
        else ["docker"],
        compose_files=[settings.compose_file],
        compose_project_name=settings.project_name,
        compose_project_directory=settings.compose_file.parent,
        compose_env_files=[env_file] if env_file else [],
        compose_profiles=list(profiles),
    )


def _shadowed(env_file: Path | None) -> list[str]:
    """Variables of the compose env file that the user's environment sets too.

    Compose prefers the environment to ``--env-file``; mirante resolved these (validated
    settings, the images it chose), so compose must see the file's values: its commands
    run without them in their environment.
    """
    if env_file is None or not env_file.is_file():
        return []
    return sorted(k for k in read_env_file(env_file) if k in os.environ)


@contextmanager
def docker_errors() -> Iterator[None]:
    """Translate python-on-whales failures into mirante errors, keeping the command."""
    from python_on_whales.exceptions import DockerException

    try:
        yield
    except DockerException as exc:
        stderr = exc.stderr or exc.stdout or ""
        raise _classified(ToolError(exc.docker_command, exc.return_code, stderr)) from None


def _classified(error: ToolError) -> ToolError | DockerUnavailable | ComposeMissing:
    """A failed docker command, as the error that says what to do about it."""
    stderr = error.stderr
    if _DAEMON_DOWN.search(stderr):
        return DockerUnavailable(stderr.strip().splitlines()[-1])
    if "'compose' is not a docker command" in stderr or (
        "unknown command" in stderr and "compose" in stderr
    ):
        return ComposeMissing()
    return error


# The calls on the path of every `stack.up` go to the docker CLI directly: importing
# python-on-whales costs more than they do, and compose runs meanwhile.


def cli(argv: Sequence[str], timeout: float | None = None, env_file: Path | None = None) -> str:
    """Run ``docker ARGV...``; its standard output.

    With ``env_file`` (compose's), the variables it sets are taken out of the command's
    environment, so that compose uses the file's (see :func:`_shadowed`).

    Raises:
        DockerUnavailable, ComposeMissing, ToolError.
    """
    if shutil.which("docker") is None:
        raise DockerUnavailable("the `docker` command is not on PATH")
    shadowed = _shadowed(env_file)
    env = {k: v for k, v in os.environ.items() if k not in shadowed} if shadowed else None
    try:
        return runner.run(["docker", *argv], timeout=timeout, env=env).stdout
    except ToolError as exc:
        raise _classified(exc) from None


def compose_args(settings: Settings, env_file: Path) -> list[str]:
    """``compose`` and the options that name this checkout's project (as :func:`client`)."""
    return [
        "compose",
        "--file",
        str(settings.compose_file),
        "--env-file",
        str(env_file),
        "--project-name",
        settings.project_name,
        "--project-directory",
        str(settings.compose_file.parent),
    ]


def image_tags() -> set[str]:
    """Every ``repo:tag`` the daemon holds, in one call whatever their number."""
    listing = cli(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
    return {line for line in listing.splitlines() if line and not line.endswith(":<none>")}


_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")


def service_states(project: str) -> dict[str, str]:
    """Each service of a compose project and its state, in ``stack.describe``'s words.

    ``healthy`` / ``starting`` / ``unhealthy`` / ``running`` / ``exited`` / ...
    """
    listing = _project_ps(
        project, '{{.Label "com.docker.compose.service"}}\t{{.State}}\t{{.Status}}'
    )
    states = {}
    for line in listing.splitlines():
        service, state, status = [*line.split("\t"), "", ""][:3]
        health = _HEALTH.search(status) if state == "running" else None
        states[service] = (health.group(1).removeprefix("health: ") if health else state) or "?"
    return states


def project_directories(project: str) -> set[str]:
    """The project directories compose recorded on the containers of ``project``."""
    listing = _project_ps(project, '{{.Label "com.docker.compose.project.working_dir"}}')
    return {line.strip() for line in listing.splitlines() if line.strip()}


def bridge_gateway() -> str:
    """The address containers reach this machine at (``host-gateway``: the default bridge).

    "" when Docker does not say.
    """
    try:
        config = json.loads(cli(["network", "inspect", "bridge", "-f", "{{json .IPAM.Config}}"]))[0]
    except (MiranteError, ValueError, IndexError, KeyError):
        return ""
    if config.get("Gateway"):
        return str(config["Gateway"])
    # Some daemons (Debian's 20.10) leave the bridge's Gateway out: it is the subnet's first host.
    try:
        return str(next(ipaddress.ip_network(config.get("Subnet", "")).hosts()))
    except (ValueError, StopIteration):
        return ""


def network_address(network: str, container: str) -> str:
    """The address of ``container`` on ``network`` ("" when it is not there)."""
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    try:
        found = cli(["inspect", "-f", template, container]).strip()
    except MiranteError:
        return ""
    return "" if found in ("", "<no value>") else found


def _project_ps(project: str, template: str) -> str:
    """``docker ps --all`` of the containers of compose project ``project``, one per line."""
    return cli(
        ["ps", "--all", "--filter", f"label=com.docker.compose.project={project}",
         "--format", template]
    )  # fmt: skip


def container_usage(docker: DockerClient, project: str) -> dict[str, tuple[float, float]]:
    """Each running service of ``project``: CPU in cores and memory in MiB (Docker stats API)."""
    with docker_errors():
        running = docker.container.list(
            filters=[("label", f"com.docker.compose.project={project}")]
        )
        if not running:
            return {}
        services = {c.id: (c.config.labels or {}).get("com.docker.compose.service", c.name)
                    for c in running}  # fmt: skip
        stats = docker.container.stats(list(services))
    return {
        services.get(s.container_id, s.container_name): (
            s.cpu_percentage / 100,
            s.memory_used / 2**20,
        )
        for s in stats
    }


def run_container(docker: DockerClient, image: str, argv: Sequence[str], **options: Any) -> str:
    """Run a one-off container (``--rm``) to its end and return its output.

    Its output is streamed rather than left to the terminal, so that a failure's stderr
    (say, "No space left on device" or "password authentication failed") lands in the
    :class:`ToolError`. ``--rm`` has the daemon remove the container and its anonymous
    volumes however mirante ends, even when it is killed.

    Raises:
        ToolError: the command exited non-zero, with its last lines of output.
    """
    try:
        with docker_errors():
            streamed = docker.run(image, list(argv), remove=True, stream=True, **options)
            return b"".join(chunk for _, chunk in streamed).decode(errors="replace")
    except ToolError as exc:
        tool = [str(options["entrypoint"])] if options.get("entrypoint") else []
        raise ToolError([image, *tool, *argv[:3]], exc.returncode, exc.stderr) from None


@contextmanager
def save_stream(docker: DockerClient, refs: Sequence[str]) -> Iterator[IO[bytes]]:
    """``docker image save REFS`` as a readable pipe (one tar, layers shared).

    python-on-whales' own streaming save iterates the binary tar line by line, which is
    several times slower; this hands over the pipe itself.

    Raises:
        ToolError: docker save failed (an image is missing, the daemon went away).
    """
    argv = [*map(str, docker.client_config.docker_cmd), "image", "save", *refs]
    with runner.reading(argv) as stream:
        yield stream


def load_stream(docker: DockerClient, chunks: Iterator[bytes]) -> list[str]:
    """``docker image load`` fed from ``chunks``; the references it loaded.

    Raises:
        ToolError: docker load refused the stream.
    """
    argv = [*map(str, docker.client_config.docker_cmd), "image", "load"]
    said = runner.feeding(argv, chunks)
    return [line.split(" ", 2)[-1].strip() for line in said.splitlines() if "Loaded image" in line]


# testcontainers reads its settings when first imported. On machines without a registry
# Ryuk's image cannot be pulled, and mirante removes what it starts itself; containers are
# reached on loopback. Each applies only where the user's environment does not set it.
TESTCONTAINERS_DEFAULTS = {
    "TESTCONTAINERS_RYUK_DISABLED": "true",
    "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
    "TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
}


def _testcontainers_settings() -> None:
    import logging

    for key, value in TESTCONTAINERS_DEFAULTS.items():
        os.environ.setdefault(key, value)
    # Its failures reach the user as mirante's one-line errors, not as its log records.
    logging.getLogger("testcontainers").addHandler(logging.NullHandler())
    logging.getLogger("testcontainers").propagate = False


@contextmanager
def compose_environment(env_file: Path) -> Iterator[None]:
    """This process's environment without what ``env_file`` sets, for the block's length.

    For compose run by a library (testcontainers) that passes no environment of its own:
    see :func:`_shadowed`.
    """
    shadowed = {k: os.environ.pop(k) for k in _shadowed(env_file)}
    try:
        yield
    finally:
        os.environ.update(shadowed)


def throwaway_compose(
    root: Path, compose_file: Path, env_file: Path, services: Sequence[str]
) -> DockerCompose:
    """The testcontainers handle on a compose project; ``stop()`` removes it with its volumes.

    The project name is in ``env_file``.
    """
    _testcontainers_settings()
    from testcontainers.compose import DockerCompose

    return DockerCompose(
        context=root,
        compose_file_name=str(compose_file),
        env_file=str(env_file),
        services=list(services),
        wait=False,  # the wait strategies below wait, with a deadline and a reason
    )


def remove_compose(compose: DockerCompose) -> None:
    """``compose down --volumes`` of the whole project.

    Not only the services it was started with: their one-shot dependencies (the
    healthprobe) and one-shots (postgres-roles) have containers and volumes too.
    """
    compose.services = None
    compose.profiles = ["*"]  # the one-shots are in a profile: `down` skips them otherwise
    vars(compose).pop("compose_command_property", None)  # cached, with the start's profiles
    compose.stop(down=True)


def start_compose(compose: DockerCompose, deadline: float, oneshots: Collection[str] = ()) -> None:
    """Run ``compose up --detach``, then wait with testcontainers' wait strategies.

    Each service must be healthy (or running, where it has no healthcheck) before
    ``deadline`` (``time.monotonic()``); each of ``oneshots`` must have exited with 0.

    Raises:
        ToolError: compose failed, a service exited or turned unhealthy, or time ran out.
    """
    import time

    from testcontainers.compose.compose import ComposeContainer
    from testcontainers.core.exceptions import ContainerIsNotRunning
    from testcontainers.core.waiting_utils import WaitStrategy

    class Healthy(WaitStrategy):
        def wait_until_ready(self, container: Any) -> None:
            assert isinstance(container, ComposeContainer)  # noqa: S101 (compose hands these)
            service = container.Service
            while True:
                found = [c for c in compose.get_containers(True) if c.Service == service]
                now = found[0] if found else container
                if now.Health == "healthy" or (not now.Health and now.State == "running"):
                    return
                if now.State in ("exited", "dead") or now.Health == "unhealthy":
                    raise RuntimeError(f"{service} is {now.Health or now.State}")
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{service} is still {now.Health or now.State}")
                time.sleep(self._poll_interval)

    services = compose.services or ()
    compose.waiting_for(
        {s: Healthy().with_poll_interval(0.5) for s in services if s not in oneshots}
    )
    command = ["docker", "compose", "up", "--detach", *services]
    try:
        compose.start()
    except runner.ProcessFailed as exc:
        said = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        raise ToolError(command, exc.returncode, said) from None
    except (ContainerIsNotRunning, RuntimeError, TimeoutError) as exc:
        raise ToolError(command, 1, str(exc)) from None
    # A one-shot is named only with the service that waits for it to complete: done by now.
    for one in compose.get_containers(True):
        if one.Service in oneshots and one.Service in services and one.ExitCode != 0:
            state = f"exited with code {one.ExitCode}" if one.State == "exited" else one.State
            raise ToolError(command, 1, f"{one.Service} is {state}")


@contextmanager
def side_container(
    image: str,
    network: str,
    volumes: Mapping[Path, str],
    command: Sequence[str],
    ready_log: str,
    timeout: float,
) -> Iterator[None]:
    """One container beside a compose project, through testcontainers' container API.

    On the project's network, with ``volumes`` mounted read-only, ready once it logs
    ``ready_log``; removed when the block ends.

    Raises:
        ToolError: it could not start, or did not log ``ready_log`` within ``timeout``.
    """
    _testcontainers_settings()
    from docker.errors import DockerException
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    container = DockerContainer(image).with_kwargs(network=network).with_command(list(command))
    for host, inside in volumes.items():
        container = container.with_volume_mapping(str(host), inside, "ro")
    container.waiting_for(LogMessageWaitStrategy(ready_log).with_startup_timeout(round(timeout)))
    try:
        container.start()
    except (DockerException, TimeoutError, RuntimeError) as exc:
        with suppress(DockerException):
            container.stop()
        raise ToolError(["docker", "run", image], 1, str(exc)) from None
    try:
        yield
    finally:
        with suppress(DockerException):
            container.stop()
