"""The parity gate: a cluster environment behaves like the compose stack, item by item.

It reads the compose stack's files and an environment's helm values (common, the
environment's, the generated ones) and its rendered overlay, and names every difference in:

- the set of alert rules;
- whether each alert reaches a receiver that delivers (not a ``null`` one);
- the scrape jobs the rules depend on (``up{job="loki"}`` needs a job ``loki``, and only
  Tempo's own components are job ``tempo``);
- the links between signals in Grafana's datasources;
- the scrape limits of the jobs the compose stack limits;
- the ``env`` label on every series, and pushed series reaching every Prometheus replica;
- exemplars kept (Prometheus's features as compose runs it; Tempo's span metrics sending
  them, with the env label);
- kube-prometheus-stack's own rules (``k8s/helm/chart-rules.yaml``): no record or alert
  name twice, no chart alert on a metric mirante's alerts read unless disabled or kept on
  purpose, every info-severity alert inhibited or routed to null;
- the program versions (each chart's image tags against the compose pins);
- every volume claim naming the StorageClass mirante makes, and a Grafana with replicas
  sharing one database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mirante import loader
from mirante.environments import Environment
from mirante.observe import promql
from mirante.remote import charts, generated
from mirante.settings import Settings
from mirante.stack import alerting

_JOB = re.compile(r'\bjob="([^"]+)"')
LIMITS = {
    "sample_limit": "sampleLimit",
    "label_limit": "labelLimit",
    "label_value_length_limit": "labelValueLengthLimit",
}
# Tempo-distributed's components, as its ServiceMonitors' component label names them.
TEMPO_COMPONENTS = ("compactor", "distributor", "ingester", "memcached", "metrics-generator",
                    "querier", "query-frontend")  # fmt: skip
COMPONENT_LABEL = "__meta_kubernetes_service_label_app_kubernetes_io_component"
# The Secret a Grafana with replicas reads its shared database from (GF_DATABASE_*).
GRAFANA_DB_SECRET = "grafana-db"  # noqa: S105 (a Secret's name)


@dataclass(frozen=True)
class Alert:
    """One alert rule of the compose stack: its name, severity, the jobs and metrics it reads.

    ``file`` is the rule file's stem (``stack`` for ``prometheus/rules/stack.yml``).
    """

    name: str
    severity: str
    jobs: tuple[str, ...]
    metrics: tuple[str, ...] = ()
    file: str = ""


def compose_alerts(root: Path) -> list[Alert]:
    """Every alert rule of ``prometheus/rules/``."""
    found = []
    for path in sorted((root / "prometheus" / "rules").glob("*.yml")):
        for group in loader.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    severity = str((rule.get("labels") or {}).get("severity", ""))
                    expr = str(rule["expr"])
                    jobs = tuple(sorted(set(_JOB.findall(expr))))
                    metrics = tuple(sorted(promql.metric_names(expr)))
                    found.append(Alert(str(rule["alert"]), severity, jobs, metrics, path.stem))
    return found


def compose_records(root: Path) -> dict[str, str]:
    """Every recording rule of ``prometheus/rules/`` shipped to the clusters: name -> file."""
    found = {}
    for path in sorted((root / "prometheus" / "rules").glob("*.yml")):
        if path.stem in generated.COMPOSE_ONLY_RULES:
            continue
        for group in loader.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    found[str(rule["record"])] = path.stem
    return found


def shipped_alerts(root: Path) -> list[Alert]:
    """The compose stack's alerts the clusters get (not those of compose-only rule files)."""
    return [a for a in compose_alerts(root) if a.file not in generated.COMPOSE_ONLY_RULES]


def compose_limits(root: Path) -> dict[str, dict[str, int]]:
    """The scrape limits of each job of ``prometheus/prometheus.yml`` that has any."""
    config = loader.safe_load((root / "prometheus" / "prometheus.yml").read_text())
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
    kps = release_values(settings, env, generated.GENERATED_RELEASE)
    for monitor in _dig(kps, "prometheus", "additionalServiceMonitors") or []:
        for endpoint in monitor.get("endpoints") or []:
            relabelled_labels = relabelled(endpoint.get("relabelings"), {})
            jobs[relabelled_labels.get("job") or str(monitor.get("name"))] = {
                **monitor, "labels": relabelled_labels,
            }  # fmt: skip
    ns = env.observability_namespace
    loki = release_values(settings, env, "loki")
    if _dig(loki, "monitoring", "serviceMonitor", "enabled"):
        relabel = _dig(loki, "monitoring", "serviceMonitor", "relabelings")
        jobs[_job_relabel(relabel) or f"{ns}/loki"] = {}
    tempo = release_values(settings, env, "tempo")
    if generated.tempo_chart(settings, env) == "tempo-distributed":
        if _dig(tempo, "metaMonitoring", "serviceMonitor", "enabled"):
            relabel = _dig(tempo, "metaMonitoring", "serviceMonitor", "relabelings")
            for job in tempo_component_jobs(relabel, ns).values():
                jobs[job] = {}
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


def relabelled(
    relabelings: Iterable[Mapping[str, Any]] | None, labels: dict[str, str]
) -> dict[str, str]:
    """``labels`` after the ``replace`` relabelings, as Prometheus applies them."""
    labels = dict(labels)
    for rule in relabelings or []:
        if rule.get("action", "replace") != "replace" or not rule.get("targetLabel"):
            continue
        source = str(rule.get("separator", ";")).join(
            labels.get(str(name), "") for name in rule.get("sourceLabels") or []
        )
        found = re.fullmatch(str(rule.get("regex", "(.*)")), source)
        if found is None:
            continue
        replacement = str(rule.get("replacement", "$1"))
        labels[str(rule["targetLabel"])] = _expand(replacement, found)
    return labels


def _expand(replacement: str, found: re.Match[str]) -> str:
    """``$1`` / ``${1}`` replaced by the match's groups; a group it lacks is "" (Prometheus)."""
    groups = (found.group(0), *found.groups(default=""))

    def group(reference: re.Match[str]) -> str:
        index = int(reference.group(1))
        return groups[index] if index < len(groups) else ""

    return re.sub(r"\$\{?(\d+)\}?", group, replacement)


def tempo_component_jobs(
    relabelings: Iterable[Mapping[str, Any]] | None, namespace: str
) -> dict[str, str]:
    """The job each tempo-distributed component is scraped as (the chart's monitors)."""
    rules = list(relabelings or [])
    return {
        component: relabelled(
            rules, {"job": f"{namespace}/{component}", COMPONENT_LABEL: component}
        )["job"]
        for component in TEMPO_COMPONENTS
    }


def _links(jsondata: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (jsondata or {}).items() if k in generated.LINK_KEYS}


def problems(
    settings: Settings, env: Environment, overlay: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Every way ``env`` differs from the compose stack, one line each, naming the item."""
    root = settings.root
    where = env.name
    found: list[str] = []
    alerts = shipped_alerts(root)
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
    for alert in alerts:
        dead = [m for m in alert.metrics if m.startswith(generated.COMPOSE_ONLY_METRICS)]
        if dead:
            found.append(
                f"{where}: alert rules: {alert.name} reads {dead[0]}, which only the compose "
                "stack publishes: it could never fire in a cluster; keep it in a compose-only "
                "rule file (generated.COMPOSE_ONLY_RULES)"
            )
    found += chart_rule_problems(settings, env, kps, alerts)

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
    from mirante.observe import registry as observed

    placed = [s for s in observed.load(settings) if env.name in s.environments]
    limits_by_job = dict(compose_limits(root))
    shared = limits_by_job.pop("observed", {})
    limits_by_job.update({s.name: shared for s in placed})
    for service in placed:
        spec = jobs.get(service.name)
        labels = (spec or {}).get("labels") or {}
        wanted = {k: v for k, v in service.labels().items() if k != "job"}
        if spec is None or any(labels.get(k) != v for k, v in wanted.items()):
            found.append(
                f"{where}: observed services: {service.name} is declared in {where} "
                "(config/services.yaml) but nothing scrapes it as job "
                f"{service.name!r} with the labels the alerts select on ({wanted})"
            )
    for job, limits in sorted(limits_by_job.items()):
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

    found += exemplar_problems(settings, env, kps)
    found += version_problems(settings, env)
    found += collector_problems(settings, env)
    found += volume_problems(settings, env)
    found += grafana_problems(env, kps)
    tempo_jobs = tempo_component_jobs(
        _dig(tempo, "metaMonitoring", "serviceMonitor", "relabelings"),
        env.observability_namespace,
    )
    if generated.tempo_chart(settings, env) == "tempo-distributed" and (
        _dig(tempo, "metaMonitoring", "serviceMonitor", "enabled")
    ):
        for component, job in sorted(tempo_jobs.items()):
            if component == "memcached" and job == "tempo":
                found.append(
                    f"{where}: jobs: tempo-distributed's memcached is scraped as job 'tempo': "
                    "its exporter going down fires TempoNotReady (critical); relabel it to a "
                    "job of its own (metaMonitoring.serviceMonitor.relabelings)"
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


def chart_rule_problems(
    settings: Settings, env: Environment, kps: Mapping[str, Any], alerts: list[Alert]
) -> list[str]:
    """kube-prometheus-stack's own rules beside mirante's, as the cluster would run them.

    No record or alert name twice; no enabled chart alert on a metric mirante's alerts read
    (it notifies twice) unless kept on purpose; every info-severity alert of the chart
    inhibited (InfoInhibitor) or routed to null.
    """
    where = env.name
    found: list[str] = []
    chart = charts.load(settings.root)
    pinned = next(
        (r.version for r in generated.releases(settings, env) if r.chart == charts.CHART), ""
    )
    if pinned != chart.version:
        found.append(
            f"{where}: chart rules: {charts.FACTS_FILE} describes {charts.CHART} "
            f"{chart.version}, k8s/helm/releases.yaml pins {pinned}: render the pinned chart "
            "and refresh the file (tests/k8s/test_render.py prints it)"
        )
    if _dig(kps, "defaultRules", "create") is False:
        return found
    disabled = {str(k) for k, v in (_dig(kps, "defaultRules", "disabled") or {}).items() if v}
    enabled = {n: a for n, a in chart.alerts.items() if n not in disabled}
    for record, file in sorted(compose_records(settings.root).items()):
        if record in chart.records:
            found.append(
                f"{where}: recording rules: {record} is recorded by mirante's {file}.yml and by "
                f"kube-prometheus-stack's {chart.records[record]} with another formula: "
                "rename mirante's"
            )
    for alert in alerts:
        if alert.name in enabled:
            found.append(
                f"{where}: alert rules: {alert.name} is kube-prometheus-stack's too; disable "
                f"the chart's (defaultRules.disabled.{alert.name}: true)"
            )
    ours = {m: a.name for a in alerts for m in a.metrics if m != "up"}
    for name, chart_alert in sorted(enabled.items()):
        shared = sorted(set(chart_alert.metrics) & set(ours))
        if shared and name not in chart.kept and name not in {a.name for a in alerts}:
            found.append(
                f"{where}: alert rules: kube-prometheus-stack's {name} reads {shared[0]}, as "
                f"mirante's {ours[shared[0]]} does: it notifies twice; disable it "
                f"(defaultRules.disabled.{name}: true) or keep it in {charts.FACTS_FILE} "
                "(kept_beside_mirante) with why"
            )
    for name in sorted(set(chart.kept) - set(chart.alerts)):
        found.append(f"{where}: chart rules: {name} is kept in {charts.FACTS_FILE} but the "
                     "chart has no such alert")  # fmt: skip
    config = _dig(kps, "alertmanager", "config")
    if not isinstance(config, Mapping) or "route" not in config:
        return found
    inhibitor = "InfoInhibitor" in enabled
    for name, chart_alert in sorted(enabled.items()):
        if "info" not in chart_alert.severities:
            continue
        labels = {"alertname": name, "severity": "info"}
        if not alerting.delivers(config, alerting.receiver_for(config, labels)):
            continue
        if inhibitor and alerting.inhibits(config, {"alertname": "InfoInhibitor"}, labels):
            continue
        found.append(
            f"{where}: receivers: kube-prometheus-stack's {name} (severity info) reaches "
            f"{alerting.receiver_for(config, labels)!r} uninhibited: route info alerts to null "
            "or keep the chart's InfoInhibitor inhibit rule"
        )
    return found


def compose_features(root: Path) -> list[str]:
    """The ``--enable-feature`` values the compose stack's Prometheus runs with."""
    compose = loader.safe_load((root / "compose" / "docker-compose.yml").read_text())
    command = compose["services"]["prometheus"].get("command") or []
    return [
        str(arg).split("=", 1)[1] for arg in command if str(arg).startswith("--enable-feature=")
    ]


def _untemplated(text: str) -> dict[str, Any]:
    """A chart's config string without its template lines, as YAML (best effort)."""
    kept = "\n".join(line for line in text.splitlines() if "{{" not in line)
    try:
        loaded = loader.safe_load(kept)
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def exemplar_problems(settings: Settings, env: Environment, kps: Mapping[str, Any]) -> list[str]:
    """Exemplars kept as in the compose stack: Prometheus stores them, Tempo sends them."""
    where = env.name
    found = []
    features = _dig(kps, "prometheus", "prometheusSpec", "enableFeatures") or []
    for feature in compose_features(settings.root):
        if feature not in features:
            found.append(
                f"{where}: exemplars: the compose stack's Prometheus runs with "
                f"--enable-feature={feature}, the cluster's does not "
                f"(prometheus.prometheusSpec.enableFeatures)"
            )
    tempo = release_values(settings, env, "tempo")
    if generated.tempo_chart(settings, env) == "tempo-distributed":
        generator = _dig(tempo, "metricsGenerator", "config") or {}
        what = "metricsGenerator.config"
    else:
        generator = _untemplated(str(tempo.get("config") or "")).get("metrics_generator") or {}
        what = "the tempo chart's config (its metrics_generator block)"
    labels = _dig(generator, "registry", "external_labels") or {}
    if labels.get("env") != env.name:
        found.append(
            f"{where}: env label: Tempo's span metrics carry no env={where} "
            f"({what}: registry.external_labels)"
        )
    writes = _dig(generator, "storage", "remote_write") or []
    if not writes or not all(w.get("send_exemplars") for w in writes):
        found.append(
            f"{where}: exemplars: Tempo writes span metrics without exemplars "
            f"({what}: storage.remote_write[].send_exemplars)"
        )
    return found


def version_problems(settings: Settings, env: Environment) -> list[str]:
    """Each chart's image tag of each program against the compose stack's pin."""
    pins = generated.pinned_tags()
    found = []
    for release in generated.releases(settings, env):
        values = release_values(settings, env, release.name)
        for program, path in generated.IMAGE_TAGS.get(release.chart, {}).items():
            tag = _dig(values, *path)
            if str(tag or "") != pins[program]:
                found.append(
                    f"{env.name}: versions: {release.chart} runs {program} "
                    f"{tag or 'at the chart default'}, the compose stack "
                    f"{pins[program]} (images/official.yaml): set {'.'.join(path)}: "
                    f"{pins[program]}"
                )
    return found


# The collector's exporters renamed in 0.144: the old names are deprecated aliases.
DEPRECATED_EXPORTERS = {"otlp": "otlp_grpc", "otlphttp": "otlp_http"}


def collector_problems(settings: Settings, env: Environment) -> list[str]:
    """The collector's exporters under the names of the version that runs."""
    values = release_values(settings, env, "opentelemetry-collector")
    found = []
    for name in sorted((_dig(values, "config", "exporters") or {}).keys()):
        kind = str(name).split("/", 1)[0]
        if kind in DEPRECATED_EXPORTERS:
            found.append(
                f"{env.name}: versions: the collector's exporter {name} uses {kind!r}, a "
                f"deprecated alias since collector 0.144: name it "
                f"{DEPRECATED_EXPORTERS[kind]}{str(name)[len(kind) :]}, as "
                "otel-collector/config.yml does"
            )
    return found


def _claims(values: Mapping[str, Any], chart: str) -> list[tuple[str, str, Any]]:
    """Each volume claim a chart's values request: (what, where its class is set, class)."""
    claims: list[tuple[str, str, Any]] = []

    def add(what: str, *path: str) -> None:
        claims.append((what, ".".join(path), _dig(values, *path)))

    if chart == "kube-prometheus-stack":
        if _dig(values, "prometheus", "prometheusSpec", "storageSpec", "volumeClaimTemplate"):
            add("Prometheus", "prometheus", "prometheusSpec", "storageSpec",
                "volumeClaimTemplate", "spec", "storageClassName")  # fmt: skip
        if _dig(values, "alertmanager", "alertmanagerSpec", "storage", "volumeClaimTemplate"):
            add("Alertmanager", "alertmanager", "alertmanagerSpec", "storage",
                "volumeClaimTemplate", "spec", "storageClassName")  # fmt: skip
        if _dig(values, "grafana", "persistence", "enabled"):
            add("Grafana", "grafana", "persistence", "storageClassName")
    elif chart == "loki":
        for part in ("singleBinary", "write", "backend"):
            if int(_dig(values, part, "replicas") or 0) > 0 and (
                _dig(values, part, "persistence", "enabled") is not False
            ):
                add(f"Loki's {part}", part, "persistence", "storageClass")
    elif chart == "tempo":
        if _dig(values, "persistence", "enabled"):
            add("Tempo", "persistence", "storageClassName")
    elif chart == "tempo-distributed":
        for part in ("ingester", "metricsGenerator", "compactor"):
            if _dig(values, part, "persistence", "enabled"):
                add(f"Tempo's {part}", part, "persistence", "storageClass")
    return claims


def volume_problems(settings: Settings, env: Environment) -> list[str]:
    """Every claim names the StorageClass ``k8s.install`` makes (EKS has no default)."""
    found = []
    for release in generated.releases(settings, env):
        values = release_values(settings, env, release.name)
        for what, path, named in _claims(values, release.chart):
            if named != generated.STORAGE_CLASS:
                found.append(
                    f"{env.name}: volumes: {what}'s claim names "
                    f"{'StorageClass ' + repr(named) if named else 'no StorageClass'}, which "
                    "nothing makes (EKS has no default class since 1.30): set "
                    f"{path}: {generated.STORAGE_CLASS}"
                )
    return found


def grafana_replicas(kps: Mapping[str, Any]) -> int:
    """How many Grafanas kube-prometheus-stack's values run."""
    return int(_dig(kps, "grafana", "replicas") or 1)


def grafana_problems(env: Environment, kps: Mapping[str, Any]) -> list[str]:
    """Several Grafanas share one database: a login holds whichever pod a request reaches."""
    replicas = grafana_replicas(kps)
    if replicas <= 1:
        return []
    found = []
    secrets = {str(s.get("name")) for s in _dig(kps, "grafana", "envFromSecrets") or []}
    if GRAFANA_DB_SECRET not in secrets:
        found.append(
            f"{env.name}: Grafana: {replicas} replicas, each on its own SQLite database: a "
            "login holds on one pod only (ingress-nginx and ALBs in IP mode go straight to "
            f"pods); share a Postgres database (grafana.envFromSecrets: {GRAFANA_DB_SECRET}) "
            "or run one replica"
        )
    if _dig(kps, "grafana", "persistence", "enabled"):
        found.append(
            f"{env.name}: Grafana: {replicas} replicas cannot share one ReadWriteOnce volume "
            "(grafana.persistence.enabled: false; the database holds their state)"
        )
    return found
