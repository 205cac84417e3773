"""The runtime gates on the real stack, and the metric-existence gate catching a hole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import requests

from mirante import gates, settings, stack

from .test_stack import url

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gates"


def test_runtime_gates_pass_on_the_running_stack(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    runtime = [g.name for g in gates.GATES if g.kind == "runtime"]
    report = gates.run(stack_settings, runtime, reuse=True)
    statuses = {r.name: (r.status, r.reason) for r in report.results}
    assert [name for name, (status, _) in statuses.items() if status == gates.FAIL] == [], statuses
    for name in (
        "targets",
        "rules-loaded",
        "alertmanager-ready",
        "alert-path",
        "app-contract",
        "metrics-exist",
        "dashboard-queries",
    ):
        assert statuses[name][0] == gates.PASS, (name, statuses[name])
    healthy = {r.service for r in running_stack.rows if r.state == "healthy"}
    ingestion, why = statuses["ingestion"]
    if {"loki", "tempo"} <= healthy:
        assert ingestion == gates.PASS, why
        via = "through the collector" if "otel-collector" in healthy else "straight to Tempo's"
        assert via in why
    else:
        assert ingestion == gates.SKIPPED
        assert "not running here" in why
    manifest_path = gates.write_manifest(stack_settings, report)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["passed"] is True
    assert [g["name"] for g in manifest["gates"]] == runtime
    assert manifest["tools"]["promtool"]["version"].startswith("promtool, version")
    assert manifest["images"]["MIRANTE_PROMETHEUS_IMAGE"]
    assert (manifest_path.parent / "app-contract.txt").is_file()  # the raw /health/otel answer


def test_a_rule_on_a_metric_nobody_exports_fails_the_metric_gate(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    broken = stack_settings.root / "prometheus" / "rules" / "broken.yml"
    shutil.copy(FIXTURES / "rule-on-missing-metric.yml", broken)
    try:
        requests.post(url(stack_settings, "prometheus", "/-/reload"), timeout=10).raise_for_status()
        report = gates.run(stack_settings, ["metrics-exist"], reuse=True)
    finally:
        broken.unlink()
        requests.post(url(stack_settings, "prometheus", "/-/reload"), timeout=10)
    result = report.results[0]
    assert result.status == gates.FAIL
    assert result.reason == (
        "prometheus/rules/broken.yml: FixtureErrorsOnMissingMetric: metric "
        "http_requests_that_nobody_exports_total does not exist in Prometheus"
    )
