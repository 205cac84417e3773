"""What each cluster gets from the compose stack's own files, as helm values.

The compose stack is the reference: its alert rules (``prometheus/rules/``), dashboards
(``grafana/dashboards/``), Alertmanager routes, inhibitions and receivers
(``alertmanager/``) and Grafana datasources with their links between signals
(``grafana/provisioning/datasources/``). :func:`cluster_values` turns them into
kube-prometheus-stack values for one environment, with only what must differ changed:
addresses inside the cluster, and secrets read from Kubernetes Secrets.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mirante import alerting
from mirante.errors import ManifestError
from mirante.files import atomic_write
from mirante.remote.environments import ALERTING_SECRET, Environment
from mirante.settings import Settings

GENERATED_RELEASE = "kube-prometheus-stack"  # the release the generated values are for
# kube-prometheus-stack mounts alertmanager.templateFiles here.
TEMPLATES_DIR = "/etc/alertmanager/config"
# The chart's heartbeat alerts (severity none): a route of their own to no receiver, so
# that they never reach the app's webhook. Watchdog is the dead man's switch to wire to an
# external service.
CHART_HEARTBEATS = 'alertname=~"Watchdog|InfoInhibitor"'
LINK_KEYS = ("exemplarTraceIdDestinations", "derivedFields", "tracesToLogsV2", "serviceMap")


def webhook_url(env: Environment) -> str:
    """The app's alert webhook, through its Service in the environment's app namespace."""
    return f"http://app.{env.app_namespace}.svc:8000/alerts/webhook"


def datasource_urls(env: Environment) -> dict[str, str]:
    """Where Grafana reaches each datasource (by uid) inside the cluster."""
    ns = env.observability_namespace
    return {
        "prometheus": f"http://kps-prometheus.{ns}.svc:9090",
        "loki": f"http://loki-gateway.{ns}.svc",
        "tempo": f"http://tempo.{ns}.svc:3200",
    }


def compose_datasources(root: Path) -> dict[str, dict[str, Any]]:
    """The compose stack's Grafana datasources, by uid."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((root / "grafana" / "provisioning" / "datasources").glob("*.y*ml")):
        for source in yaml.safe_load(path.read_text()).get("datasources") or []:
            found[str(source["uid"])] = source
    return found


def receivers(env: Environment) -> alerting.Receivers:
    """The receivers of a cluster: the app's webhook there, Slack and email as configured."""
    wanted = env.alerting
    return alerting.Receivers(
        webhook_url=webhook_url(env),
        slack=bool(wanted.slack_channel),
        slack_channel=wanted.slack_channel,
        smtp_smarthost=wanted.smtp_smarthost,
        smtp_from=wanted.smtp_from,
        smtp_username=wanted.smtp_username,
        smtp_password=bool(wanted.smtp_username),
        email_to=wanted.email_to,
        secrets_dir=f"/etc/alertmanager/secrets/{ALERTING_SECRET}",
    )


def alertmanager_config(settings: Settings, env: Environment) -> dict[str, Any]:
    """The compose stack's routing for one cluster: same routes, inhibitions and receivers."""
    config = alerting.build(alerting.base_config(settings.root), receivers(env))
    config["templates"] = [f"{TEMPLATES_DIR}/*.tmpl"]
    config["route"]["routes"].insert(0, {"receiver": "null", "matchers": [CHART_HEARTBEATS]})
    config["receivers"].append({"name": "null"})
    return config


def cluster_values(settings: Settings, env: Environment) -> dict[str, Any]:
    """kube-prometheus-stack values generated for ``env`` from the compose stack's files.

    Raises:
        ManifestError: a compose datasource has no address in the cluster.
    """
    root = settings.root
    rules = {
        path.stem: {"groups": yaml.safe_load(path.read_text())["groups"]}
        for path in sorted((root / "prometheus" / "rules").glob("*.yml"))
    }
    dashboards = {
        path.stem: {"json": path.read_text()}
        for path in sorted((root / "grafana" / "dashboards").glob("*/*.json"))
    }
    provider = {
        "name": "mirante",
        "folder": "mirante",
        "type": "file",
        "disableDeletion": True,
        "options": {"path": "/var/lib/grafana/dashboards/mirante"},
    }
    urls = datasource_urls(env)
    sources = compose_datasources(root)
    unknown = sorted(set(sources) - set(urls))
    if unknown:
        raise ManifestError(
            f"grafana/provisioning/datasources: no address in the clusters for datasource "
            f"uid {', '.join(unknown)}; add it to mirante.remote.generated.datasource_urls"
        )
    prometheus = dict(sources.get("prometheus", {}).get("jsonData") or {})
    prometheus.pop("httpMethod", None)  # the chart sets it
    additional = [
        {**{k: v for k, v in source.items() if k != "isDefault"}, "url": urls[uid]}
        for uid, source in sources.items()
        if uid != "prometheus"
    ]
    templates = {
        path.name: path.read_text()
        for path in sorted((root / "alertmanager" / "templates").glob("*.tmpl"))
    }
    alertmanager: dict[str, Any] = {
        "config": alertmanager_config(settings, env),
        "templateFiles": templates,
    }
    if env.alerting.secrets:
        alertmanager["alertmanagerSpec"] = {"secrets": [ALERTING_SECRET]}
    return {
        "additionalPrometheusRulesMap": rules,
        "alertmanager": alertmanager,
        "grafana": {
            "dashboardProviders": {
                "dashboardproviders.yaml": {"apiVersion": 1, "providers": [provider]}
            },
            "dashboards": {"mirante": dashboards},
            "additionalDataSources": additional,
            "sidecar": {"datasources": {"extraJsonData": prometheus}},
        },
    }


def write_values(settings: Settings, env: Environment) -> Path:
    """Write :func:`cluster_values` for ``env`` under ``.mirante/k8s/<env>/``; its path."""
    path = settings.state_dir / "k8s" / env.name / f"{GENERATED_RELEASE}.generated.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Generated by mirante from the compose stack's files (prometheus/rules, "
        "grafana/dashboards,\n# grafana/provisioning/datasources, alertmanager/); do not edit.\n"
    )
    atomic_write(path, header + yaml.safe_dump(cluster_values(settings, env), sort_keys=True))
    return path


def merged(*documents: Mapping[str, Any]) -> dict[str, Any]:
    """Values files merged as helm merges them: mappings key by key, anything else replaced."""
    result: dict[str, Any] = {}
    for document in documents:
        for key, value in document.items():
            if isinstance(value, Mapping) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result
