"""The compose stack: bring it up healthy, report on it, take it down.

Every operation goes through python-on-whales (see :mod:`mirante.tools.docker`). Compose reads
its variables from ``.mirante/compose.env``, rendered here from the settings and the
image plan, so ``docker compose --env-file .mirante/compose.env -f compose/...`` by hand
sees exactly what mirante ran.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from mirante import images
from mirante.errors import (
    ImageUnavailable,
    MiranteError,
    PortInUse,
    ProjectTaken,
    ServiceUnhealthy,
    ToolError,
)
from mirante.files import atomic_write
from mirante.files import locked as file_lock
from mirante.images import official
from mirante.services import (
    BY_NAME,
    ONESHOTS,
    SERVICES,
    Service,
    compose_names,
    port_variable,
    published_ports,
    select,
)
from mirante.settings import (
    SECRET_VARIABLES,
    VARIABLES,
    Settings,
    ensure_secrets,
    read_env_file,
)
from mirante.stack import alerting
from mirante.tools.docker import (
    cli,
    client,
    compose_args,
    docker_errors,
    project_directories,
    service_states,
)
from mirante.tools.docker import image_tags as tags

if TYPE_CHECKING:
    from python_on_whales import Container, DockerClient

LOG_LINES_ON_FAILURE = 20
_PORT_TAKEN = re.compile(r"(?:bind for|listen tcp4?|bind) [^\s]*?:(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ServiceState:
    """One row of ``stack.up`` / ``stack.status``."""

    service: str
    state: str
    url: str
    seconds: float | None = None
    reason: str = ""
    image: str = ""


@dataclass
class UpReport:
    """What ``up`` did: a row per service, the image source, secrets generated, images built."""

    rows: list[ServiceState]
    source: str
    generated_secrets: list[str] = field(default_factory=list)
    built: list[images.BuildResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was repaired that the user should know

    @property
    def unavailable(self) -> list[ServiceState]:
        """The rows of services that cannot run here."""
        return [r for r in self.rows if r.state == "unavailable"]


@dataclass(frozen=True)
class Stopped:
    """How a service stopped for a copy of its volume."""

    service: str
    seconds: float
    killed: bool
    flushed: bool

    def note(self) -> str:
        """A line for the user when the stop was not clean ('' when it was)."""
        if not self.killed:
            return ""
        why = (
            " (grafana/tempo#5733: after serving a query it ignores SIGTERM)"
            if self.service == "tempo"
            else ""
        )
        first = "; its data had been flushed to disk first" if self.flushed else ""
        return (
            f"{self.service} did not stop on SIGTERM and was killed after {self.seconds:.0f} s"
            f"{why}{first}"
        )


# Services that keep data in memory and have an endpoint that writes it out: called before
# their volume is copied, so that a stop that ends in SIGKILL loses nothing.
FLUSH_BEFORE_STOP = {"tempo": "/flush"}
KILLED = 137  # 128 + SIGKILL


@dataclass(frozen=True)
class DownReport:
    """What ``down`` removed, and what the user should know (a service killed on stop)."""

    containers: list[str]
    volumes: list[str]
    networks: list[str]
    notes: list[str] = field(default_factory=list)


STACK_LOCK = "stack.lock"
STACK_LOCK_HOLDERS = "stack.up, stack.down, stack.restart, backup or restore"


def locked(
    settings: Settings, waiting: Callable[[str], None] | None = None
) -> AbstractContextManager[None]:
    """Hold the stack's lock: one command at a time starts, stops or removes its services.

    A waiting command waits as long as a start-up may take (``MIRANTE_STACK_TIMEOUT``, at
    least ``MIRANTE_LOCK_TIMEOUT``).

    Raises:
        LockBusy: the other command did not finish in time.
    """
    timeout = max(settings.lock_timeout, settings.stack_timeout)
    return file_lock(
        project_lock(settings), timeout, STACK_LOCK_HOLDERS, waiting, owner=str(settings.root)
    )


def project_lock(settings: Settings) -> Path:
    """The stack lock's file: one per compose project on this machine, not per checkout.

    Two checkouts with the same MIRANTE_PROJECT_NAME drive the same containers: their
    commands must wait for each other. The file lives in a directory of this user's own
    (mode 0700); where none can be had safely, in the checkout (as before).
    """
    import os
    import stat as stat_mod
    import tempfile

    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    directory = base / f"mirante-{os.getuid()}"
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        info = directory.lstat()
        if (
            stat_mod.S_ISDIR(info.st_mode)
            and info.st_uid == os.getuid()
            and not (info.st_mode & 0o022)
        ):
            return directory / f"{settings.project_name}.{STACK_LOCK.lstrip('.')}"
    except OSError:
        pass
    return settings.state_dir / STACK_LOCK


def env_file(settings: Settings) -> Path:
    """The compose env file rendered from the settings."""
    return settings.state_dir / "compose.env"


def image_variable(service: str) -> str:
    """The compose variable that holds a service's image."""
    return f"MIRANTE_{service.upper().replace('-', '_')}_IMAGE"


def compose_env(settings: Settings, choices: Mapping[str, images.ImageChoice]) -> dict[str, str]:
    """The variables compose interpolates: every MIRANTE_ setting, with each image resolved.

    Settings of other systems (the environments' database URLs) stay out of it.
    """
    env = {v.name: settings.value_of(v) for v in VARIABLES if v.name.startswith("MIRANTE_")}
    env.update({image_variable(name): choice.image for name, choice in choices.items()})
    env.update(app_otlp_routes(choices))
    env[ALERTMANAGER_DIGEST] = alerting.digest(settings)
    return env


# Where the app's traces and logs go when no collector can run: Tempo's and Loki's own
# OTLP receivers, inside the compose network.
DIRECT_OTLP = {
    "OTLP_TRACES_ENDPOINT": ("tempo", "http://tempo:4318/v1/traces"),
    "OTLP_LOGS_ENDPOINT": ("loki", "http://loki:3100/otlp/v1/logs"),
}


ALERTMANAGER_DIGEST = "ALERTMANAGER_CONFIG_DIGEST"


def app_otlp_routes(choices: Mapping[str, images.ImageChoice]) -> dict[str, str]:
    """The app's per-signal OTLP endpoints.

    Empty (the collector) when the collector can run, else straight to Tempo and Loki where
    those can, so that their data still arrives.
    """
    collector = choices.get("otel-collector")
    through_collector = collector is None or collector.available
    return {
        variable: ""
        if through_collector or not (choices.get(target) and choices[target].available)
        else url
        for variable, (target, url) in DIRECT_OTLP.items()
    }


def write_compose_env(settings: Settings, env: Mapping[str, str]) -> Path:
    """Write the compose env file atomically, mode 0600 (it carries the generated secrets)."""
    path = env_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# rendered by mirante; regenerated by every stack.up\n" + "".join(
        f"{key}='{value}'\n" for key, value in sorted(env.items())
    )
    atomic_write(path, text, 0o600)
    return path


# The compose stack's environment name: the `env` label of every series it scrapes (the
# clusters set theirs), which the dashboards' `env` variable selects.
LOCAL_ENV = "local"


def write_targets(settings: Settings, running: Iterable[str]) -> None:
    """One file_sd file per scrape job: the service's target when it runs, else empty.

    Each target carries ``service`` and ``env`` labels. The observed services
    (``config/services.yaml``, the sample app among them) get theirs under ``observed/``.
    """
    from mirante.observe import registry as observed

    running = set(running)
    observed.write_targets(settings, running)
    directory = settings.state_dir / "targets"
    directory.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        for job, port in service.scrape:
            labels = {"service": service.name, "env": LOCAL_ENV}
            groups = [{"targets": [f"{service.name}:{port}"], "labels": labels}]
            text = json.dumps(groups if service.name in running else [], indent=2) + "\n"
            path = directory / f"{job}.json"
            if not path.is_file() or path.read_text() != text:
                atomic_write(path, text, 0o644)


@dataclass(frozen=True)
class Project:
    """The local stack's compose project, its files written: what stack tasks work on."""

    settings: Settings  # with any secret generated just now
    generated: tuple[str, ...] = ()  # the secrets generated into .env by this call

    @functools.cached_property
    def docker(self) -> DockerClient:
        """The project's client (made on first use: python-on-whales is slow to import)."""
        return client(self.settings, env_file(self.settings))


def write_project_files(settings: Settings) -> Project:
    """Write what the local stack's compose project reads, and return it with a client.

    Generates missing secrets into ``.env``; keeps ``.mirante/compose.env`` in step with the
    settings (its images stay those the last ``up`` resolved; before any ``up``, the pinned
    ones: nothing is pulled or built here); writes the Prometheus target files, the
    rendered Alertmanager config, and the directories the compose file mounts. Only for
    the local stack: remote tasks and other databases need none of it.
    """
    settings, generated = ensure_secrets(settings)
    path = env_file(settings)
    previous = read_env_file(path) if path.is_file() else {}
    env = compose_env(settings, images.plan(settings, SERVICES, "registry", ()))
    # What the last `up` resolved (images, the app's OTLP routes) stays until the next `up`.
    resolved = {k for k in env if k.endswith("_IMAGE") or k in DIRECT_OTLP}
    env.update({k: v for k, v in previous.items() if k in resolved})
    if env != previous:
        write_compose_env(settings, env)
    if not (settings.state_dir / "targets").is_dir():
        write_targets(settings, ())
    alerting.write(settings)
    (settings.state_dir / "textfile").mkdir(exist_ok=True)  # node-exporter's textfile collector
    return Project(settings, tuple(generated))


def stop_service(settings: Settings, docker: DockerClient, service: str) -> Stopped:
    """Flush what the service holds in memory (where it can), then stop it.

    compose gives it the ``stop_grace_period`` of the compose file before SIGKILL; the
    result says whether it came to that.
    """
    import requests

    flushed = False
    if path := FLUSH_BEFORE_STOP.get(service):
        try:
            answer = requests.post(BY_NAME[service].endpoint(settings, path), timeout=30)
            flushed = answer.status_code < 300
        except requests.RequestException:
            flushed = False
    began = time.monotonic()
    with docker_errors():
        docker.compose.stop([service])
    seconds = time.monotonic() - began
    container = container_states(docker, settings).get(service)
    killed = (
        container is not None
        and container.state.exit_code == KILLED
        and not container.state.oom_killed
    )
    return Stopped(service, round(seconds, 1), killed, flushed)


def run_oneshot(docker: DockerClient, name: str) -> None:
    """Run one of the one-shot services again (``compose run --rm --no-deps``), to its end.

    Raises:
        ToolError: it exited with a code other than 0 (its output says why).
    """
    with docker_errors():
        docker.compose.run(name, remove=True, dependencies=False, tty=False)


def container_states(docker: DockerClient, settings: Settings) -> dict[str, Container]:
    """The project's containers by service name (one container per service)."""
    with docker_errors():
        found = docker.container.list(all=True, filters=[_project_label(settings)])
        if not found:
            return {}
        inspected = docker.container.inspect([c.id for c in found])
    return {(c.config.labels or {}).get("com.docker.compose.service", c.name): c for c in inspected}


UP_STATES = ("healthy", "running")  # running, and healthy where it has a healthcheck
STOPPED_STATES = ("exited", "created", "dead", "removing")  # hold no published port


def is_up(container: Container | None) -> bool:
    """Ready to serve: healthy, or running when it has no healthcheck."""
    return describe(container) in UP_STATES


def is_running(container: Container | None) -> bool:
    """The process runs, whatever its health (what stop / start decisions need)."""
    return container is not None and container.state.status == "running"


def describe(container: Container | None) -> str:
    """``healthy`` / ``starting`` / ``unhealthy`` / ``running`` / ``exited`` / ``not created``."""
    if container is None:
        return "not created"
    state = container.state
    if state.status != "running":
        return str(state.status)
    if state.health is not None and state.health.status:
        return str(state.health.status)
    return "running"


def check_ports(settings: Settings, services: Sequence[Service], running: Iterable[str]) -> None:
    """Fail before starting anything when a port to publish is taken by another process.

    Raises:
        PortInUse: naming the port, the variable that sets it, and the service.
    """
    running = set(running)
    family = socket.AF_INET6 if ":" in settings.bind else socket.AF_INET
    for service in services:
        if service.name in running:
            continue
        for key in published_ports(service):
            port = settings.ports[key]
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((settings.bind, port))
                except OSError:
                    raise PortInUse(port, port_variable(key), settings.bind, service.name) from None


def _port_error(settings: Settings, error: ToolError) -> PortInUse | None:
    """Recognise compose's own "port is already allocated" failure (a race with check_ports)."""
    if "already allocated" not in error.stderr and "address already in use" not in error.stderr:
        return None
    match = _PORT_TAKEN.search(error.stderr)
    port = int(match.group(1)) if match else 0
    for service in SERVICES:
        for key in published_ports(service):
            if settings.ports[key] == port:
                return PortInUse(port, port_variable(key), settings.bind, service.name)
    return None


@dataclass(frozen=True)
class Prepared:
    """A project ready for ``compose up``: images resolved and built, files written."""

    project: Project
    source: str  # registry | local
    choices: Mapping[str, images.ImageChoice]
    startable: list[Service]
    unavailable: list[images.ImageChoice]
    already: set[str]  # services that were up before
    built: list[images.BuildResult]

    @property
    def settings(self) -> Settings:
        """The project's settings."""
        return self.project.settings

    @property
    def docker(self) -> DockerClient:
        """The project's python-on-whales client."""
        return self.project.docker

    @property
    def names(self) -> list[str]:
        """The compose services to start: the selected ones and their one-shots."""
        return compose_names(self.startable, self.already)


def check_owner(settings: Settings, directories: set[str]) -> None:
    """Refuse to take over containers another checkout started under the same project name.

    Raises:
        ProjectTaken: naming the other checkout and what to do.
    """
    ours = str(settings.compose_file.parent)
    others = sorted(d for d in directories if d != ours)
    if others:
        raise ProjectTaken(
            f"compose project {settings.project_name} runs from another checkout "
            f"({others[0]}): stop it there (`invoke stack.down`), or set MIRANTE_PROJECT_NAME "
            "to another name here"
        )


def prepare(settings: Settings, services: Sequence[str] = (), strict: bool = False) -> Prepared:
    """Everything ``up`` does before ``compose up``.

    Resolve and build the images, write the compose env and the target files, check the
    ports (see :func:`up`).
    """
    selected = select(services)
    # python-on-whales is needed only once compose has started: import it meanwhile.
    threading.Thread(target=importlib.import_module, args=("python_on_whales",)).start()
    # Independent look-ups, each a network or CLI round trip: run them side by side.
    with ThreadPoolExecutor(max_workers=4) as pool:
        probing = pool.submit(images.effective_source, settings)
        listing = pool.submit(tags)
        inspecting = pool.submit(service_states, settings.project_name)
        owners = pool.submit(project_directories, settings.project_name)
        project = write_project_files(settings)
        settings = project.settings
        source, present, before = probing.result(), listing.result(), inspecting.result()
        check_owner(settings, owners.result())
    choices = images.plan(settings, SERVICES, source, present)
    unavailable = [choices[s.name] for s in selected if not choices[s.name].available]
    if strict and unavailable:
        raise ImageUnavailable(
            f"--strict and {len(unavailable)} service(s) cannot run here: "
            + "; ".join(f"{c.service}: {c.reason}" for c in unavailable)
        )
    startable = [s for s in selected if choices[s.name].available]
    wanted = {s.name for s in startable} | {h for s in startable for h in s.helpers}
    built = images.build_missing(
        settings,
        lambda: project.docker,
        {k: v for k, v in choices.items() if k in wanted},
        source,
        present,
    )
    write_compose_env(settings, compose_env(settings, choices))
    already = {name for name, state in before.items() if state in UP_STATES}
    # A container that exists and is not stopped holds its own ports, whatever its health.
    holding = {name for name, state in before.items() if state not in STOPPED_STATES}
    check_ports(settings, startable, holding)
    write_targets(settings, already | {s.name for s in startable})
    return Prepared(project, source, choices, startable, unavailable, already, built)


# What an interrupted operation left, put back: given the settings and the Docker client
# (made only when there is something to repair); its notes.
Repair = Callable[[Settings, Callable[[], "DockerClient"]], list[str]]


def up(
    settings: Settings,
    services: Sequence[str] = (),
    timeout: float = 0,
    strict: bool = False,
    waiting: Callable[[str], None] | None = None,
    repair: Repair | None = None,
) -> UpReport:
    """Start the selected services and wait until each is healthy.

    Services whose image cannot be had here are reported ``unavailable`` and skipped (an
    error with ``strict``); the others still come up.

    Args:
        settings: validated settings.
        services: service names (all when empty).
        timeout: seconds to wait for health (``settings.stack_timeout`` when 0).
        strict: make an unavailable service an error.
        waiting: told when another stack command holds the stack's lock.
        repair: puts back what an interrupted operation left (the backup journal's), run
            under the stack's lock before anything starts; its notes are the report's.

    Raises:
        UnknownService, ImageUnavailable, PortInUse, ServiceUnhealthy, DockerUnavailable,
        ComposeMissing, ToolError, LockBusy.
    """
    timeout = timeout or settings.stack_timeout

    with locked(settings, waiting):
        ready = prepare(settings, services, strict)
        repaired = repair(ready.settings, lambda: ready.docker) if repair else []
        pull = ready.source == "registry"
        seconds, done = _up_and_wait(ready.project, ready.names, pull, timeout)
    made = report(ready, seconds, done)
    made.notes = repaired
    return made


def report(ready: Prepared, seconds: Mapping[str, float], done: float) -> UpReport:
    """The rows of ``up``: each service's state, URL, seconds to healthy and image."""
    settings = ready.settings
    facts = official.load(settings.root)
    shown = {
        name: images.label(choice, facts, settings.images.get(name, choice.image))
        for name, choice in ready.choices.items()
    }
    # stack.status shows the same cell: it reads what this up resolved (no registry probe).
    atomic_write(
        settings.state_dir / IMAGES_SHOWN,
        json.dumps({n: {"image": c.image, "label": shown[n]} for n, c in ready.choices.items()})
        + "\n",
    )
    rows = [
        ServiceState(s.name, "healthy", s.url(settings), None, "already running", shown[s.name])
        if s.name in ready.already and s.name not in seconds
        else ServiceState(
            s.name, "healthy", s.url(settings), seconds.get(s.name, done), "", shown[s.name]
        )
        for s in ready.startable
    ] + [
        ServiceState(
            c.service,
            "unavailable",
            BY_NAME[c.service].url(settings),
            None,
            c.reason,
            shown[c.service],
        )
        for c in ready.unavailable
    ]
    order = {s.name: i for i, s in enumerate(SERVICES)}
    rows.sort(key=lambda r: order[r.service])
    return UpReport(rows, ready.source, list(ready.project.generated), ready.built)


def compose_up(settings: Settings, names: Sequence[str], pull: bool, timeout: float) -> None:
    """``docker compose up --detach --wait``; pulls missing images only when ``pull``."""
    if not names:
        return
    cli(
        [
            *compose_args(settings, env_file(settings)),
            "up",
            "--detach",
            "--wait",
            "--wait-timeout",
            str(max(1, round(timeout))),
            "--pull",
            "missing" if pull else "never",
            *names,
        ],
        env_file=env_file(settings),
    )


def _up_and_wait(
    project: Project, names: Sequence[str], pull: bool, timeout: float
) -> tuple[dict[str, float], float]:
    """Start the services and let compose wait for their health.

    Compose's own ``--wait`` decides when the stack is up, so mirante adds no polling;
    afterwards the daemon's ``health_status`` events say when each service turned healthy.

    Returns:
        Seconds to healthy of each service that turned healthy during this call (one that
        was healthy already has no entry), and the seconds the whole wait took.

    Raises:
        PortInUse: compose could not publish a port.
        ServiceUnhealthy: the first service not healthy when compose gave up, with its logs.
    """
    settings = project.settings
    since = datetime.now(UTC)
    try:
        compose_up(settings, names, pull, timeout)
    except ToolError as exc:
        raise failure(project.docker, settings, names, exc, since, timeout) from None
    done = round((datetime.now(UTC) - since).total_seconds(), 1)
    healthy = healthy_since(project.docker, settings, since) if names else {}
    return {name: healthy[name] for name in names if name in healthy}, done


def failure(
    docker: DockerClient,
    settings: Settings,
    names: Sequence[str],
    error: ToolError,
    since: datetime,
    timeout: float,
) -> MiranteError:
    """Why starting ``names`` failed.

    A port taken; the first service not healthy, with its cause and last log lines; or
    compose's own error.
    """
    waited = (datetime.now(UTC) - since).total_seconds()
    if port_error := _port_error(settings, error):
        return port_error
    states = container_states(docker, settings)
    # Not up now (a one-shot: not exited with 0); or (it turned healthy while this looked)
    # the one the wait gave up on.
    failed = [n for n in names if not _done(n, states.get(n))] or [
        n for n in names if error.stderr.startswith(f"{n} is ")
    ]
    container = states.get(failed[0]) if failed else None
    if container is None:
        return error  # compose failed before it created the service: its own error says why
    logs = tail_logs(docker, failed[0])
    codes = _exit_codes(docker, container.id, since)
    cause = _why_not_healthy(container, error, waited, timeout, codes)
    return ServiceUnhealthy(failed[0], describe(container), waited, timeout, cause, logs)


def _done(name: str, container: Container | None) -> bool:
    """Whether a service is up, or a one-shot has done its work (exited with 0)."""
    if name in ONESHOTS:
        return (
            container is not None
            and container.state.status == "exited"
            and (container.state.exit_code == 0)
        )
    return is_up(container)


def _exit_codes(docker: DockerClient, container: str, since: datetime) -> list[str]:
    """The exit codes of a container's runs since ``since`` (a restart resets its state's)."""
    with suppress(ToolError), docker_errors():
        events = docker.system.events(
            since=since - timedelta(seconds=1),
            until=datetime.now(UTC),
            filters={"container": container, "event": "die"},
        )
        return [str((e.actor.attributes or {}).get("exitCode", "?")) for e in events if e.actor]
    return []


def _why_not_healthy(
    container: Container | None,
    error: ToolError,
    waited: float,
    timeout: float,
    exit_codes: Sequence[str] = (),
) -> str:
    """Why compose stopped waiting, in the words of the container and of compose."""
    if waited >= timeout - 0.5:
        return f"the wait of {timeout:g} s ran out"
    said = next((line.strip() for line in reversed(error.stderr.splitlines()) if line.strip()), "")
    parts = []
    if container is not None:
        state = container.state
        if state.restarting or (container.restart_count or 0) > 0:
            code = exit_codes[-1] if exit_codes else str(state.exit_code)
            parts.append(f"it keeps exiting (exit code {code}, {container.restart_count} restarts)")
        elif state.status == "exited":
            parts.append(f"it exited with code {state.exit_code}")
        elif state.health is not None and state.health.status == "unhealthy" and state.health.log:
            output = (state.health.log[-1].output or "").strip().splitlines()
            parts.append(f"its healthcheck fails ({output[-1] if output else 'no output'})")
    if said:
        parts.append(f"compose stopped waiting: {said}")
    return "; ".join(parts) or "compose stopped waiting"


def healthy_since(docker: DockerClient, settings: Settings, since: datetime) -> dict[str, float]:
    """Seconds from ``since`` until each service of the project first reported healthy."""
    start = since.timestamp()
    found: dict[str, float] = {}
    project = f"com.docker.compose.project={settings.project_name}"
    with docker_errors():
        events = docker.system.events(
            since=since - timedelta(seconds=1),
            until=datetime.now(UTC),
            filters={"label": project, "event": "health_status"},
        )
        for event in events:
            attributes = (event.actor.attributes if event.actor else None) or {}
            service = attributes.get("com.docker.compose.service")
            moment = (event.time_nano or 0) / 1e9
            if event.action == "health_status: healthy" and service and moment >= start:
                found.setdefault(str(service), round(moment - start, 1))
    return found


def tail_logs(docker: DockerClient, service: str, lines: int = LOG_LINES_ON_FAILURE) -> str:
    """The last lines a service logged ('' when it has no container)."""
    try:
        with docker_errors():
            return str(docker.compose.logs([service], tail=str(lines), timestamps=False))
    except ToolError:
        return ""


def status(settings: Settings) -> list[ServiceState]:
    """One row per service: its state and URL (no service is started or pulled)."""
    project = write_project_files(settings)
    settings, docker = project.settings, project.docker
    states = container_states(docker, settings)
    facts = official.load(settings.root)
    recorded = _images_shown(settings)

    def cell(name: str) -> str:
        running = str(states[name].config.image or "") if name in states else ""
        known = recorded.get(name) or {}
        if known.get("label") and (not running or running == known.get("image")):
            return str(known["label"])  # what stack.up showed for it
        pinned = settings.images.get(name, "")
        return images.running_label(name, running or pinned, facts, pinned)

    return [
        ServiceState(s.name, describe(states.get(s.name)), s.url(settings), image=cell(s.name))
        for s in SERVICES
    ]


IMAGES_SHOWN = "images-shown.json"


def _images_shown(settings: Settings) -> dict[str, dict[str, str]]:
    """The image cells the last ``stack.up`` showed, by service ({} when none)."""
    try:
        found = json.loads((settings.state_dir / IMAGES_SHOWN).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, dict)}


def logs(
    settings: Settings, service: str = "", tail: int = 0, follow: bool = False
) -> Iterator[str]:
    """Log lines of one service (all when ``service`` is empty), optionally following.

    Raises:
        UnknownService: for a name the stack does not define.
    """
    names = [s.name for s in select([service])] if service else []
    project = write_project_files(settings)
    settings, docker = project.settings, project.docker
    with docker_errors():
        stream = docker.compose.logs(
            names, tail=str(tail) if tail else None, follow=follow, stream=True
        )
        for source, chunk in stream:
            # The services' lines are compose's stdout; its stderr is about compose itself
            # (a daemon that does not answer), which the error raised at the end says.
            if source == "stdout":
                yield from chunk.decode(errors="replace").splitlines()


def restart(
    settings: Settings,
    services: Sequence[str] = (),
    timeout: float = 0,
    waiting: Callable[[str], None] | None = None,
) -> RestartReport:
    """Restart services that have a container, then wait until they are healthy again.

    Tempo is flushed and stopped first (:func:`flush_and_stop`), then started with the rest.
    """
    selected = select(services)
    notes: list[str] = []
    with locked(settings, waiting):
        project = write_project_files(settings)
        settings, docker = project.settings, project.docker
        existing = container_states(docker, settings)
        names = [s.name for s in selected if s.name in existing]
        notes += flush_and_stop(settings, docker, names, existing)
        if names:
            with docker_errors():
                docker.compose.restart(names)
        seconds, done = _up_and_wait(project, names, False, timeout or settings.stack_timeout)
    return RestartReport(
        [
            ServiceState(
                s.name,
                "healthy" if s.name in names else "not created",
                s.url(settings),
                seconds.get(s.name, done) if s.name in names else None,
            )
            for s in selected
        ],
        notes,
    )


@dataclass
class RestartReport:
    """What ``restart`` did: a row per service, and what the user should know."""

    rows: list[ServiceState]
    notes: list[str] = field(default_factory=list)


def flush_and_stop(
    settings: Settings, docker: DockerClient, names: Iterable[str], existing: Mapping[str, Any]
) -> list[str]:
    """Stop, flushing first, the running services that hold data in memory (Tempo).

    Every path that stops Tempo goes through here or :func:`stop_service`: its ingester is
    flushed before the stop, so a SIGKILL at the grace period loses nothing. A line for
    each service that had to be killed.
    """
    stopped = [
        stop_service(settings, docker, name)
        for name in names
        if name in FLUSH_BEFORE_STOP and is_running(existing.get(name))
    ]
    return [note for s in stopped if (note := s.note())]


def killed_notes(stopped: Mapping[str, Any]) -> list[str]:
    """A line for each container that ended by SIGKILL (not out of memory) on a stop."""
    return [
        f"{name} did not stop on SIGTERM within its grace period and was killed"
        for name, container in sorted(stopped.items())
        if container.state.exit_code == KILLED and not container.state.oom_killed
    ]


def down(
    settings: Settings, volumes: bool = False, waiting: Callable[[str], None] | None = None
) -> DownReport:
    """Stop and remove the project's containers and network; its volumes too with ``volumes``."""
    project = write_project_files(settings)
    settings, docker = project.settings, project.docker
    label = _project_label(settings)
    with locked(settings, waiting), docker_errors():
        existing = container_states(docker, settings)
        containers = [c.name for c in existing.values()]
        networks = [n.name for n in docker.network.list(filters=[label])]
        vols = [v.name for v in docker.volume.list(filters=[label])] if volumes else []
        notes = flush_and_stop(settings, docker, existing, existing)
        # Stopped first, so that a service killed at its grace period can be named.
        running = [name for name, c in existing.items() if is_running(c)]
        if running:
            docker.compose.stop(running)
            stopped = container_states(docker, settings)
            notes += killed_notes({n: stopped[n] for n in running if n in stopped})
        # Every profile: the one-shots (in one) are left behind otherwise.
        every_profile = client(settings, env_file(settings), profiles=["*"])
        every_profile.compose.down(volumes=volumes, remove_orphans=True, quiet=True)
    return DownReport(containers, vols, networks, notes)


def config(settings: Settings) -> str:
    """The compose file as compose renders it with the current settings (validates it)."""
    project = write_project_files(settings)
    settings, docker = project.settings, project.docker
    with docker_errors():
        rendered: dict[str, Any] = docker.compose.config(return_json=True)
    secrets = {
        value: f"<{variable.name} from .env>"
        for variable in SECRET_VARIABLES
        if (value := settings.value_of(variable))
    }
    # The rendering is for reading, not for leaking: secrets go before the YAML is written
    # (it would escape, quote or fold them), in compose's spelling too ($ written $$).
    return yaml.safe_dump(
        redacted(rendered, secrets), sort_keys=False, allow_unicode=True, width=1 << 16
    )


def redacted(value: Any, secrets: Mapping[str, str]) -> Any:
    """``value`` (a parsed document) with every secret replaced by its placeholder."""
    if isinstance(value, str):
        for secret, placeholder in sorted(secrets.items(), key=lambda s: -len(s[0])):
            value = value.replace(secret.replace("$", "$$"), placeholder)
            value = value.replace(secret, placeholder)
        return value
    if isinstance(value, Mapping):
        return {redacted(k, secrets): redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(item, secrets) for item in value]
    return value


def _project_label(settings: Settings) -> tuple[Literal["label"], str]:
    return ("label", f"com.docker.compose.project={settings.project_name}")


def urls(settings: Settings) -> list[tuple[str, str]]:
    """Where each service answers on this machine."""
    return [(s.name, s.url(settings)) for s in SERVICES]
