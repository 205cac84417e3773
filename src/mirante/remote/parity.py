"""The parity gate: a cluster environment behaves like the compose stack, item by item.

It reads the compose stack's files and an environment's helm values (common, the
environment's, the generated ones) and its rendered overlay, and names every difference in:

- the set of alert rules;
- whether each alert reaches a receiver that delivers (not a ``null`` one);
- the scrape jobs the rules depend on (``up{job="loki"}`` needs a job ``loki``);
- the links between signals in Grafana's datasources;
- the scrape limits of the jobs the compose stack limits;
- the ``env`` label on every series, and pushed series reaching every Prometheus replica.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mirante import alerting
from mirante.remote import generated
from mirante.remote.environments import Environment
from mirante.settings import Settings

_JOB = re.compile(r'\bjob="([^"]+)"')
LIMITS = {
    "sample_limit": "sampleLimit",
    "label_limit": "labelLimit",
    "label_value_length_limit": "labelValueLengthLimit",
}
# kube-prometheus-stack's own alerts whose names the compose rules use too: each must be
# disabled in the chart (defaultRules.disabled), or it fires twice under one name.
CHART_ALERTS = ("TargetDown", "Watchdog", "InfoInhibitor")


@dataclass(frozen=True)
class Alert:
    """One alert rule of the compose stack: its name, severity and the jobs it reads."""

    name: str
    severity: str
    jobs: tuple[str, ...]


def compose_alerts(root: Path) -> list[Alert]:
    """Every alert rule of ``prometheus/rules/``."""
    found = []
    for path in sorted((root / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    severity = str((rule.get("labels") or {}).get("severity", ""))
                    jobs = tuple(sorted(set(_JOB.findall(str(rule["expr"])))))
                    found.append(Alert(str(rule["alert"]), severity, jobs))
    return found


def compose_limits(root: Path) -> dict[str, dict[str, int]]:
    """The scrape limits of each job of ``prometheus/prometheus.yml`` that has any."""
    config = yaml.safe_load((root / "prometheus" / "prometheus.yml").read_text())
    limits = {}
    for job in config.get("scrape_configs") or []:
        found = {LIMITS[k]: int(v) for k, v in job.items() if k in LIMITS}
        if found:
            limits[str(job["job_name"])] = found
    return limits


def release_values(settings: Settings, env: Environment, release: str) -> dict[str, Any]:
    """A release's values as helm merges them: common, the environment's, the generated."""
    chosen = next((r for r in generated.releases(settings, env) if r.name == release), None)
    if chosen is None:
        return {}
    made = generated.release_values(settings, env, chosen) or {}
    return generated.merged(generated.env_values(settings, env, release), made)


def _job_relabel(relabelings: Iterable[Mapping[str, Any]] | None) -> str:
    """The job a ServiceMonitor endpoint's relabelings set last ('' when none does)."""
    job = ""
    for relabel in relabelings or []:
        if relabel.get("targetLabel") == "job" and relabel.get("action", "replace") == "replace":
            job = str(relabel.get("replacement", ""))
    return job


def _dig(values: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(values, Mapping):
            return None
        values = values.get(key)  # type: ignore[assignment]
    return values


def scraped_jobs(
    settings: Settings, env: Environment, overlay: Iterable[Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """Each job the environment scrapes, and the ServiceMonitor spec that makes it.

    The spec is ``{}`` for a chart's own monitor, whose limits mirante does not set.
    """
    jobs: dict[str, Mapping[str, Any]] = {}
    documents = list(overlay)
    services = {
        d["metadata"]["name"]: (d["metadata"].get("labels") or {})
        for d in documents
        if d.get("kind") == "Service"
    }
    for doc in documents:
        if doc.get("kind") != "ServiceMonitor":
            continue
        spec = doc.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        selected = [n for n, labels in services.items() if selector.items() <= labels.items()]
        # The operator's job is the Service's name (or its jobLabel's value); a Service of
        # another namespace is named here by its instance label, as the charts name them.
        service = (
            selected[0]
            if selected
            else str(
                selector.get("app.kubernetes.io/instance") or selector.get("app") or "(a Service)"
            )
        )
        if spec.get("jobLabel") and selected:
            service = str(services[selected[0]].get(spec["jobLabel"], service))
        for endpoint in spec.get("endpoints") or []:
            jobs[_job_relabel(endpoint.get("relabelings")) or service] = spec
    ns = env.observability_namespace
    loki = release_values(settings, env, "loki")
    if _dig(loki, "monitoring", "serviceMonitor", "enabled"):
        relabel = _dig(loki, "monitoring", "serviceMonitor", "relabelings")
        jobs[_job_relabel(relabel) or f"{ns}/loki"] = {}
    tempo = release_values(settings, env, "tempo")
    if generated.tempo_chart(settings, env) == "tempo-distributed":
        if _dig(tempo, "metaMonitoring", "serviceMonitor", "enabled"):
            relabel = _dig(tempo, "metaMonitoring", "serviceMonitor", "relabelings")
            jobs[_job_relabel(relabel) or f"{ns}/distributor"] = {}
    elif _dig(tempo, "serviceMonitor", "enabled"):
        jobs[str(tempo.get("fullnameOverride") or "tempo")] = {}
    collector = release_values(settings, env, "opentelemetry-collector")
    if _dig(collector, "serviceMonitor", "enabled") and _dig(
        collector, "ports", "metrics", "enabled"
    ):
        for endpoint in _dig(collector, "serviceMonitor", "metricsEndpoints") or []:
            name = str(collector.get("fullnameOverride") or "opentelemetry-collector")
            jobs[_job_relabel(endpoint.get("relabelings")) or name] = {}
    return jobs


def _links(jsondata: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (jsondata or {}).items() if k in generated.LINK_KEYS}


def problems(
    settings: Settings, env: Environment, overlay: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Every way ``env`` differs from the compose stack, one line each, naming the item."""
    root = settings.root
    where = env.name
    found: list[str] = []
    alerts = compose_alerts(root)
    kps = release_values(settings, env, generated.GENERATED_RELEASE)

    # The set of alert rules.
    rules = kps.get("additionalPrometheusRulesMap") or {}
    names = {
        str(rule["alert"])
        for body in rules.values()
        for group in body.get("groups") or []
        for rule in group.get("rules") or []
        if "alert" in rule
    }
    compose_names = {a.name for a in alerts}
    for name in sorted(compose_names - names):
        found.append(f"{where}: alert rules: {name} is in the compose stack, not in the cluster")
    for name in sorted(names - compose_names):
        found.append(f"{where}: alert rules: {name} is in the cluster, not in the compose stack")
    disabled = _dig(kps, "defaultRules", "disabled") or {}
    for name in sorted(compose_names & set(CHART_ALERTS)):
        if _dig(kps, "defaultRules", "create") is not False and not disabled.get(name):
            found.append(
                f"{where}: alert rules: {name} is kube-prometheus-stack's too; disable the "
                f"chart's (defaultRules.disabled.{name}: true)"
            )

    # Each alert reaches a receiver that delivers.
    compose_config = alerting.render(settings)
    cluster_config = _dig(kps, "alertmanager", "config")
    for alert in alerts:
        labels = {"alertname": alert.name, "severity": alert.severity}
        if not alerting.delivers(compose_config, alerting.receiver_for(compose_config, labels)):
            continue
        if not isinstance(cluster_config, Mapping) or "route" not in cluster_config:
            found.append(f"{where}: receivers: no alertmanager.config; every alert goes to null")
            break
        receiver = alerting.receiver_for(cluster_config, labels)
        if not alerting.delivers(cluster_config, receiver):
            found.append(
                f"{where}: receivers: {alert.name} (severity {alert.severity or 'none'}) ends "
                f"at {receiver!r}, which sends nowhere"
            )

    # The jobs the rules read, and the compose stack's scrape limits.
    jobs = scraped_jobs(settings, env, overlay)
    for job in sorted({j for a in alerts for j in a.jobs}):
        if job not in jobs:
            users = ", ".join(a.name for a in alerts if job in a.jobs)
            found.append(
                f"{where}: jobs: the rules read job {job!r} ({users}), which nothing scrapes "
                f"as {job!r} (scraped: {', '.join(sorted(jobs)) or 'none'})"
            )
    for job, limits in sorted(compose_limits(root).items()):
        spec = jobs.get(job)
        if spec is None:
            found.append(f"{where}: scrape limits: job {job!r} is not scraped")
            continue
        for key, value in limits.items():
            if spec.get(key) != value:
                found.append(
                    f"{where}: scrape limits: job {job!r} has {key} {spec.get(key)}, the "
                    f"compose stack {value}"
                )

    # Every series carries the environment's env label, as the compose stack's carry
    # env="local" (the dashboards' env variable selects it).
    spec = _dig(kps, "prometheus", "prometheusSpec") or {}
    if (spec.get("externalLabels") or {}).get("env") != env.name:
        found.append(f"{where}: env label: prometheusSpec.externalLabels.env is not {where!r}")
    classes = [c for c in spec.get("scrapeClasses") or [] if c.get("default")]
    relabels = [r for c in classes for r in c.get("relabelings") or []]
    if not any(r.get("targetLabel") == "env" and r.get("replacement") == env.name
               for r in relabels):  # fmt: skip
        found.append(
            f"{where}: env label: no default scrapeClass sets env={where} on scraped series "
            "(externalLabels reach only alerts and remote writes)"
        )

    # Pushed series reach every Prometheus replica.
    replicas = generated.prometheus_replicas(settings, env)
    tempo = release_values(settings, env, "tempo")
    if generated.tempo_chart(settings, env) == "tempo-distributed":
        writes = _dig(tempo, "metricsGenerator", "config", "storage", "remote_write") or []
        urls = {str(w.get("url")) for w in writes}
    else:
        urls = {str(_dig(tempo, "tempo", "metricsGenerator", "remoteWriteUrl"))}
    if replicas > 1 and len(urls) < replicas:
        found.append(
            f"{where}: remote write: {replicas} Prometheus replicas, but Tempo writes span "
            f"metrics to {len(urls)} address(es) ({', '.join(sorted(urls))}): the replicas "
            "hold different series"
        )

    # The links between signals.
    grafana = kps.get("grafana") or {}
    cluster_sources = {
        str(d.get("uid")): _links(d.get("jsonData"))
        for d in grafana.get("additionalDataSources") or []
    }
    cluster_sources["prometheus"] = _links(_dig(grafana, "sidecar", "datasources", "extraJsonData"))
    for uid, source in sorted(generated.compose_datasources(root).items()):
        for key, value in _links(source.get("jsonData")).items():
            if cluster_sources.get(uid, {}).get(key) != value:
                found.append(
                    f"{where}: datasource links: {uid} lacks {key} (the compose stack has it)"
                )
    return found
