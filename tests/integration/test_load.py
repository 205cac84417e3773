"""invoke load on the running stack: its figures against Prometheus's own counters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from mirante import settings, stack
from mirante.tools.docker import service_states
from tests.helpers import invoke

from .test_stack import prom_query, url

RPS, SECONDS = 20, 15
ERRORS_ROUTE = 'http_requests_total{job="app",route="/error",status="500"}'


def at(config: settings.Settings, expr: str, when: float) -> float:
    answer = requests.get(
        url(config, "prometheus", "/api/v1/query"),
        params={"query": expr, "time": f"{when:.3f}"},
        timeout=5,
    )
    answer.raise_for_status()
    found = answer.json()["data"]["result"]
    assert found, f"Prometheus has no {expr} at {when}"
    return float(found[0]["value"][1])


@pytest.fixture(scope="module")
def report(
    running_stack: stack.UpReport,
    stack_settings: settings.Settings,
    stack_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], Path, float, str]:
    directory = tmp_path_factory.mktemp("load") / "report"
    errors_before = sum(float(s["value"][1]) for s in prom_query(stack_settings, ERRORS_ROUTE))
    done = invoke(
        stack_env, "load", "--rps", str(RPS), "--duration", str(SECONDS),
        "--mix", "healthy=2,llm=1,errors=1", "--report", str(directory), timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    document = json.loads((directory / "report.json").read_text())
    return document, directory, errors_before, done.stdout


def test_every_request_was_sent_at_the_rate_and_the_apps_counter_saw_each_error(
    report: tuple[dict[str, Any], Path, float, str], stack_settings: settings.Settings
) -> None:
    document, _, errors_before, _ = report
    client = document["client"]
    assert client["total"]["requests"] == RPS * SECONDS
    assert client["total"]["achieved_rps"] == pytest.approx(RPS, rel=0.05)
    assert client["dropped"] == 0
    assert not client["interrupted"]
    sent_errors = client["by_kind"]["errors"]["requests"]
    assert client["by_kind"]["errors"]["errors"] == sent_errors  # every /error is a 500
    assert sent_errors > 0
    # The app counted exactly as many 500s on /error (only this load calls it), as
    # Prometheus scraped them.
    after = document["ingest"]["readings"]["prometheus samples appended"]["after"][1]
    errors_after = at(stack_settings, f"sum({ERRORS_ROUTE})", after + 30)
    assert errors_after - errors_before == sent_errors
    assert [w["seconds"] for w in client["windows"]] == [10, 5]
    assert sum(w["requests"] for w in client["windows"]) == RPS * SECONDS


def test_the_ingest_figures_are_prometheuss_own_counters(
    report: tuple[dict[str, Any], Path, float, str], stack_settings: settings.Settings
) -> None:
    ingest = report[0]["ingest"]
    readings = ingest["readings"]["prometheus samples appended"]
    (v0, t0), (v1, t1) = readings["before"], readings["after"]
    metric = "sum(prometheus_tsdb_head_samples_appended_total)"
    assert at(stack_settings, metric, t0) == v0
    assert at(stack_settings, metric, t1) == v1
    appended = ingest["rates"]["prometheus samples appended"]
    assert appended["value"] == pytest.approx((v1 - v0) / (t1 - t0))
    # Prometheus's own rate() over the same span agrees (it extrapolates to the edges).
    span = f"{t1 - t0:.0f}s"
    own = at(stack_settings, f"sum(rate(prometheus_tsdb_head_samples_appended_total[{span}]))", t1)
    assert appended["value"] == pytest.approx(own, rel=0.1)
    assert appended["series"], "the per-window series"
    head = at(stack_settings, "sum(prometheus_tsdb_head_series)", t1)
    assert ingest["head_series_after"]["value"] == pytest.approx(head, rel=0.02)


def test_a_service_that_is_not_running_is_not_measured_never_zero(
    report: tuple[dict[str, Any], Path, float, str], stack_settings: settings.Settings
) -> None:
    rates = report[0]["ingest"]["rates"]
    states = service_states(stack_settings.project_name)
    jobs = {"loki lines": "loki", "tempo spans": "tempo", "collector accepted": "otel-collector"}
    for name, service in jobs.items():
        if states.get(service) in ("healthy", "running"):
            assert rates[name]["value"] is not None, (name, rates[name])
        else:
            assert rates[name]["value"] is None, (name, rates[name])
            assert rates[name]["not_measured"].startswith(f"{service} is not running")
    containers = report[0]["containers"]["services"]
    assert {"prometheus", "app"} <= set(containers)
    assert containers["app"]["memory_mib"]["max"] > 10


def test_the_report_has_a_table_per_environment_and_plots_that_open_offline(
    report: tuple[dict[str, Any], Path, float, str],
) -> None:
    document, directory, _, stdout = report
    envs = [p["env"] for p in document["projections"]]
    assert envs == ["local", "dev", "staging", "prod"]
    for env in envs:
        assert f"{env}: USD per month" in stdout
    prod = document["projections"][3]
    samples = document["ingest"]["rates"]["prometheus samples appended"]["value"]
    metrics = next(line for line in prod["lines"] if line["item"] == "metrics")
    bps = document["ingest"]["bytes_per_sample"]["value"] or 1.5  # 1.5: the assumption
    assert metrics["gb_day"] == pytest.approx(samples * bps * 2 * 86400 / 1e9)  # 2 replicas
    assert metrics["retention_days"] == 30
    for plot in ("latency", "rps", "ingest"):
        assert (directory / f"{plot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (directory / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 3
    assert "http://" not in page.replace(document["options"]["url"], "")  # nothing to fetch
    assert not list(directory.parent.glob(".*partial*"))
