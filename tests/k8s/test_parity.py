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
from mirante.remote import generated, parity, steps
from tests.helpers import scratch_checkout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return scratch_checkout(tmp_path / "checkout", copies=("k8s", "prometheus", "config"))


def problems(root: Path, env: str = "prod") -> list[str]:
    config = settings.load(root, environ={})
    chosen = config.environments.get(env)
    return parity.problems(config, chosen, steps.render_overlay(chosen))


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document))


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_committed_environments_behave_like_compose(checkout: Path, env: str) -> None:
    assert problems(checkout, env) == []


def test_the_gate_passes_on_main(checkout: Path) -> None:
    config = settings.load(checkout, environ={})
    report = gates.run_gates(config, ["k8s-parity"])
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
        # 1. Every claim names the StorageClass the plan makes (EKS has no default).
        (
            "Prometheus's claim without a class",
            VALUES / "common/kube-prometheus-stack.yaml",
            lambda d: d["prometheus"]["prometheusSpec"].pop("storageSpec"),
            "prod: volumes: Prometheus's claim names no StorageClass, which nothing makes",
        ),
        (
            "Loki's write claims on another class",
            VALUES / "common/loki.yaml",
            lambda d: d["write"]["persistence"].update(storageClass="gp2"),
            "prod: volumes: Loki's write's claim names StorageClass 'gp2', which nothing makes",
        ),
        # 3. Exemplars are kept, as in the compose stack.
        (
            "no exemplar storage",
            VALUES / "common/kube-prometheus-stack.yaml",
            lambda d: d["prometheus"]["prometheusSpec"].pop("enableFeatures"),
            "prod: exemplars: the compose stack's Prometheus runs with "
            "--enable-feature=exemplar-storage, the cluster's does not",
        ),
        # 6. Alerts that fire twice, or never.
        (
            "the chart's PrometheusRuleFailures on",
            VALUES / "common/kube-prometheus-stack.yaml",
            lambda d: d["defaultRules"]["disabled"].pop("PrometheusRuleFailures"),
            "prod: alert rules: kube-prometheus-stack's PrometheusRuleFailures reads "
            "prometheus_rule_evaluation_failures_total, as mirante's "
            "PrometheusRuleEvaluationFailures does: it notifies twice",
        ),
        (
            "the chart's AlertmanagerFailedToSendAlerts on",
            VALUES / "common/kube-prometheus-stack.yaml",
            lambda d: d["defaultRules"]["disabled"].pop("AlertmanagerFailedToSendAlerts"),
            "prod: alert rules: kube-prometheus-stack's AlertmanagerFailedToSendAlerts reads "
            "alertmanager_notifications_failed_total, as mirante's "
            "AlertmanagerNotificationFailures does",
        ),
        (
            "memcached scraped as job tempo",
            VALUES / "common/tempo-distributed.yaml",
            lambda d: d["metaMonitoring"]["serviceMonitor"]["relabelings"].pop(),
            "prod: jobs: tempo-distributed's memcached is scraped as job 'tempo'",
        ),
        # 7. One version of each program.
        (
            "Loki at the chart's version",
            VALUES / "common/loki.yaml",
            lambda d: d["loki"].pop("image"),
            "prod: versions: loki runs loki at the chart default, the compose stack 3.7.8",
        ),
        (
            "Prometheus at another version",
            VALUES / "common/kube-prometheus-stack.yaml",
            lambda d: d["prometheus"]["prometheusSpec"]["image"].update(tag="v3.7.3"),
            "prod: versions: kube-prometheus-stack runs prometheus v3.7.3, the compose stack "
            "v3.15.0",
        ),
        (
            "Tempo at another version (tempo-distributed)",
            VALUES / "common/tempo-distributed.yaml",
            lambda d: d["tempo"]["image"].update(tag="2.9.0"),
            "prod: versions: tempo-distributed runs tempo 2.9.0, the compose stack 2.10.0",
        ),
        (
            "the collector's exporters under their deprecated names",
            VALUES / "common/opentelemetry-collector.yaml",
            lambda d: d["config"]["exporters"].update(
                {"otlphttp/loki": d["config"]["exporters"].pop("otlp_http/loki")}
            ),
            "prod: versions: the collector's exporter otlphttp/loki uses 'otlphttp', a "
            "deprecated alias since collector 0.144: name it otlp_http/loki",
        ),
        # 8. Grafana HA holds a login.
        (
            "two Grafanas on their own databases",
            VALUES / "prod/kube-prometheus-stack.yaml",
            lambda d: d["grafana"].pop("envFromSecrets"),
            "prod: Grafana: 2 replicas, each on its own SQLite database",
        ),
        (
            "two Grafanas on one ReadWriteOnce volume",
            VALUES / "prod/kube-prometheus-stack.yaml",
            lambda d: d["grafana"]["persistence"].update(enabled=True),
            "prod: Grafana: 2 replicas cannot share one ReadWriteOnce volume",
        ),
        (
            "the chart's rules read at another version",
            Path("k8s/helm/releases.yaml"),
            lambda d: d["releases"][0].update(version="79.6.0"),
            "prod: chart rules: k8s/helm/chart-rules.yaml describes kube-prometheus-stack "
            "79.5.0, k8s/helm/releases.yaml pins 79.6.0",
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


def test_dev_tempo_with_the_charts_own_generator_block_is_named(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point 4: the tempo chart hard-codes its metrics_generator block (URL only)."""
    made = generated.tempo_values

    def chart_default(settings: Any, env: Any, chart: str) -> dict[str, Any]:
        values = made(settings, env, chart)
        values.pop("config", None)
        return values

    monkeypatch.setattr(generated, "tempo_values", chart_default)
    found = problems(checkout, "dev")
    assert "dev: env label: Tempo's span metrics carry no env=dev (the tempo chart's config " \
        "(its metrics_generator block): registry.external_labels)" in found, found  # fmt: skip
    assert any(p.startswith("dev: exemplars: Tempo writes span metrics without exemplars")
               for p in found), found  # fmt: skip


def test_span_metrics_without_exemplars_are_named_in_tempo_distributed(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = generated.generator_config

    def without(settings: Any, env: Any) -> dict[str, Any]:
        config = made(settings, env)
        for write in config["storage"]["remote_write"]:
            write.pop("send_exemplars")
        return config

    monkeypatch.setattr(generated, "generator_config", without)
    found = problems(checkout, "staging")
    assert any(p.startswith("staging: exemplars: Tempo writes span metrics without exemplars "
                            "(metricsGenerator.config") for p in found), found  # fmt: skip


def test_a_record_the_chart_records_too_is_named(checkout: Path) -> None:
    """Point 5: the node-exporter recording rules once shared the chart's names."""
    rules = checkout / "prometheus/rules/golden-signals.yml"
    rules.write_text(
        rules.read_text().replace(
            "record: env_instance:node_cpu_utilisation:rate5m",
            "record: instance:node_cpu_utilisation:rate5m",
        )
    )
    found = problems(checkout)
    assert (
        "prod: recording rules: instance:node_cpu_utilisation:rate5m is recorded by mirante's "
        "golden-signals.yml and by kube-prometheus-stack's node-exporter.rules with another "
        "formula: rename mirante's"
    ) in found, found


def test_an_alert_on_a_metric_only_compose_publishes_is_named(checkout: Path) -> None:
    """BackupTooOld shipped to a cluster, where nothing publishes mirante_backup_*."""
    rules = checkout / "prometheus/rules"
    backup = (rules / "backup.yml").read_text()
    body = backup[backup.index("      - alert: BackupTooOld") :]
    (rules / "backup.yml").unlink()
    (rules / "stack.yml").write_text((rules / "stack.yml").read_text() + body)
    found = problems(checkout)
    assert any(
        p.startswith("prod: alert rules: BackupTooOld reads "
                     "mirante_backup_last_success_timestamp_seconds, which only the compose stack "
                     "publishes: it could never fire in a cluster") for p in found
    ), found  # fmt: skip


def test_info_alerts_reaching_the_webhook_uninhibited_are_named(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point 6: replacing the chart's inhibit rules once left InfoInhibitor inhibiting nothing."""
    made = generated.alertmanager_config

    def without(settings: Any, env: Any) -> dict[str, Any]:
        config = made(settings, env)
        config["inhibit_rules"].remove(generated.INFO_INHIBITION)
        return config

    monkeypatch.setattr(generated, "alertmanager_config", without)
    found = problems(checkout)
    info = [p for p in found if "(severity info) reaches 'default' uninhibited" in p]
    assert {p.split("'s ")[1].split(" ")[0] for p in info} == {
        "CPUThrottlingHigh", "KubeNodeEviction", "KubeNodePressure", "KubeQuotaAlmostFull",
        "KubeQuotaFullyUsed", "KubeletTooManyPods", "NodeCPUHighUsage",
    }, found  # fmt: skip


def test_relabelling_follows_prometheus() -> None:
    rules = [
        {"action": "replace", "sourceLabels": ["job"], "replacement": "monitoring/x",
         "targetLabel": "job"},
        {"action": "replace", "targetLabel": "job", "replacement": "tempo"},
        {"sourceLabels": [parity.COMPONENT_LABEL], "regex": "mem(.*)", "targetLabel": "job",
         "replacement": "tempo-$1${2}"},
    ]  # fmt: skip
    assert parity.relabelled(rules, {parity.COMPONENT_LABEL: "memcached"})["job"] == (
        "tempo-cached"
    )
    assert parity.relabelled(rules, {parity.COMPONENT_LABEL: "ingester"})["job"] == "tempo"
    assert parity.tempo_component_jobs(rules[:2], "monitoring")["memcached"] == "tempo"


def test_an_observed_service_scraped_without_its_limits_or_labels_is_named(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = generated.service_monitors

    def broken(*args: Any) -> list[dict[str, Any]]:
        monitors = made(*args)
        monitors[0].pop("sampleLimit")
        monitors[0]["endpoints"][0]["relabelings"] = monitors[0]["endpoints"][0]["relabelings"][:2]
        return monitors

    monkeypatch.setattr(generated, "service_monitors", broken)
    found = problems(checkout)
    assert "prod: scrape limits: job 'app' has sampleLimit None, the compose stack 5000" in found
    assert any(p.startswith("prod: observed services: app is declared in prod") for p in found)


def test_a_service_declared_in_an_environment_is_scraped_and_alerted_there(
    checkout: Path,
) -> None:
    """service.add NAME --env ENV ...: its ServiceMonitor in that environment only."""
    services = checkout / "config" / "services.yaml"
    services.write_text(
        services.read_text()
        + "  shop:\n    metrics: http://127.0.0.1:8081/metrics\n    contract: [http]\n"
        "    environments:\n      staging: {namespace: shop, service: shop-api, port: metrics}\n"
    )
    config = settings.load(checkout, environ={})
    staging = config.environments.get("staging")
    names = [m["name"] for m in generated.service_monitors(config, staging)]
    assert names == ["observed-app", "observed-shop"]
    assert [m["name"] for m in generated.service_monitors(config, config.environments.get("dev"))
            ] == ["observed-app"]  # fmt: skip
    assert problems(checkout, "staging") == []
