"""A developer's own service, observed: the example shop (Node.js), not the sample app.

As the README says it: the stack is up; a second service runs on this machine, on a port of
its own; `invoke service.add shop --metrics http://127.0.0.1:PORT/metrics`. Then Prometheus
scrapes it as job shop within 30 s, the golden-signals dashboard lists it, service.list and
service.check say what arrives; stopping it puts APIDown for shop in pending, then firing,
and the app's webhook receives it. A service bound to 127.0.0.1 only is refused with the fix.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mirante import settings, stack, waits
from mirante.observe import otlp
from tests.helpers import REPO, build_example_shop, invoke


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_shop(image: str, name: str, port: int, host: str, traces: str, logs: str) -> str:
    """The shop in a container on the host's network: a process of this machine, to Docker."""
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    started = subprocess.run(
        ["docker", "run", "-d", "--name", name, "--network", "host",
         "-e", f"PORT={port}", "-e", f"HOST={host}",
         "-e", f"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={traces}",
         "-e", f"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT={logs}",
         "-e", "OTEL_SERVICE_NAME=shop", image],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    up = waits.until(
        lambda: (
            requests.get(f"http://127.0.0.1:{port}/healthcheck", timeout=2).ok
            if _answers(port)
            else False
        ),
        30,
    )
    assert up, subprocess.run(["docker", "logs", name], capture_output=True, text=True).stdout
    # The probe above made a span: once its batch is out (1 s), /health/otel says how the
    # export went, so the contract check below sees the truth, not "nothing exported yet".
    exported = waits.until(
        lambda: requests.get(f"http://127.0.0.1:{port}/health/otel", timeout=2).json(),
        30, 0.5, done=lambda r: "nothing exported yet" not in json.dumps(r["signals"]["traces"]),
    )  # fmt: skip
    assert "nothing exported yet" not in json.dumps(exported["signals"]["traces"]), exported
    return name


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def prometheus(config: settings.Settings, path: str, **params: str) -> Any:
    port = config.ports["prometheus"]
    answer = requests.get(f"http://127.0.0.1:{port}{path}", params=params, timeout=5)
    answer.raise_for_status()
    return answer.json()["data"]


def dashboard_job_selector() -> str:
    """The series selector of the golden-signals dashboard's job variable, $env = all."""
    path = REPO / "grafana" / "dashboards" / "mirante" / "golden-signals.json"
    (job,) = [v for v in json.loads(path.read_text())["templating"]["list"] if v["name"] == "job"]
    found = re.fullmatch(r"label_values\((.+), job\)", job["query"]["query"])
    assert found, job["query"]
    return found.group(1).replace("$env", ".*")


@pytest.fixture(scope="module")
def shop_image(stack_settings: settings.Settings) -> str:
    return build_example_shop(stack_settings)


@pytest.fixture
def shop(
    running_stack: stack.UpReport, stack_settings: settings.Settings, shop_image: str
) -> Iterator[tuple[str, int]]:
    port = free_port()
    # Where the stack receives OTLP from this machine: the collector, or, where none runs,
    # Tempo's and Loki's own receivers (as the sample app is pointed).
    running = {r.service for r in running_stack.rows if r.state == "healthy"}
    route = otlp.route(stack_settings, running)
    name = run_shop(shop_image, "mirantetest-shop", port, "0.0.0.0", route.traces, route.logs)  # noqa: S104
    yield name, port
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def test_the_second_services_traces_logs_and_exemplars_arrive(
    running_stack: stack.UpReport, stack_env: dict[str, str], shop: tuple[str, int]
) -> None:
    """Through service.add, its traces reach Tempo, its logs Loki, its exemplars name them."""
    running = {r.service for r in running_stack.rows if r.state == "healthy"}
    if not otlp.app_exports_arrive(running):
        pytest.skip("nothing receives OTLP here (no collector, and not both Tempo and Loki)")
    _, port = shop
    added = invoke(stack_env, "service.add", "shop", "--metrics",
                   f"http://127.0.0.1:{port}/metrics")  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    try:

        def observed() -> subprocess.CompletedProcess[str]:
            requests.get(f"http://127.0.0.1:{port}/orders", timeout=5)
            return invoke(stack_env, "service.check", "shop")

        checked = waits.until(observed, 60, 3, done=lambda done: done.returncode == 0)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        for signal in ("traces in Tempo", "logs in Loki", "exemplars"):
            line = next(x for x in checked.stdout.splitlines() if x.startswith(signal))
            assert "│ ok" in line, checked.stdout
    finally:
        invoke(stack_env, "service.remove", "shop")


def test_a_second_service_is_scraped_drawn_alerted_on_and_checked(
    running_stack: stack.UpReport,
    stack_settings: settings.Settings,
    stack_env: dict[str, str],
    shop: tuple[str, int],
) -> None:
    name, port = shop
    running = {r.service for r in running_stack.rows if r.state == "healthy"}
    receiver = otlp.app_exports_arrive(running)
    args = ["service.add", "shop", "--metrics", f"http://127.0.0.1:{port}/metrics"]
    # No OTLP receiver here (no collector image): its exports fail, honestly, and only
    # --force adds it, saying what will not work.
    added = invoke(stack_env, *args, *([] if receiver else ["--force"]))
    said = added.stdout + added.stderr
    assert added.returncode == 0, said
    assert "shop is observed (config/services.yaml)" in said
    if not receiver:
        assert "note: will not work: OTLP exporters:" in said
    began = time.monotonic()
    try:
        # This shop's target, on its port: the test before may have left one named shop that
        # Prometheus has not dropped yet.
        up = f'up{{job="shop",instance=~".+:{port}"}}'
        scraped = waits.until(
            lambda: prometheus(stack_settings, "/api/v1/query", query=up)["result"],
            30, 1, done=lambda r: bool(r) and r[0]["value"][1] == "1",
        )  # fmt: skip
        assert scraped, f"{up} is not 1 within 30 s"
        assert scraped[0]["metric"]["contract"] == "http"
        assert scraped[0]["metric"]["env"] == "local"
        # The golden-signals dashboard's job variable, as Grafana asks Prometheus for it.
        listed = prometheus(stack_settings, "/api/v1/label/job/values",
                            **{"match[]": dashboard_job_selector()})  # fmt: skip
        assert {"app", "shop"} <= set(listed), listed
        for path in ("/orders", "/", "/error"):
            requests.get(f"http://127.0.0.1:{port}{path}", timeout=5)

        table = invoke(stack_env, "service.list")
        assert table.returncode == 0, table.stderr
        row = next(line for line in table.stdout.splitlines() if line.startswith("shop "))
        assert "up, last scrape" in row
        checked = invoke(stack_env, "service.check", "shop")
        assert "scraped" in checked.stdout
        assert "reachable from Prometheus" in checked.stdout
        if not receiver:  # its traces and logs: the test above, skipped here with why
            assert "tempo is not running here" in checked.stdout

        # Stopping it: APIDown for shop, pending within 30 s, firing after its 1 minute.
        subprocess.run(["docker", "stop", "-t", "2", name], capture_output=True, check=True)
        stopped = time.monotonic()

        def state() -> str:
            for alert in prometheus(stack_settings, "/api/v1/alerts")["alerts"]:
                if alert["labels"].get("alertname") == "APIDown" and (
                    alert["labels"].get("service") == "shop"
                ):
                    return str(alert["state"])
            return ""

        assert waits.until(state, 30, 1) in ("pending", "firing")
        assert time.monotonic() - stopped <= 30
        assert waits.until(state, 120, 2, done=lambda s: s == "firing") == "firing"
        app = f"http://127.0.0.1:{stack_settings.ports['app']}/alerts/received"

        def received() -> list[dict[str, Any]]:
            found = requests.get(app, timeout=5).json()
            alerts = found.get("alerts", found) if isinstance(found, dict) else found
            return [a for a in alerts if json.dumps(a).find('"shop"') >= 0
                    and "APIDown" in json.dumps(a)]  # fmt: skip

        assert waits.until(received, 60, 2), "the webhook never received APIDown for shop"
    finally:
        removed = invoke(stack_env, "service.remove", "shop")
        assert removed.returncode == 0, removed.stderr
    assert not (Path(stack_env["MIRANTE_ROOT"]) / ".mirante/targets/observed/shop.json").exists()
    assert time.monotonic() - began < 240


def test_a_service_bound_to_loopback_only_is_refused_with_the_fix(
    running_stack: stack.UpReport,
    stack_settings: settings.Settings,
    stack_env: dict[str, str],
    shop_image: str,
) -> None:
    """127.0.0.1 on this machine is unreachable from Prometheus's container: never a silent down."""
    port = free_port()
    nowhere = "http://127.0.0.1:9/v1/traces"
    name = run_shop(shop_image, "mirantetest-shop-loopback", port, "127.0.0.1", nowhere, nowhere)
    try:
        before = (Path(stack_env["MIRANTE_ROOT"]) / "config/services.yaml").read_text()
        refused = invoke(stack_env, "service.add", "loopy", "--metrics",
                         f"http://127.0.0.1:{port}/metrics")  # fmt: skip
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "listens on 127.0.0.1 only" in refused.stderr
        assert "make it listen on 0.0.0.0" in refused.stderr
        assert (Path(stack_env["MIRANTE_ROOT"]) / "config/services.yaml").read_text() == before
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
