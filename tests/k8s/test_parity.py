"""The parity gate: it passes on the committed files and names each broken item.

Each fixture is a scratch checkout with one thing changed the way it once was (or could
be): a job nothing scrapes, a lost limit, an alert that ends at a null receiver, a lost
link between signals, the chart's TargetDown left on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mirante import gates, settings
from mirante.remote import generated, parity, plans
from tests.helpers import scratch_checkout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return scratch_checkout(tmp_path / "checkout", copies=("k8s",))


def problems(root: Path, env: str = "prod") -> list[str]:
    config = settings.load(root, environ={})
    chosen = config.environments.get(env)
    return parity.problems(config, chosen, plans.render_overlay(chosen))


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document))


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_committed_environments_behave_like_compose(checkout: Path, env: str) -> None:
    assert problems(checkout, env) == []


def test_the_gate_passes_on_main(checkout: Path) -> None:
    config = settings.load(checkout, environ={})
    report = gates.run(config, ["k8s-parity"])
    (result,) = report.results
    assert result.status == gates.PASS, result.reason


VALUES = Path("k8s/helm/values")


@pytest.mark.parametrize(
    ("what", "path", "change", "expected"),
    [
        (
            "Tempo's ServiceMonitors off (tempo-distributed)",
            VALUES / "common/tempo-distributed.yaml",
            lambda d: d["metaMonitoring"]["serviceMonitor"].update(enabled=False),
            "prod: jobs: the rules read job 'tempo' (TempoNotReady), which nothing scrapes",
        ),
        (
            "Loki's job left as the chart names it",
            VALUES / "common/loki.yaml",
            lambda d: d["monitoring"]["serviceMonitor"].pop("relabelings"),
            "prod: jobs: the rules read job 'loki' (LokiNotReady), which nothing scrapes as "
            "'loki' (scraped: ",
        ),
        (
            "the collector's metrics port closed",
            VALUES / "common/opentelemetry-collector.yaml",
            lambda d: d["ports"]["metrics"].update(enabled=False),
            "prod: jobs: the rules read job 'otel-collector' (CollectorNotReady)",
        ),
        (
            "no env label on scraped series",
            VALUES / "prod/kube-prometheus-stack.yaml",
            lambda d: d["prometheus"]["prometheusSpec"].pop("scrapeClasses"),
            "prod: env label: no default scrapeClass sets env=prod",
        ),
        (
            "the chart's TargetDown on",
            VALUES / "common/kube-prometheus-stack.yaml",
            lambda d: d["defaultRules"].pop("disabled"),
            "prod: alert rules: TargetDown is kube-prometheus-stack's too",
        ),
    ],
)
def test_each_broken_values_file_is_named(
    checkout: Path, what: str, path: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    edit(checkout / path, change)
    found = problems(checkout)
    assert any(p.startswith(expected) for p in found), (what, found)


def test_span_metrics_written_through_one_service_to_two_replicas_are_named(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        generated,
        "remote_write_urls",
        lambda settings, env: ["http://kps-prometheus.monitoring.svc:9090/api/v1/write"],
    )
    found = problems(checkout)
    assert any(
        p.startswith("prod: remote write: 2 Prometheus replicas, but Tempo writes span metrics "
                     "to 1 address(es)") for p in found
    ), found  # fmt: skip


def test_the_single_binary_tempo_of_dev_is_checked_too(checkout: Path) -> None:
    edit(checkout / VALUES / "common/tempo.yaml", lambda d: d.update(serviceMonitor={}))
    found = problems(checkout, "dev")
    assert any(p.startswith("dev: jobs: the rules read job 'tempo'") for p in found), found


@pytest.mark.parametrize(
    ("path", "change", "expected"),
    [
        (
            "k8s/base/servicemonitor.yaml",
            lambda d: d["spec"].pop("sampleLimit"),
            "prod: scrape limits: job 'app' has sampleLimit None, the compose stack 5000",
        ),
        (
            "k8s/base/otlp-metrics-servicemonitor.yaml",
            lambda d: d["spec"]["endpoints"][0].pop("relabelings"),
            "prod: scrape limits: job 'otlp-metrics' is not scraped",
        ),
    ],
)
def test_each_broken_overlay_is_named(
    checkout: Path, path: str, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    edit(checkout / path, change)
    assert expected in problems(checkout)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda v: v["alertmanager"]["config"]["route"]["routes"].insert(
                0, {"receiver": "null", "matchers": ['severity="critical"']}
            ),
            "prod: receivers: APIDown (severity critical) ends at 'null', which sends nowhere",
        ),
        (
            lambda v: v.pop("alertmanager"),
            "prod: receivers: no alertmanager.config; every alert goes to null",
        ),
        (
            lambda v: v["grafana"]["additionalDataSources"][1]["jsonData"].pop("tracesToLogsV2"),
            "prod: datasource links: tempo lacks tracesToLogsV2 (the compose stack has it)",
        ),
        (
            lambda v: v["grafana"]["sidecar"]["datasources"].pop("extraJsonData"),
            "prod: datasource links: prometheus lacks exemplarTraceIdDestinations",
        ),
        (
            lambda v: v["additionalPrometheusRulesMap"].pop("llm"),
            "prod: alert rules: CircuitBreakerOpen is in the compose stack, not in the cluster",
        ),
    ],
)
def test_each_broken_generated_value_is_named(
    checkout: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    made = generated.cluster_values

    def broken(*args: Any) -> dict[str, Any]:
        values = made(*args)
        change(values)
        return values

    monkeypatch.setattr(generated, "cluster_values", broken)
    found = problems(checkout)
    assert any(p.startswith(expected) for p in found), found
