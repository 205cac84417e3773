"""Telemetry on the running stack: LLM metrics, the circuit breaker, rules, alert delivery."""

from __future__ import annotations

import time
import warnings
from typing import Any

import pytest
import requests
import yaml

from mirante import settings, stack, waits
from mirante.observe import otlp
from mirante.tools import promtools

from .test_stack import prom_query, url, wait_for

# One stack for the session: these tests run in one xdist worker, in order.

LLM_FAMILIES = (
    "llm_request_latency_seconds_count",
    "llm_tokens_total",
    "circuit_breaker_state",
    "llm_provider_up",
    "llm_errors_total",
)


def simulate(config: settings.Settings, provider: str, mode: str) -> dict[str, Any]:
    answer = requests.post(
        url(config, "app", "/simulate"), json={"provider": provider, "mode": mode}, timeout=5
    )
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def test_traffic_makes_http_and_llm_metrics_non_zero(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    for query in (
        'sum(http_requests_total{job="app",route="/llm/complete"})',
        'sum(llm_request_latency_seconds_count{job="app"})',
        'sum(llm_tokens_total{job="app",type="completion"})',
    ):
        wait_for(
            lambda q=query: [s for s in prom_query(stack_settings, q) if float(s["value"][1]) > 0],
            90,
            f"{query} > 0",
        )
    for family in LLM_FAMILIES:
        assert prom_query(stack_settings, f'{family}{{job="app"}}'), family
    providers = {s["metric"]["provider"] for s in prom_query(stack_settings, "llm_tokens_total")}
    assert providers == {"alpha", "beta"}


def test_every_rule_group_is_loaded_and_healthy(
    running_stack: stack.UpReport, stack_settings: settings.Settings, repo: Any
) -> None:
    answer = requests.get(url(stack_settings, "prometheus", "/api/v1/rules"), timeout=5).json()
    groups = answer["data"]["groups"]
    assert {g["name"] for g in groups} == {"api", "llm", "stack", "golden-signals", "backup"}
    loaded = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert loaded == {r["alert"] for r in promtools.alerting_rules(repo)}
    for group in groups:
        for rule in group["rules"]:
            assert rule["health"] != "err", (rule["name"], rule.get("lastError"))


def test_otel_health_reports_each_signal(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    def scraped() -> dict[str, Any] | None:
        report: dict[str, Any] = requests.get(
            url(stack_settings, "app", "/health/otel"), timeout=5
        ).json()
        return report if report["signals"]["metrics"]["status"] == "ok" else None

    report = wait_for(scraped, 30, "Prometheus to scrape the app")
    assert set(report["signals"]) == {"traces", "metrics", "logs"}
    if not otlp.app_exports_arrive({r.service for r in running_stack.rows if r.state == "healthy"}):
        traces = wait_for(
            lambda: (
                (r := requests.get(url(stack_settings, "app", "/health/otel"), timeout=5).json())[
                    "signals"
                ]["traces"]["status"]
                == "degraded"
                and r
            ),
            30,
            "a failed trace export to be reported",
        )
        assert "is its receiver up?" in traces["signals"]["traces"]["reason"]
        assert traces["status"] == "degraded"


def test_breaker_opens_and_the_outage_alert_reaches_the_webhook(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    if stack_settings.app.traffic_rps <= 0:
        pytest.skip("MIRANTE_TRAFFIC_RPS=0: no traffic to trip the breaker")
    simulate(stack_settings, "alpha", "down")
    try:
        wait_for(
            lambda: prom_query(
                stack_settings, 'circuit_breaker_state{job="app",provider="alpha"} == 1'
            ),
            60,
            "circuit_breaker_state for alpha to show open",
        )
        assert requests.get(url(stack_settings, "app", "/simulate"), timeout=5).json()["alpha"][
            "circuit"
        ] in (
            "open",
            "half-open",
        )

        def delivered() -> list[dict[str, Any]]:
            received = requests.get(
                url(stack_settings, "app", "/alerts/received"), timeout=5
            ).json()
            return [
                a
                for a in received
                if a["alertname"] == "LLMProviderDown"
                and a["status"] == "firing"
                and a["labels"].get("provider") == "alpha"
            ]

        alert = wait_for(delivered, 150, "LLMProviderDown to reach the webhook")[0]
        assert alert["receiver"] == "critical"
        assert alert["severity"] == "critical"
        assert alert["summary"] == "LLM provider alpha is unreachable"
        beta_down = prom_query(stack_settings, 'llm_provider_up{job="app",provider="beta"} == 0')
        assert beta_down == []  # the other provider is untouched
    finally:
        simulate(stack_settings, "alpha", "healthy")


def test_every_dashboard_query_is_accepted_by_prometheus(
    running_stack: stack.UpReport, stack_settings: settings.Settings, repo: Any
) -> None:
    import json

    from mirante.gates import dashboards

    checked = 0
    for path in dashboards.dashboard_files(repo):
        for query in dashboards.queries(json.loads(path.read_text())):
            if query.datasource != "prometheus":
                continue
            expr = dashboards.concrete(query.expr, {"$job": "app", "$provider": ".*"})
            answer = requests.get(
                url(stack_settings, "prometheus", "/api/v1/query"),
                params={"query": expr},
                timeout=10,
            )
            assert answer.status_code == 200, (query.dashboard, query.panel, expr, answer.text)
            checked += 1
    assert checked >= 20


def test_latency_histograms_carry_trace_id_exemplars(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    def exemplars() -> list[Any]:
        answer = requests.get(
            url(stack_settings, "prometheus", "/api/v1/query_exemplars"),
            params={
                "query": 'llm_request_latency_seconds_bucket{job="app"}',
                "start": "0",
                "end": "9999999999",
            },
            timeout=10,
        ).json()
        return [e for series in answer.get("data") or [] for e in series["exemplars"]]

    found = wait_for(exemplars, 60, "exemplars on llm_request_latency_seconds")
    assert all(len(e["labels"]["trace_id"]) == 32 for e in found)


# Panels that stay empty until a component this machine may lack is running.
NEEDS_ABSENT_COMPONENT = {
    "Loki ingestion (lines/s)": "loki",
    "Tempo ingestion (spans/s)": "tempo",
    "Backup age": "backups (invoke backup)",
}


def test_every_prometheus_panel_shows_data_after_traffic(
    running_stack: stack.UpReport, stack_settings: settings.Settings, repo: Any
) -> None:
    import json

    from mirante.gates import dashboards

    running = {r.service for r in running_stack.rows if r.state == "healthy"}

    def empty_panels() -> list[str]:
        shows: dict[str, bool] = {}  # a panel shows data when any of its queries returns some
        for path in dashboards.dashboard_files(repo):
            for query in dashboards.queries(json.loads(path.read_text())):
                needs = NEEDS_ABSENT_COMPONENT.get(query.panel)
                if query.datasource != "prometheus" or (needs and needs.split()[0] not in running):
                    continue
                expr = dashboards.concrete(query.expr, {"$job": "app", "$provider": ".*"})
                key = f"{query.dashboard} / {query.panel}"
                shows[key] = shows.get(key, False) or bool(prom_query(stack_settings, expr))
        assert len(shows) >= 15
        return [panel for panel, ok in shows.items() if not ok]

    # Rates and recording rules need a few scrapes and evaluations after start-up.
    assert waits.until(empty_panels, 120, 2, done=lambda empty: not empty) == []


def _healthy(report: stack.UpReport, *names: str) -> str:
    missing = [
        n for n in names if n not in {r.service for r in report.rows if r.state == "healthy"}
    ]
    return (
        f"needs {', '.join(missing)}, not running here (no registry, no loaded image)"
        if missing
        else ""
    )


class RouteNote(UserWarning):
    """Says, in pytest's summary, that the app's OTLP went straight to Loki / Tempo."""


def _app_telemetry(report: stack.UpReport, *needed: str) -> None:
    """Skip unless ``needed`` run; say so when the app exports without a collector."""
    if reason := _healthy(report, *needed):
        pytest.skip(reason)
    if _healthy(report, "otel-collector"):
        warnings.warn(
            RouteNote(
                "no collector runs here: the app sends its traces and logs straight to "
                "Tempo's and Loki's own OTLP receivers"
            ),
            stacklevel=2,
        )


def test_a_trace_reaches_tempo(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    """The app's own trace: through the collector, or straight to Tempo without one."""
    _app_telemetry(running_stack, "tempo")
    answer = requests.get(url(stack_settings, "app", "/"), timeout=5)
    trace_id = answer.headers["x-trace-id"]

    def stored() -> dict[str, Any] | None:
        found = requests.get(url(stack_settings, "tempo", f"/api/traces/{trace_id}"), timeout=5)
        return found.json() if found.status_code == 200 else None

    trace = wait_for(stored, 60, f"trace {trace_id} in Tempo")
    assert "GET /" in json_text(trace)


def test_a_log_line_reaches_loki_with_its_trace_id(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    """The app's own log line: through the collector, or straight to Loki without one."""
    _app_telemetry(running_stack, "loki")
    trace_id = requests.get(url(stack_settings, "app", "/"), timeout=5).headers["x-trace-id"]

    def found() -> list[Any]:
        answer = requests.get(
            url(stack_settings, "loki", "/loki/api/v1/query_range"),
            params={
                "query": f'{{service_name="mirante-app"}} | trace_id="{trace_id}"',
                "limit": "10",
            },
            timeout=5,
        ).json()
        return list(answer.get("data", {}).get("result", []))

    streams = wait_for(found, 60, f"a log line with trace_id {trace_id} in Loki")
    assert trace_id in json_text(streams)


def test_span_metrics_reach_prometheus_with_exemplars_grafana_can_open(
    running_stack: stack.UpReport, stack_settings: settings.Settings, repo: Any
) -> None:
    """Tempo's metrics generator turns the app's spans into span metrics and the service graph.

    Their exemplars in Prometheus carry the label the Grafana datasource maps.
    """
    _app_telemetry(running_stack, "tempo", "prometheus")
    for _ in range(3):
        requests.get(url(stack_settings, "app", "/"), timeout=5)

    def exemplars() -> list[dict[str, Any]]:
        now = time.time()
        answer = requests.get(
            url(stack_settings, "prometheus", "/api/v1/query_exemplars"),
            params={"query": "traces_spanmetrics_latency_bucket", "start": now - 600, "end": now},
            timeout=5,
        ).json()
        return [e for series in answer.get("data", []) for e in series["exemplars"]]

    found = wait_for(exemplars, 120, "span-metric exemplars in Prometheus")
    assert prom_query(stack_settings, 'traces_spanmetrics_calls_total{service="mirante-app"}')
    assert prom_query(stack_settings, "traces_service_graph_request_total")
    labels = {name for e in found for name in e["labels"]}
    provisioned = yaml.safe_load(
        (repo / "grafana/provisioning/datasources/datasources.yml").read_text()
    )
    prometheus = next(d for d in provisioned["datasources"] if d["type"] == "prometheus")
    mapped = {d["name"] for d in prometheus["jsonData"]["exemplarTraceIdDestinations"]}
    assert labels, (labels, mapped)
    assert labels <= mapped, (labels, mapped)


def json_text(value: Any) -> str:
    import json

    return json.dumps(value)
