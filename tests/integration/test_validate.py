"""`invoke validate.service` against the sample app, and against a plain web page."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from mirante import stack
from mirante.observe import contract, otlp
from tests.helpers import TEST_PORTS, invoke

from .test_stack import wait_for

# One stack for the session: these tests run in one xdist worker, in order.

APP = f"http://127.0.0.1:{TEST_PORTS['APP']}"
PLAIN_PORT = 18099


def rows(stdout: str) -> dict[str, str]:
    """Each check's pass / FAIL, by name, from the printed table."""
    found = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.replace("┃", "│").split("│")]
        if len(cells) >= 2 and cells[1] in ("pass", "FAIL"):
            found[cells[0]] = cells[1]
    return found


def test_the_sample_app_honours_the_contract(
    running_stack: stack.UpReport, stack_env: dict[str, str]
) -> None:
    done = invoke(stack_env, "validate.service", APP)
    result = rows(done.stdout)
    assert len(result) == 12, done.stdout  # 3 HTTP-level, /metrics, 2 HTTP + 5 LLM families, OTLP
    healthy = {r.service for r in running_stack.rows if r.state == "healthy"}
    others = {name: state for name, state in result.items() if name != "OTLP exporters"}
    assert set(others.values()) == {"pass"}, done.stdout
    if otlp.app_exports_arrive(healthy):
        # Through the collector, or straight to Tempo and Loki where no collector runs.
        def exported() -> subprocess.CompletedProcess[str] | None:
            again = invoke(stack_env, "validate.service", APP)
            return again if again.returncode == 0 else None

        passed = wait_for(exported, 60, "the app's OTLP export to succeed")
        assert rows(passed.stdout)["OTLP exporters"] == "pass", passed.stdout
        assert passed.stdout.strip().endswith("12 checks passed.")
    else:
        # Nothing to receive the app's OTLP here: its export really fails, and says so.
        assert done.returncode == 1, done.stdout
        assert result["OTLP exporters"] == "FAIL", done.stdout
        assert "1 of 12 checks failed: OTLP exporters" in done.stderr
        pytest.skip("no OTLP receiver (collector, or Tempo and Loki) runs here")


@pytest.fixture
def plain_page(running_stack: stack.UpReport, stack_env: dict[str, str]) -> Iterator[str]:
    """The app's own (locally built) image serving a plain directory listing."""
    with app_image(stack_env, "mirante-validate-plain", "--entrypoint", "python3", "-",
                   "-m", "http.server", "8000") as url:  # fmt: skip
        wait_for(lambda: _answers(url), 30, "the plain page")
        yield url


@contextmanager
def app_image(stack_env: dict[str, str], name: str, *args: str) -> Iterator[str]:
    """A container of the sample app's image on PLAIN_PORT: its URL, removed after.

    ``args`` are docker run's options, then "-", then the command, if any.
    """
    container = f"{stack_env['MIRANTE_PROJECT_NAME']}-app-1"
    image = subprocess.run(
        ["docker", "inspect", "--format", "{{.Config.Image}}", container],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    options, command = (
        (args[: args.index("-")], args[args.index("-") + 1 :]) if "-" in args else (args, ())
    )
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{PLAIN_PORT}:8000",
         *options, image, *command],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{PLAIN_PORT}"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_a_plain_page_fails_with_a_fix_for_each_check(
    plain_page: str, stack_env: dict[str, str]
) -> None:
    done = invoke(stack_env, "validate.service", plain_page)
    assert done.returncode == 1
    result = rows(done.stdout)
    assert result["health endpoint"] == "FAIL"
    assert result["/metrics endpoint"] == "FAIL"
    assert result["HTTP metric http_requests_total"] == "FAIL"
    assert result["traceparent propagation"] == "FAIL"
    assert result["OTLP exporters"] == "FAIL"
    assert "GET /healthcheck: 404" in done.stdout
    assert "serve GET /healthcheck" in done.stdout
    assert "expose GET /metrics in the Prometheus text format" in done.stdout
    assert done.stderr.startswith("error: ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_service_whose_exports_never_go_out_fails_the_otlp_check(
    running_stack: stack.UpReport, stack_env: dict[str, str]
) -> None:
    """A service that reports "nothing exported yet" forever fails: it is not a pass.

    The checks' own requests make spans; an exporter that never sends them (a batch delay
    of 10 minutes here, an exporter wired to no processor in real life) reports nothing,
    forever. Waiting a moment for the first outcome tells the two apart.
    """
    quiet = ("-e", "MIRANTE_TRAFFIC_RPS=0", "-e", "OTEL_BSP_SCHEDULE_DELAY=600000",
             "-e", "OTEL_BLRP_SCHEDULE_DELAY=600000")  # fmt: skip
    with app_image(stack_env, "mirante-validate-quiet", *quiet) as url:
        wait_for(lambda: _answers(f"{url}/healthcheck"), 60, "the quiet app")
        checks = {c.name: c for c in contract.validate(url, export_wait=3)}
    otlp_check = checks[contract.OTLP_CHECK]
    assert not otlp_check.ok, otlp_check
    assert "traces" in otlp_check.detail
    assert "no export finished within 3 s" in otlp_check.detail
    assert "batch processor" in otlp_check.fix
    assert checks["health endpoint"].ok
    assert checks["/metrics endpoint"].ok
