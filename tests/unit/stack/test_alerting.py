"""Rules, their promtool tests, and Alertmanager routing, checked with the real tools."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

import pytest

from mirante.stack import alerting
from mirante.tools import promtools


@pytest.fixture(autouse=True)
def tools_present() -> None:
    for name in ("promtool", "amtool"):
        if shutil.which(name) is None:
            reason = f"{name} is not on this host (scripts/ci/bootstrap.sh installs it)"
            if os.environ.get("MIRANTE_REQUIRE_DOCKER") == "1":
                pytest.fail(reason)
            pytest.skip(reason)


@pytest.fixture
def tools(repo: Path) -> promtools.Tools:
    return promtools.Tools(repo)


def test_every_rule_file_passes_promtool_check(tools: promtools.Tools) -> None:
    outcome = promtools.check_rules(tools)
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
        assert (repo / page).is_file(), (name, rule["annotations"]["runbook_url"])
        assert anchor in anchors, (name, rule["annotations"]["runbook_url"])


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


def test_alertmanager_config_is_valid(tools: promtools.Tools, repo: Path) -> None:
    outcome = promtools.check_alertmanager(tools, repo / "alertmanager" / "alertmanager.yml")
    assert outcome.ok, outcome.output


def test_each_severity_routes_where_the_cases_say(tools: promtools.Tools, repo: Path) -> None:
    cases = promtools.route_cases(tools, repo / "alertmanager" / "alertmanager.yml")
    assert {c.expected for c in cases} >= {"critical", "warning", "default"}
    for case in cases:
        assert case.ok, f"{case.labels} went to {case.actual!r}, expected {case.expected!r}"


def rendered(checkout: Path, **env: str) -> Path:
    from mirante import settings
    from mirante.stack import alerting

    config = settings.load(checkout, environ=env)
    return alerting.write(config)


def test_without_settings_only_the_webhook_receives(checkout: Path) -> None:
    import yaml

    text = rendered(checkout).read_text()
    config = yaml.safe_load(text)
    assert all(set(r) <= {"name", "webhook_configs"} for r in config["receivers"])
    assert "slack" not in text
    assert "smtp" not in text


def test_slack_and_email_switch_on_with_their_settings_and_keep_secrets_out(checkout: Path) -> None:
    import yaml

    path = rendered(
        checkout,
        MIRANTE_SLACK_WEBHOOK_URL="https://hooks.slack.example/services/T000/B000/XXXX",
        MIRANTE_SMTP_SMARTHOST="smtp.example.org:587",
        MIRANTE_SMTP_FROM="alerts@example.org",
        MIRANTE_SMTP_USERNAME="alerts",
        MIRANTE_SMTP_PASSWORD="smtp-password-1234",
        MIRANTE_ALERT_EMAIL_TO="oncall@example.org",
    )
    text = path.read_text()
    assert "hooks.slack.example" not in text
    assert "smtp-password-1234" not in text
    receivers = {r["name"]: r for r in yaml.safe_load(text)["receivers"]}
    assert (
        receivers["critical"]["slack_configs"][0]["api_url_file"]
        == "/run/secrets/slack_webhook_url"
    )
    assert receivers["warning"]["slack_configs"][0]["channel"] == "#alerts"
    assert receivers["critical"]["email_configs"][0]["to"] == "oncall@example.org"
    assert "email_configs" not in receivers["warning"]  # email is for critical alerts only
    checked = promtools.check_alertmanager(promtools.Tools(checkout), path)
    assert checked.ok, checked.output


def test_email_needs_server_sender_and_recipient(checkout: Path) -> None:
    text = rendered(checkout, MIRANTE_SMTP_SMARTHOST="smtp.example.org:587").read_text()
    assert "email_configs" not in text


def test_the_config_digest_follows_secrets_and_receivers_but_never_shows_them(
    checkout: Path,
) -> None:
    from mirante import settings
    from mirante.stack import alerting

    base = settings.load(checkout, environ={})
    slack = dataclasses.replace(
        base,
        alerting=dataclasses.replace(
            base.alerting, slack_webhook_url="https://chat.example.org/hook/one"
        ),
    )
    rotated = dataclasses.replace(
        base,
        alerting=dataclasses.replace(
            base.alerting, slack_webhook_url="https://chat.example.org/hook/two"
        ),
    )
    digests = {alerting.digest(c) for c in (base, slack, rotated)}
    assert len(digests) == 3
    assert alerting.digest(base) == alerting.digest(settings.load(checkout, environ={}))
    assert all("hook" not in d for d in digests)


def test_routing_follows_alertmanager_first_match_depth_first() -> None:
    config = {
        "route": {
            "receiver": "default",
            "routes": [
                {"receiver": "null", "matchers": ['alertname=~"Watchdog|InfoInhibitor"']},
                {"receiver": "critical", "matchers": ['severity="critical"'],
                 "routes": [{"matchers": ['service!="app"'], "receiver": "ops"}]},
            ],
        },
        "receivers": [
            {"name": "default", "webhook_configs": [{"url": "http://x"}]},
            {"name": "critical", "webhook_configs": [{"url": "http://x"}]},
            {"name": "ops", "slack_configs": [{"channel": "#ops"}]},
            {"name": "null"},
        ],
    }  # fmt: skip
    route = alerting.receiver_for
    assert route(config, {"alertname": "Watchdog", "severity": "none"}) == "null"
    assert route(config, {"alertname": "APIDown", "severity": "critical", "service": "app"}) == (
        "critical"
    )
    assert route(config, {"alertname": "DiskFilling", "severity": "critical"}) == "ops"
    assert route(config, {"alertname": "X", "severity": "warning"}) == "default"
    assert alerting.delivers(config, "ops")
    assert not alerting.delivers(config, "null")
    assert not alerting.delivers(config, "absent")
