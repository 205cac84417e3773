"""Rules, their promtool tests, and Alertmanager routing, checked with the real tools."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mirante import promtools


@pytest.fixture(autouse=True)
def tools_present() -> None:
    for name in ("promtool", "amtool"):
        try:
            promtools.tool(name)
        except promtools.ToolMissing as exc:
            if os.environ.get("MIRANTE_REQUIRE_DOCKER") == "1":
                pytest.fail(str(exc))
            pytest.skip(str(exc))


def test_every_rule_file_passes_promtool_check(repo: Path) -> None:
    outcome = promtools.check_rules(repo)
    assert outcome.ok, outcome.output


def test_promtool_unit_tests_pass(repo: Path) -> None:
    outcome = promtools.test_rules(repo)
    assert outcome.ok, outcome.output


def test_every_alert_has_a_firing_and_a_quiet_test(repo: Path) -> None:
    tested = promtools.tested_alerts(repo)
    for rule in promtools.alerting_rules(repo):
        assert tested.get(rule["alert"]) == {"fires", "quiet"}, rule["alert"]


def test_every_alert_is_labelled_annotated_and_has_a_runbook_section(repo: Path) -> None:
    runbook = (repo / "docs" / "runbooks" / "alerts.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9-]", "", h.lower()) for h in re.findall(r"^## (.+)$", runbook, re.M)
    }
    for rule in promtools.alerting_rules(repo):
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["labels"].get("service"), name
        for key in ("summary", "description", "runbook_url"):
            assert rule["annotations"].get(key), (name, key)
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert (repo / page).is_file() and anchor in anchors, (
            name,
            rule["annotations"]["runbook_url"],
        )


def test_seed_alerts_are_all_there(repo: Path) -> None:
    names = {r["alert"] for r in promtools.alerting_rules(repo)}
    assert {
        "APIDown",
        "APIHighErrorRate",
        "APIHighLatency",
        "LLMHighLatency",
        "LLMErrorRateHigh",
        "CircuitBreakerOpen",
        "LLMProviderDown",
    } <= names


def test_alertmanager_config_is_valid(repo: Path) -> None:
    outcome = promtools.check_alertmanager(repo)
    assert outcome.ok, outcome.output


def test_each_severity_routes_where_the_cases_say(repo: Path) -> None:
    cases = promtools.route_cases(repo)
    assert {c.expected for c in cases} >= {"critical", "warning", "default"}
    for case in cases:
        assert case.ok, f"{case.labels} went to {case.actual!r}, expected {case.expected!r}"
