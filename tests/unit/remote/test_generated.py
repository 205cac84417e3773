"""The values each cluster gets from the compose stack's own files."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

from mirante import errors, settings
from mirante.environments import load_environments
from mirante.remote import generated
from mirante.stack import alerting
from tests.helpers import REPO

CONFIG = settings.load(REPO, environ={})
PROD = CONFIG.environments.get("prod")


def test_the_compose_rules_and_dashboards_go_to_every_cluster() -> None:
    values = generated.cluster_values(CONFIG, PROD)
    rules = values["additionalPrometheusRulesMap"]
    for path in (REPO / "prometheus" / "rules").glob("*.yml"):
        if path.stem in generated.COMPOSE_ONLY_RULES:  # backup: nothing publishes it there
            assert path.stem not in rules
            continue
        assert rules[path.stem]["groups"] == yaml.safe_load(path.read_text())["groups"]
    assert set(rules) == {"api", "golden-signals", "llm", "stack"}
    dashboards = values["grafana"]["dashboards"]["mirante"]
    files = sorted((REPO / "grafana" / "dashboards").glob("*/*.json"))
    assert files
    assert {name: d["json"] for name, d in dashboards.items()} == {
        p.stem: p.read_text() for p in files
    }


def test_alerts_route_as_in_compose_to_the_app_of_the_environment() -> None:
    config = generated.cluster_values(CONFIG, PROD)["alertmanager"]["config"]
    compose = alerting.base_config(REPO)
    # The compose stack's inhibitions, and the chart's InfoInhibitor one (its info alerts
    # reach no receiver while they fire alone in a namespace).
    assert config["inhibit_rules"] == [*compose["inhibit_rules"], generated.INFO_INHIBITION]
    # The chart's heartbeats first, to no receiver; then exactly the compose routes.
    heartbeat, *routes = config["route"]["routes"]
    assert heartbeat == {"receiver": "null", "matchers": [generated.CHART_HEARTBEATS]}
    assert routes == compose["route"]["routes"]
    hooks = {
        r["name"]: [w["url"] for w in r.get("webhook_configs", [])] for r in config["receivers"]
    }
    url = "http://app.mirante-prod.svc:8000/alerts/webhook"
    assert hooks == {"default": [url], "critical": [url], "warning": [url], "null": []}
    assert config["templates"] == ["/etc/alertmanager/config/*.tmpl"]
    assert "slack_configs" not in str(config)  # off until environments.yaml turns it on


def test_slack_and_email_read_their_secrets_from_the_secret(tmp_path: Path) -> None:
    shutil.copy(REPO / "config" / "environments.yaml", tmp_path / "environments.yaml")
    document = yaml.safe_load((tmp_path / "environments.yaml").read_text())
    document["environments"]["prod"]["alerting"] = {
        "slack_channel": "#prod-alerts",
        "email_to": "oncall@example.org",
        "smtp_smarthost": "smtp.example.org:587",
        "smtp_from": "alerts@example.org",
        "smtp_username": "alerts",
    }
    (tmp_path / "environments.yaml").write_text(yaml.safe_dump(document))
    prod = load_environments(tmp_path / "environments.yaml", REPO).get("prod")
    values = generated.cluster_values(CONFIG, prod)["alertmanager"]
    assert values["alertmanagerSpec"]["secrets"] == ["mirante-alerting"]
    receivers = {r["name"]: r for r in values["config"]["receivers"]}
    slack = receivers["critical"]["slack_configs"][0]
    assert slack["api_url_file"] == "/etc/alertmanager/secrets/mirante-alerting/slack_webhook_url"
    assert slack["channel"] == "#prod-alerts"
    assert receivers["critical"]["email_configs"][0]["to"] == "oncall@example.org"
    assert values["config"]["global"]["smtp_auth_password_file"].endswith(
        "/mirante-alerting/smtp_password"
    )
    document["environments"]["prod"]["alerting"] = {"slack_webhook_url": "https://x"}
    (tmp_path / "environments.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(errors.EnvironmentsError, match="secrets go in the Secret"):
        load_environments(tmp_path / "environments.yaml", REPO)
    document["environments"]["prod"]["alerting"] = {"email_to": "oncall@example.org"}
    (tmp_path / "environments.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(errors.EnvironmentsError, match="all set"):
        load_environments(tmp_path / "environments.yaml", REPO)


def test_datasources_keep_their_links_with_cluster_addresses() -> None:
    grafana = generated.cluster_values(CONFIG, PROD)["grafana"]
    compose = generated.compose_datasources(REPO)
    additional = {d["uid"]: d for d in grafana["additionalDataSources"]}
    assert additional["loki"]["url"] == "http://loki-gateway.monitoring.svc"
    # prod runs tempo-distributed: Grafana asks its query frontend.
    assert additional["tempo"]["url"] == "http://tempo-query-frontend.monitoring.svc:3200"
    for uid in ("loki", "tempo"):
        assert additional[uid]["jsonData"] == compose[uid]["jsonData"]
    prometheus = grafana["sidecar"]["datasources"]["extraJsonData"]
    assert (
        prometheus["exemplarTraceIdDestinations"]
        == (compose["prometheus"]["jsonData"]["exemplarTraceIdDestinations"])
    )


def test_a_datasource_without_a_cluster_address_is_one_clear_error(tmp_path: Path) -> None:
    for part in ("prometheus", "grafana", "alertmanager", "k8s", "tempo"):
        shutil.copytree(REPO / part, tmp_path / part)
    path = tmp_path / "grafana" / "provisioning" / "datasources" / "extra.yml"
    path.write_text(yaml.safe_dump({"datasources": [{"uid": "pyroscope", "type": "x"}]}))
    copy = dataclasses.replace(CONFIG, root=tmp_path)
    with pytest.raises(errors.ManifestError, match=r"no address in the clusters.*pyroscope"):
        generated.cluster_values(copy, PROD)


def test_values_merge_as_helm_merges_them() -> None:
    common = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    env = {"a": {"c": [3]}, "e": 2}
    assert generated.merged(common, env) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert common == {"a": {"b": 1, "c": [1, 2]}, "d": 1}
