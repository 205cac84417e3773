"""`invoke health`: one status per component, OK / WARN / CRITICAL with a reason.

Locally the components are the stack's containers, Postgres and its seed, the app's
latency, the Docker and backup disks, the newest verified backup, Prometheus' targets and
the critical alerts Alertmanager holds. For a remote environment they are the pods of its
namespaces, its database, its newest database dump and, where ``urls`` in
environments.yaml says how to reach them, the app, Prometheus and Alertmanager.

Every check runs in its own thread and turns its own failure into a CRITICAL row, so one
component that does not answer never hides the others. A check that cannot run here is a
SKIP row with the reason: it never counts as OK, and it does not change the exit code.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import requests

from mirante import backup, images, stack
from mirante.db import databases as db
from mirante.db import seed
from mirante.db.postgres import StackPostgres, pg_tool
from mirante.environments import Environment
from mirante.errors import HealthSettingsError, MiranteError
from mirante.files import human_size
from mirante.services import BY_NAME, SERVICES, Service
from mirante.settings import Settings
from mirante.tools.docker import client, docker_errors

if TYPE_CHECKING:
    from python_on_whales import Container, DockerClient

Status = Literal["OK", "WARN", "CRITICAL", "SKIP"]
EXIT_CODES: Mapping[str, int] = {"OK": 0, "SKIP": 0, "WARN": 1, "CRITICAL": 2}
HTTP_TIMEOUT = 2.0  # seconds for one request to Prometheus or Alertmanager
DEADLINE = 10.0  # seconds for the whole run: a check that has not answered by then is CRITICAL
KUBECTL_TIMEOUT = "5s"
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


@dataclass(frozen=True)
class Row:
    """One component's health: its status and what was seen."""

    component: str
    status: Status
    reason: str


@dataclass(frozen=True)
class Report:
    """Every row of one health run."""

    env: str
    rows: list[Row]
    seconds: float

    @property
    def exit_code(self) -> int:
        """0 when all is OK, 1 with a warning, 2 with a critical row."""
        return max((EXIT_CODES[r.status] for r in self.rows), default=0)

    @property
    def status(self) -> str:
        """The worst status of the rows."""
        return ("OK", "WARN", "CRITICAL")[self.exit_code]

    def as_json(self) -> str:
        """The report as JSON, for ``--json``."""
        return json.dumps(
            {
                "env": self.env,
                "status": self.status,
                "exit_code": self.exit_code,
                "seconds": self.seconds,
                "checks": [asdict(r) for r in self.rows],
            },
            indent=2,
        )


HealthProbe = tuple[str, Callable[[], list[Row]]]


def check(settings: Settings, env: str = "local") -> Report:
    """Run every check of ``env`` side by side; the rows in a fixed order.

    Raises:
        HealthSettingsError: a WARN threshold beyond its CRITICAL one.
        UnknownEnvironment, EnvironmentsError, GuardRefused, ToolNotFound: for a remote
            ``env`` that is unknown, or whose kube context is not the expected one.
    """
    _check_thresholds(settings)
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=10) as pool:
        checks = (
            local_checks(settings, pool)
            if env == "local"
            else remote_checks(settings, settings.environments.get(env), pool)
        )
        futures = [(name, pool.submit(_guarded, name, run)) for name, run in checks]
        wait([f for _, f in futures], timeout=DEADLINE + 1)
        rows = [
            row
            for name, future in futures
            for row in (
                future.result()
                if future.done()
                else [Row(name, "CRITICAL", f"no answer within {DEADLINE:g} s")]
            )
        ]
        pool.shutdown(wait=False, cancel_futures=True)
    return Report(env, rows, round(time.monotonic() - began, 2))


def _guarded(name: str, run: Callable[[], list[Row]]) -> list[Row]:
    """A check's rows; its failure as one CRITICAL row naming what went wrong."""
    try:
        return run()
    except MiranteError as exc:
        return [Row(name, "CRITICAL", str(exc).splitlines()[0])]
    except requests.RequestException as exc:
        return [Row(name, "CRITICAL", f"does not answer: {request_error(exc)}")]
    except OSError as exc:
        return [Row(name, "CRITICAL", f"{exc.strerror or exc} ({exc.filename or name})")]


def _check_thresholds(settings: Settings) -> None:
    pairs = (
        ("MIRANTE_HEALTH_P95_WARN", settings.health.p95_warn, "MIRANTE_HEALTH_P95_CRITICAL",
         settings.health.p95_critical),
        ("MIRANTE_HEALTH_DISK_CRITICAL", settings.health.disk_critical,
         "MIRANTE_HEALTH_DISK_WARN", settings.health.disk_warn),
        ("MIRANTE_HEALTH_BACKUP_WARN_HOURS", settings.health.backup_warn_hours,
         "MIRANTE_HEALTH_BACKUP_CRITICAL_HOURS", settings.health.backup_critical_hours),
    )  # fmt: skip
    for low_name, low, high_name, high in pairs:
        if low > high:
            raise HealthSettingsError(
                f"{low_name}={low:g} is above {high_name}={high:g}; "
                f"set {low_name} to at most {high:g}"
            )


# -- the local stack ------------------------------------------------------------------


def local_checks(settings: Settings, pool: ThreadPoolExecutor) -> list[HealthProbe]:
    """The named probes of the local stack (the container list is fetched once, in ``pool``)."""
    docker = client(settings)
    containers = pool.submit(stack.container_states, docker, settings)
    return [
        ("containers", lambda: container_rows(settings, docker, containers.result())),
        ("postgres data", lambda: [local_database(settings, docker, containers.result())]),
        ("app latency", lambda: [latency(settings, BY_NAME["app"].url(settings))]),
        ("disk: docker", lambda: [docker_disk(settings, docker)]),
        ("disk: backups", lambda: [disk("disk: backups", settings.backup_dir, settings)]),
        ("last verified backup", lambda: [last_verified_backup(settings)]),
        ("prometheus targets", lambda: [targets(_base(BY_NAME["prometheus"], settings))]),
        ("critical alerts", lambda: [critical_alerts(_base(BY_NAME["alertmanager"], settings))]),
    ]


def _base(service: Service, settings: Settings) -> str:
    return service.url(settings).removesuffix(service.path)


def container_rows(
    settings: Settings, docker: DockerClient, containers: Mapping[str, Container]
) -> list[Row]:
    """One row per service: its state, uptime and restarts."""
    missing = [s for s in SERVICES if s.name not in containers]
    present = images.present_images(docker) if missing else set()
    choices = images.plan(settings, missing, "local", present) if missing else {}
    rows = []
    for service in SERVICES:
        container = containers.get(service.name)
        if container is None and not choices[service.name].available:
            reason = f"not run here: {choices[service.name].reason}"
            rows.append(Row(service.name, "SKIP", reason))
            continue
        rows.append(container_row(service.name, container))
    return rows


def container_row(name: str, container: Container | None) -> Row:
    """The health of one container.

    OK when healthy (or running without a healthcheck), WARN while starting or after
    restarts, CRITICAL otherwise.
    """
    state = stack.describe(container)
    if container is None:
        return Row(name, "CRITICAL", "no container: `invoke stack.up` creates it")
    logs = f"`invoke stack.logs {name}` shows why"
    if state in ("exited", "dead", "created", "paused", "restarting", "removing"):
        code = container.state.exit_code
        return Row(name, "CRITICAL", f"{state} (exit code {code}); {logs}, `invoke stack.up`")
    if state == "unhealthy":
        health = container.state.health
        last = health.log[-1].output if health and health.log else ""
        detail = f": {_first_line(last)}" if last and last.strip() else ""
        return Row(name, "CRITICAL", f"unhealthy{detail}; {logs}")
    started = container.state.started_at
    up = f"up {_duration(time.time() - started.timestamp())}" if started else "up"
    restarts = container.restart_count or 0
    if restarts:
        return Row(name, "WARN", f"{state}, {up}, restarted {restarts} time(s); {logs}")
    if state == "starting":
        return Row(name, "WARN", f"starting: its healthcheck has not passed yet ({up})")
    return Row(name, "OK", f"{state}, {up}, no restarts")


def _seed_sql(env: str) -> str:
    """Server version, then each seed table's row count (-1 when the table is missing)."""
    counts = [
        # query_to_xml runs the count only when the table exists (CASE never evaluates the
        # other branch), so a database that was never seeded answers instead of failing.
        f"case when to_regclass('{table}') is null then -1 else (xpath('/row/c/text()', "  # noqa: S608
        f"query_to_xml('select count(*) as c from {table}', false, true, '')))[1]::text::int end"
        for table in seed.tables_for(env)  # names from seed.TABLES, never from input
    ]
    return "select " + ", ".join(["current_setting('server_version')", *counts])


def database_row(env: str, answer: str) -> Row:
    """Judge the answer of :func:`_seed_sql`: connected, and every seed table filled."""
    version, *counts = answer.strip().splitlines()[-1].split("|")
    version = version.split()[0]  # 15.18, not 15.18 (Debian 15.18-0+deb12u1)
    tables = seed.tables_for(env)
    empty = [t for t, n in zip(tables, counts, strict=True) if int(n) <= 0]
    filled = ", ".join(
        f"{t.removeprefix('mirante.')} {n}" for t, n in zip(tables, counts, strict=True)
    )
    if empty:
        return Row(
            "postgres data",
            "WARN",
            f"connected (Postgres {version}) but not seeded: {', '.join(empty)} missing or "
            f"empty; run `invoke seed --env {env}`",
        )
    return Row("postgres data", "OK", f"connected (Postgres {version}); seed rows: {filled}")


def local_database(
    settings: Settings, docker: DockerClient, containers: Mapping[str, Container]
) -> Row:
    """The local Postgres: it answers, and the seed rows are there."""
    container = containers.get("postgres")
    if container is None or not stack.is_running(container):
        return Row("postgres data", "CRITICAL", "the postgres container is not running")
    pg = StackPostgres(settings, docker, container)
    return database_row("local", pg.sql(_seed_sql("local"), settings.postgres_db))


def latency(settings: Settings, url: str, deadline: float = 0) -> Row:
    """p95 of up to ``health_probes`` sequential GETs of ``url`` (nearest rank).

    No request starts after ``deadline`` (``time.monotonic()``; default: the whole run's,
    :data:`DEADLINE` from now), and none outlasts it: the p95 is of those that fit.
    """
    deadline = deadline or time.monotonic() + DEADLINE
    warn, critical = settings.health.p95_warn, settings.health.p95_critical
    seconds: list[float] = []
    failures: list[str] = []
    sent = 0
    with requests.Session() as session:
        for _ in range(settings.health.probes):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sent += 1
            began = time.perf_counter()
            try:
                response = session.get(url, timeout=min(critical * 2, left))
            except requests.RequestException as exc:
                failures.append(request_error(exc))
                break  # an app that does not answer one does not answer twenty
            seconds.append(time.perf_counter() - began)
            if response.status_code != 200:
                failures.append(f"HTTP {response.status_code}")
    if failures:
        return Row(
            "app latency",
            "CRITICAL",
            f"{len(failures)} of {sent} requests to {url} failed: {failures[-1]}",
        )
    if not seconds:
        return Row("app latency", "CRITICAL", f"no request to {url} fit in {DEADLINE:g} s")
    seconds.sort()
    p95 = seconds[math.ceil(0.95 * len(seconds)) - 1]
    cut = "" if len(seconds) == settings.health.probes else f" (all that fit in {DEADLINE:g} s)"
    shown = f"p95 {p95 * 1000:.0f} ms over {len(seconds)} requests to {url}{cut}"
    if p95 > critical:
        return Row("app latency", "CRITICAL", f"{shown}, above {critical * 1000:.0f} ms")
    if p95 > warn:
        return Row("app latency", "WARN", f"{shown}, above {warn * 1000:.0f} ms")
    return Row("app latency", "OK", shown)


def docker_disk(settings: Settings, docker: DockerClient) -> Row:
    """Free space of Docker's data root."""
    with docker_errors():
        root = docker.system.info().docker_root_dir
    path = Path(str(root or ""))
    if not root or not path.is_dir():
        return Row(
            "disk: docker",
            "SKIP",
            f"Docker's data directory {root or '(unknown)'} is not on this machine",
        )
    return disk("disk: docker", path, settings)


def disk(component: str, path: Path, settings: Settings) -> Row:
    """Free space of the file system holding ``path`` (its nearest existing parent)."""
    where = path
    while not where.exists() and where != where.parent:
        where = where.parent
    stats = os.statvfs(where)
    total = stats.f_blocks * stats.f_frsize
    free = stats.f_bavail * stats.f_frsize
    percent = 100 * free / total if total else 0.0
    shown = f"{human_size(free)} free of {human_size(total)} ({percent:.0f}%) at {path}"
    if percent < settings.health.disk_critical:
        return Row(component, "CRITICAL", f"{shown}, below {settings.health.disk_critical:g}%")
    if percent < settings.health.disk_warn:
        return Row(component, "WARN", f"{shown}, below {settings.health.disk_warn:g}%")
    return Row(component, "OK", shown)


def last_verified_backup(settings: Settings) -> Row:
    """Age of the newest verified backup set."""
    sets = backup.list_sets(settings)
    name = "last verified backup"
    if not sets:
        return Row(name, "OK", "no backup sets yet; `invoke backup` makes one")
    verified = [s for s in sets if s.verified]
    if not verified:
        return Row(
            name,
            "WARN",
            f"{len(sets)} set(s), none verified; run `invoke backup.verify {sets[-1].name}`",
        )
    newest = verified[-1]
    hours = (datetime.now(UTC) - newest.created_at).total_seconds() / 3600
    return _aged(name, hours, f"{newest.name}, verified", settings)


def _aged(name: str, hours: float, what: str, settings: Settings) -> Row:
    shown = f"{what}, {_duration(hours * 3600)} old"
    if hours > settings.health.backup_critical_hours:
        limit = settings.health.backup_critical_hours
        return Row(name, "CRITICAL", f"{shown}, older than {limit:g} h; run `invoke backup`")
    if hours > settings.health.backup_warn_hours:
        limit = settings.health.backup_warn_hours
        return Row(name, "WARN", f"{shown}, older than {limit:g} h; run `invoke backup`")
    return Row(name, "OK", shown)


def targets(prometheus: str) -> Row:
    """Active scrape targets that are down, by job, with Prometheus' last error."""
    response = requests.get(
        f"{prometheus}/api/v1/targets", params={"state": "active"}, timeout=HTTP_TIMEOUT
    )
    response.raise_for_status()
    active = response.json()["data"]["activeTargets"]
    if not active:
        return Row("prometheus targets", "WARN", "no target discovered yet (just started?)")
    waiting = [t for t in active if t.get("health") == "unknown"]
    if waiting and len(waiting) == len(active):
        return Row(
            "prometheus targets",
            "WARN",
            f"none of {len(active)} targets scraped yet (just started?)",
        )
    down = [t for t in active if t.get("health") == "down"]
    if down:
        jobs = ", ".join(sorted({t["labels"].get("job", "?") for t in down}))
        error = _first_line(down[0].get("lastError", ""))
        return Row(
            "prometheus targets", "WARN", f"{len(down)} of {len(active)} down ({jobs}): {error}"
        )
    up = len(active) - len(waiting)
    return Row(
        "prometheus targets",
        "OK",
        f"{up} up" + (f", {len(waiting)} not scraped yet" if waiting else ""),
    )


def critical_alerts(alertmanager: str) -> Row:
    """Alerts firing now with severity critical (silenced and inhibited ones left out)."""
    response = requests.get(
        f"{alertmanager}/api/v2/alerts",
        params={"active": "true", "silenced": "false", "inhibited": "false"},
        timeout=HTTP_TIMEOUT,
    )
    response.raise_for_status()
    firing = response.json()
    critical = sorted({a["labels"]["alertname"] for a in firing if _severity(a) == "critical"})
    others = len([a for a in firing if _severity(a) != "critical"])
    also = f"; {others} other alert(s) firing" if others else ""
    if critical:
        return Row("critical alerts", "CRITICAL", f"firing: {', '.join(critical)}{also}")
    return Row("critical alerts", "OK", f"none firing{also}")


def _severity(alert: Mapping[str, Any]) -> str:
    return str(alert.get("labels", {}).get("severity", ""))


# -- a remote environment -------------------------------------------------------------


def remote_checks(
    settings: Settings, env: Environment, pool: ThreadPoolExecutor
) -> list[HealthProbe]:
    """The checks of a remote environment, once its kube context is the expected one."""
    from mirante.remote import guard

    guard.guarded(env, dry_run=False)
    checks: list[HealthProbe] = [
        (f"pods {ns}", functools.partial(lambda ns: [pods(env, ns)], ns))
        for ns in dict.fromkeys((env.app_namespace, env.observability_namespace))
    ]

    def app(url: str) -> Row:
        return latency(settings, f"{url}/healthcheck")

    return [
        *checks,
        ("postgres data", lambda: [remote_database(settings, env.name)]),
        ("app latency", lambda: [_with_url(env, "app", "app latency", app)]),
        ("disk: backups", lambda: [disk("disk: backups", settings.backup_dir, settings)]),
        ("last database dump", lambda: [last_dump(settings, env.name)]),
        (
            "prometheus targets",
            lambda: [_with_url(env, "prometheus", "prometheus targets", targets)],
        ),
        (
            "critical alerts",
            lambda: [_with_url(env, "alertmanager", "critical alerts", critical_alerts)],
        ),
    ]


def _with_url(env: Environment, key: str, component: str, run: Callable[[str], Row]) -> Row:
    """``run`` against the environment's URL ``key``; SKIP when environments.yaml has none."""
    if key not in env.urls:
        return Row(component, "SKIP", f"no urls.{key} for {env.name} in environments.yaml")
    return run(env.urls[key])


def pods(env: Environment, namespace: str) -> Row:
    """The pods of one namespace of a remote environment: all ready, none restarting."""
    from mirante.tools.kube import Kubectl, run_kube

    kubectl = Kubectl(env.context)
    command = kubectl(
        "--namespace",
        namespace,
        "get",
        "pods",
        "-o",
        "json",
        f"--request-timeout={KUBECTL_TIMEOUT}",
    )
    listing = json.loads(run_kube(command, timeout=30).stdout or "{}")
    return pod_row(namespace, listing.get("items") or [])


def pod_row(namespace: str, items: Sequence[Mapping[str, Any]]) -> Row:
    """Judge ``kubectl get pods -o json`` items: every pod Running and Ready, restarts."""
    component = f"pods {namespace}"
    live = [p for p in items if p.get("status", {}).get("phase") != "Succeeded"]
    if not live:
        return Row(component, "CRITICAL", "no pods")
    broken, restarted = [], []
    for pod in live:
        name = pod["metadata"]["name"]
        status = pod.get("status", {})
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        if status.get("phase") != "Running" or not ready:
            waiting = [
                (c.get("state") or {}).get("waiting", {}).get("reason", "")
                for c in status.get("containerStatuses") or []
            ]
            why = next((w for w in waiting if w), status.get("phase", "Unknown"))
            broken.append(f"{name} {why}")
        restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
        if restarts:
            restarted.append(f"{name} {restarts}")
    if broken:
        return Row(
            component, "CRITICAL", f"{len(broken)} of {len(live)} not ready: {', '.join(broken)}"
        )
    if restarted:
        return Row(component, "WARN", f"{len(live)} ready; restarts: {', '.join(restarted)}")
    return Row(component, "OK", f"{len(live)} ready, no restarts")


def remote_database(settings: Settings, env: str) -> Row:
    """The database of a remote environment answers."""
    if not settings.database_urls.get(env):
        variable = db.url_variable(env)
        return Row("postgres data", "SKIP", f"{variable} is not set")
    url = db.database_url(settings, env)
    argv = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "|", "-c", _seed_sql(env)]
    return database_row(env, pg_tool(settings, client(settings), url, argv))


def last_dump(settings: Settings, env: str) -> Row:
    """The newest ``db.backup`` dump of ``env`` (each one was read back by pg_restore)."""
    name = "last database dump"
    dumps = db.dumps(settings, env)
    if not dumps:
        return Row(name, "WARN", f"no dump of {env} yet; run `invoke db.backup --env {env}`")
    newest = dumps[-1]
    hours = (time.time() - newest.stat().st_mtime) / 3600
    return _aged(name, hours, newest.name, settings)


# -- formatting -------------------------------------------------------------------------


def request_error(exc: requests.RequestException) -> str:
    """What went wrong with a request, without urllib3's nested retry text."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    found = _ERRNO.search(str(exc))
    return found.group(1) if found else _first_line(exc)


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0][:200] if text else ""


def _duration(seconds: float) -> str:
    """``42 s``, ``7 min``, ``5.2 h``, ``3.1 d``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
