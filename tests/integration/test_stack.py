"""The stack on a real Docker daemon: health, scraping, the app contract, idempotence."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from mirante import settings, stack, waits
from mirante.services import INTERNAL
from mirante.tools import docker as docker_cli
from tests.helpers import TEST_PORTS, invoke, leftovers, project_env

# One stack for the session: these tests run in one xdist worker, in order.

BUILDABLE = ("prometheus", "alertmanager", "node-exporter", "postgres", "app")
NO_DEBIAN_PACKAGE = ("grafana", "loki", "tempo", "otel-collector")
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], deadline_s: float, what: str) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after the deadline."""
    value = waits.until(probe, deadline_s)
    if not value:
        pytest.fail(f"timed out after {deadline_s:g} s waiting for {what}")
    return value


def url(config: settings.Settings, service: str, path: str) -> str:
    return f"http://127.0.0.1:{config.ports[service]}{path}"


def prom_query(config: settings.Settings, query: str) -> list[dict[str, Any]]:
    answer = requests.get(
        url(config, "prometheus", "/api/v1/query"), params={"query": query}, timeout=5
    )
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def test_up_brings_buildable_services_healthy(running_stack: stack.UpReport) -> None:
    rows = {r.service: r for r in running_stack.rows}
    for name in BUILDABLE:
        assert rows[name].state == "healthy", rows[name]
        assert rows[name].seconds is not None
        assert rows[name].seconds >= 0
    if running_stack.source == "local":
        for name in NO_DEBIAN_PACKAGE:  # run only from a pinned image loaded beforehand
            if rows[name].state == "healthy":
                assert rows[name].image.endswith("(loaded)"), rows[name]
            else:
                assert rows[name].state == "unavailable"
                assert "no registry" in rows[name].reason


def test_every_service_answers_on_loopback_only(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    assert requests.get(url(stack_settings, "prometheus", "/-/ready"), timeout=5).status_code == 200
    assert (
        requests.get(url(stack_settings, "alertmanager", "/-/ready"), timeout=5).status_code == 200
    )
    assert "node_" in requests.get(url(stack_settings, "node-exporter", "/metrics"), timeout=5).text
    docker = stack.write_project_files(stack_settings).docker
    database = stack_settings.postgres_db
    answer = docker.compose.execute(
        "postgres",
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            stack_settings.postgres_user,
            "-d",
            database,
            "-tAc",
            "select current_database()",
        ],
        envs={
            "PGPASSWORD": settings.read_env_file(stack_settings.root / ".env")[
                "MIRANTE_POSTGRES_PASSWORD"
            ]
        },
        tty=False,
    )
    assert str(answer).strip() == database  # password auth over TCP, with the generated secret
    states = stack.container_states(docker, stack_settings)
    for name in BUILDABLE:
        container = states[name]
        bindings = [
            b for found in (container.network_settings.ports or {}).values() for b in found or []
        ]
        assert bindings, name
        assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}, name
    # The CLI's quick look (on every stack.up) words each state as the full inspection does.
    assert docker_cli.service_states(stack_settings.project_name) == {
        name: stack.describe(c) for name, c in states.items()
    }


def test_prometheus_scrapes_the_app_and_sees_its_requests(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    requests.get(url(stack_settings, "app", "/healthcheck"), timeout=5)
    requests.get(url(stack_settings, "app", "/no-such-page"), timeout=5)

    def app_target_up() -> bool:
        return any(s["value"][1] == "1" for s in prom_query(stack_settings, 'up{job="app"}'))

    wait_for(app_target_up, 60, "the app target to be up")
    series = wait_for(
        lambda: prom_query(
            stack_settings, 'http_requests_total{job="app",route="unmatched",status="404"}'
        ),
        60,
        "http_requests_total for the 404",
    )
    assert float(series[0]["value"][1]) >= 1
    for job in ("prometheus", "alertmanager", "node-exporter"):
        wait_for(lambda j=job: prom_query(stack_settings, f'up{{job="{j}"}} == 1'), 60, f"{job} up")


def test_alertmanager_is_wired_to_prometheus(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    def discovered() -> list[Any]:
        answer = requests.get(url(stack_settings, "prometheus", "/api/v1/alertmanagers"), timeout=5)
        return list(answer.json()["data"]["activeAlertmanagers"])

    managers = wait_for(discovered, 30, "Prometheus to discover Alertmanager")
    assert managers[0]["url"].startswith("http://alertmanager:9093")


def test_healthcheck_contract_with_trace_id(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    answer = requests.get(url(stack_settings, "app", "/healthcheck"), timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    # The probe's own trace is dropped: its id is named nowhere (Tempo would answer 404).
    assert "x-trace-id" not in answer.headers
    traced = requests.get(url(stack_settings, "app", "/"), timeout=5).headers["x-trace-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", traced)
    assert traced != "0" * 32
    caller = "4bf92f3577b34da6a3ce929d0e0e4736"
    continued = requests.get(
        url(stack_settings, "app", "/healthcheck"),
        headers={"traceparent": f"00-{caller}-00f067aa0ba902b7-01"},
        timeout=5,
    )
    assert continued.headers["x-trace-id"] == caller  # the caller's trace continues


def test_app_metrics_expose_the_http_families(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    requests.get(url(stack_settings, "app", "/healthcheck"), timeout=5)
    text = requests.get(url(stack_settings, "app", "/metrics"), timeout=5).text
    assert re.search(
        r'^http_requests_total\{method="GET",route="/healthcheck",status="200"\} \d', text, re.M
    )
    assert "http_request_duration_seconds_bucket{" in text


def test_second_up_changes_nothing(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    docker = stack.write_project_files(stack_settings).docker

    def services() -> dict[str, tuple[str, object]]:
        # The one-shots run again (compose re-runs a completed dependency): the healthprobe
        # copies its busybox, postgres-roles sets the app's role as .env has it. Every
        # long-running service must stay as it is.
        states = stack.container_states(docker, stack_settings).items()
        return {n: (c.id, c.state.started_at) for n, c in states if n not in INTERNAL}

    before = services()
    again = stack.up(stack_settings)
    assert services() == before
    assert again.built == []
    for row in again.rows:
        if row.service in BUILDABLE:
            assert (row.state, row.reason) == ("healthy", "already running")


def test_status_and_logs_tasks(running_stack: stack.UpReport, stack_env: dict[str, str]) -> None:
    status = invoke(stack_env, "stack.status")
    assert status.returncode == 0, status.stderr
    assert re.search(r"^prometheus\s.*healthy", status.stdout, re.M)
    app = TEST_PORTS["APP"]
    assert re.search(
        rf"^app\s.*healthy\s.*http://127\.0\.0\.1:{app}/healthcheck", status.stdout, re.M
    )
    logs = invoke(stack_env, "stack.logs", "app", "--tail", "5")
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert 1 <= len(lines) <= 5
    assert all(line.startswith("app-1") for line in lines)


def test_status_shows_the_image_cell_that_up_showed(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    """Once, status lacked "(loaded)" and left an unavailable service's cell empty."""
    shown = {row.service: row.image for row in running_stack.rows}
    status = {row.service: row.image for row in stack.status(stack_settings)}
    assert {s: status[s] for s in shown} == shown
    assert all(shown.values())


def test_loki_and_tempo_turn_healthy_within_5_s(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    """Their rings' min_ready_duration once held them 15 s (18.5 and 22.6 s to healthy)."""
    rows = {row.service: row for row in running_stack.rows}
    missing = [s for s in ("loki", "tempo") if rows[s].state != "healthy"]
    if missing:
        pytest.skip(f"{', '.join(missing)} cannot run here: {rows[missing[0]].reason}")
    stack.down(stack_settings)  # a start from nothing, as a user's first one
    again = {r.service: r for r in stack.up(stack_settings).rows}
    for service in ("loki", "tempo"):
        seconds = again[service].seconds
        assert seconds is not None
        assert seconds <= 5.0, (service, seconds)


def test_restarting_tempo_flushes_it_first_and_loses_no_trace(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    """Once, stack.restart and stack.down killed Tempo at its grace period, unflushed."""
    from mirante.observe import otlp

    rows = {row.service: row for row in running_stack.rows}
    if rows["tempo"].state != "healthy":
        pytest.skip(f"tempo cannot run here: {rows['tempo'].reason}")
    tempo = url(stack_settings, "tempo", "")
    requests.get(f"{tempo}/api/search", params={"limit": "1"}, timeout=10)  # then it ignores TERM
    trace_id = otlp.new_trace_id()
    otlp.send(url(stack_settings, "tempo-otlp", "/v1/traces"),
              otlp.span(trace_id, "mirante-test", "before-restart"))  # fmt: skip
    done = stack.restart(stack_settings, ["tempo"])
    assert [r.state for r in done.rows] == ["healthy"]
    assert all("data had been flushed to disk first" in note for note in done.notes), done.notes
    found = waits.until(
        lambda: requests.get(f"{tempo}/api/traces/{trace_id}", timeout=10).status_code == 200, 30
    )
    assert found, f"trace {trace_id} sent before the restart is gone"


def test_strict_refuses_a_service_that_cannot_run_here(
    running_stack: stack.UpReport, stack_env: dict[str, str]
) -> None:
    if running_stack.source != "local":
        pytest.skip("a registry answers here: every service can run")
    result = invoke(stack_env, "stack.up", "--strict", "--services", "grafana,prometheus")
    assert result.returncode == 1
    assert result.stderr.startswith("error: --strict and 1 service(s) cannot run here: grafana:")


def test_config_renders_without_printing_secrets(
    running_stack: stack.UpReport, stack_env: dict[str, str], stack_root: Path
) -> None:
    result = invoke(stack_env, "stack.config")
    assert result.returncode == 0, result.stderr
    assert "GF_SECURITY_ADMIN_PASSWORD: <MIRANTE_GRAFANA_ADMIN_PASSWORD from .env>" in result.stdout
    for name, value in settings.read_env_file(stack_root / ".env").items():
        if name.endswith("PASSWORD"):
            assert value not in result.stdout


SECRETS = {
    "MIRANTE_GRAFANA_ADMIN_PASSWORD": "pa$$w0rd-$HOME-${X}-dollars",
    "MIRANTE_POSTGRES_PASSWORD": "s\u00e9nha-\u00fcn\u00efcode-\u00e7\u00e3o-\u65e5\u672c",
    "MIRANTE_POSTGRES_APP_PASSWORD": "L" * 300 + "$tail",
}


def test_config_never_prints_a_secret_however_compose_spells_it(
    running_stack: stack.UpReport, stack_env: dict[str, str]
) -> None:
    """Once printed: $ as $$, non-ASCII escaped by YAML, a long one folded over two lines."""
    result = invoke({**stack_env, **SECRETS}, "stack.config")
    assert result.returncode == 0, result.stderr
    flat = "".join(result.stdout.split())
    for name, secret in SECRETS.items():
        assert f"<{name} from .env>" in result.stdout
        for spelling in (secret, secret.replace("$", "$$")):
            windows = {spelling[i : i + 10] for i in range(len(spelling) - 9)}
            shown = sorted(w for w in windows if w in flat)
            assert shown == [], (name, shown[:3])


def test_a_service_not_healthy_in_time_fails_with_its_name_and_logs(tmp_path: Path) -> None:
    from tests.helpers import scratch_checkout

    root = scratch_checkout(tmp_path / "slow")
    env = project_env("mirante-slow", root, MIRANTE_POSTGRES_PORT="16432")
    config = settings.load(root, environ=env)
    try:
        result = invoke(env, "stack.up", "--services", "postgres", "--timeout", "1")
        assert result.returncode == 1, result.stdout
        first, *log_lines = result.stderr.strip().splitlines()
        assert first.startswith("error: postgres did not become healthy within 1 s (state: ")
        assert "the wait of 1 s ran out" in first
        assert "invoke stack.logs postgres" in first
        # The service's own last lines, indented under the message (their text is the
        # service's, so only their number and place are asserted).
        assert 1 <= len(log_lines) <= 20
        assert all(line.startswith("    ") for line in log_lines)
    finally:
        stack.down(config, volumes=True)
    assert leftovers(config).containers == []


def test_a_crash_looping_service_says_how_long_it_was_waited_on_and_why(tmp_path: Path) -> None:
    """Compose stops waiting as soon as the container exits.

    The message says so, with the real seconds, not the timeout.
    """
    from tests.helpers import scratch_checkout

    root = scratch_checkout(tmp_path / "crash", copies=("prometheus",))
    (root / "prometheus" / "prometheus.yml").write_text("global:\n  scrape_interval: nonsense\n")
    env = project_env("mirante-crash", root, MIRANTE_PROMETHEUS_PORT="19990")
    config = settings.load(root, environ=env)
    try:
        started = time.monotonic()
        result = invoke(env, "stack.up", "--services", "prometheus", "--timeout", "120")
        elapsed = time.monotonic() - started
        assert result.returncode == 1, result.stdout
        first, *log_lines = result.stderr.strip().splitlines()
        waited = re.match(r"error: prometheus is not healthy after ([\d.]+) s of 120 s \(", first)
        assert waited, first
        assert float(waited[1]) < 120
        assert elapsed < 120
        assert "within 120 s" not in result.stderr
        code = re.search(r"it (?:keeps exiting \(exit code|exited with code) (\d+)", first)
        assert code, first
        assert int(code[1]) != 0, first
        assert log_lines
        assert all(line.startswith("    ") for line in log_lines)
    finally:
        stack.down(config, volumes=True)


def test_port_conflict_is_one_clear_line(tmp_path: Path) -> None:
    from tests.helpers import scratch_checkout

    root = scratch_checkout(tmp_path / "portcheck")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = project_env("mirante-portcheck", root, MIRANTE_NODE_EXPORTER_PORT=str(port))
        result = invoke(env, "stack.up", "--services", "node-exporter")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip()
    assert f"port {port}" in message
    assert "MIRANTE_NODE_EXPORTER_PORT" in message
    assert len(message.splitlines()) == 1
    config = settings.load(root, environ=env)
    assert leftovers(config).containers == []  # nothing was started


def test_down_with_volumes_leaves_nothing_and_is_idempotent(tmp_path: Path) -> None:
    from tests.helpers import scratch_checkout

    root = scratch_checkout(tmp_path / "down")
    env = project_env(
        "mirante-down", root, MIRANTE_POSTGRES_PORT="16433", MIRANTE_NODE_EXPORTER_PORT="16434"
    )
    config = settings.load(root, environ=env)
    up = invoke(env, "stack.up", "--services", "postgres,node-exporter")
    assert up.returncode == 0, up.stderr
    assert leftovers(config).volumes  # postgres keeps its data in a named volume
    down = invoke(env, "stack.down", "--volumes", "--yes")
    assert down.returncode == 0, down.stderr
    assert "removed 2 container(s), 1 network(s), 1 volume(s)" in down.stdout
    left = leftovers(config)
    assert (left.containers, left.volumes, left.networks) == ([], [], [])
    again = invoke(env, "stack.down", "--volumes", "--yes")
    assert again.returncode == 0, again.stderr
    assert "removed 0 container(s), 0 network(s), 0 volume(s)" in again.stdout


def test_the_users_shell_never_overrides_what_mirante_resolved(
    running_stack: stack.UpReport, stack_env: dict[str, str], stack_settings: settings.Settings
) -> None:
    resolved = settings.read_env_file(stack.env_file(stack_settings))
    hostile = {
        **stack_env,
        "MIRANTE_APP_IMAGE": "",  # the documented default, exported
        "MIRANTE_PROMETHEUS_IMAGE": "prom/prometheus:v3.15.0",  # the pin, absent here
        "MIRANTE_PROMETHEUS_PORT": f" {stack_env['MIRANTE_PROMETHEUS_PORT']} ",
    }
    result = invoke(hostile, "stack.up", "--services", "prometheus,app")
    assert result.returncode == 0, result.stderr
    docker = stack.write_project_files(stack_settings).docker
    states = stack.container_states(docker, stack_settings)
    assert str(states["prometheus"].config.image) == resolved["MIRANTE_PROMETHEUS_IMAGE"]
    assert str(states["app"].config.image) == resolved["MIRANTE_APP_IMAGE"]


def test_turning_slack_on_for_a_running_stack_delivers_its_secret(
    running_stack: stack.UpReport, stack_env: dict[str, str], stack_settings: settings.Settings
) -> None:
    docker = stack.write_project_files(stack_settings).docker
    before = stack.container_states(docker, stack_settings)["alertmanager"].id
    on = {**stack_env, "MIRANTE_SLACK_WEBHOOK_URL": "https://chat.example.org/hook/test"}
    try:
        result = invoke(on, "stack.up", "--services", "alertmanager")
        assert result.returncode == 0, result.stderr
        container = stack.container_states(docker, stack_settings)["alertmanager"]
        assert container.id != before  # recreated: the secret exists only in a new container
        said = docker.container.execute(container, ["cat", "/run/secrets/slack_webhook_url"])
        assert str(said).strip() == on["MIRANTE_SLACK_WEBHOOK_URL"]
    finally:
        back = invoke(stack_env, "stack.up", "--services", "alertmanager")
    assert back.returncode == 0, back.stderr
