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
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mirante import loader
from mirante.environments import ALERTING_SECRET, Environment, Storage
from mirante.errors import InfraError, ManifestError
from mirante.files import atomic_write
from mirante.infra import outputs as infra_outputs
from mirante.settings import Settings
from mirante.stack import alerting
from mirante.tools.kube import Release

GENERATED_RELEASE = "kube-prometheus-stack"  # the release the generated values are for
# kube-prometheus-stack mounts alertmanager.templateFiles here.
TEMPLATES_DIR = "/etc/alertmanager/config"
# The chart's heartbeat alerts (severity none): a route of their own to no receiver, so
# that they never reach the app's webhook. Watchdog is the dead man's switch to wire to an
# external service.
CHART_HEARTBEATS = 'alertname=~"Watchdog|InfoInhibitor"'
LINK_KEYS = ("exemplarTraceIdDestinations", "derivedFields", "tracesToLogsV2", "serviceMap")
# kube-prometheus-stack's InfoInhibitor fires while info-severity alerts fire alone in a
# namespace; the chart's own inhibit rule then holds them back. mirante's routes replace
# the chart's, so the rule is added again: without it the chart's info alerts
# (CPUThrottlingHigh, KubeQuotaAlmostFull, ...) would reach the app's webhook.
INFO_INHIBITION = {
    "source_matchers": ['alertname="InfoInhibitor"'],
    "target_matchers": ['severity="info"'],
    "equal": ["namespace"],
}
# Rule files of prometheus/rules/ that only the compose stack gets, and why.
COMPOSE_ONLY_RULES = {
    "backup": "backups are the compose stack's (`invoke backup`): nothing publishes "
    "mirante_backup_* in a cluster, so BackupTooOld could never fire there",
}
# Metrics only the compose stack publishes (prefixes): no alert shipped to a cluster reads one.
COMPOSE_ONLY_METRICS = ("mirante_backup_",)
# The StorageClass every claim names: made by `invoke k8s.install` (storage_class()) on the
# EBS CSI driver that Terraform installs as an EKS add-on.
STORAGE_CLASS = "mirante-gp3"
EBS_CSI_DRIVER = "ebs.csi.aws.com"
# Where each chart takes the image tag of each program the compose stack pins (the
# clusters run the same versions: a dashboard or config checked on one runs on the other).
IMAGE_TAGS: dict[str, dict[str, tuple[str, ...]]] = {
    "kube-prometheus-stack": {
        "prometheus": ("prometheus", "prometheusSpec", "image", "tag"),
        "alertmanager": ("alertmanager", "alertmanagerSpec", "image", "tag"),
        "grafana": ("grafana", "image", "tag"),
        "node-exporter": ("prometheus-node-exporter", "image", "tag"),
    },
    "loki": {"loki": ("loki", "image", "tag")},
    "tempo": {"tempo": ("tempo", "tag")},
    "tempo-distributed": {"tempo": ("tempo", "image", "tag")},
    "opentelemetry-collector": {"otel-collector": ("image", "tag")},
}


def pinned_tags() -> dict[str, str]:
    """The tag of each program's image as the compose stack pins it (settings' defaults).

    The committed pins, not a local override: a sandbox's ``.env`` does not change what
    the clusters run.
    """
    from mirante.settings import VARIABLES

    return {
        v.path[1]: v.default.rsplit(":", 1)[1]
        for v in VARIABLES
        if v.path[0] == "images" and ":" in v.default
    }


def webhook_url(env: Environment) -> str:
    """The app's alert webhook, through its Service in the environment's app namespace."""
    return f"http://app.{env.app_namespace}.svc:8000/alerts/webhook"


def datasource_urls(settings: Settings, env: Environment) -> dict[str, str]:
    """Where Grafana reaches each datasource (by uid) inside the cluster."""
    ns = env.observability_namespace
    return {
        "prometheus": f"http://kps-prometheus.{ns}.svc:9090",
        "loki": f"http://loki-gateway.{ns}.svc",
        "tempo": tempo_addresses(settings, env)[0],
    }


def compose_datasources(root: Path) -> dict[str, dict[str, Any]]:
    """The compose stack's Grafana datasources, by uid."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((root / "grafana" / "provisioning" / "datasources").glob("*.y*ml")):
        for source in loader.safe_load(path.read_text()).get("datasources") or []:
            found[str(source["uid"])] = source
    return found


def receivers(env: Environment) -> alerting.Receivers:
    """The receivers of a cluster: the app's webhook there, Slack and email as configured."""
    wanted = env.alerting
    return alerting.Receivers(
        webhook_url=webhook_url(env),
        slack=bool(wanted.slack_channel),
        smtp_password=bool(wanted.smtp_username),
        secrets_dir=f"/etc/alertmanager/secrets/{ALERTING_SECRET}",
        **dataclasses.asdict(wanted),
    )


def alertmanager_config(settings: Settings, env: Environment) -> dict[str, Any]:
    """The compose stack's routing for one cluster: same routes, inhibitions and receivers."""
    config = alerting.build(alerting.base_config(settings.root), receivers(env))
    config["templates"] = [f"{TEMPLATES_DIR}/*.tmpl"]
    config["route"]["routes"].insert(0, {"receiver": "null", "matchers": [CHART_HEARTBEATS]})
    config["receivers"].append({"name": "null"})
    config.setdefault("inhibit_rules", []).append(copy.deepcopy(INFO_INHIBITION))
    return config


def observed_limits(root: Path) -> dict[str, int]:
    """The scrape limits of the compose stack's ``observed`` job (prometheus.yml)."""
    config = loader.safe_load((root / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "observed")
    names = {"sample_limit": "sampleLimit", "label_limit": "labelLimit",
             "label_value_length_limit": "labelValueLengthLimit"}  # fmt: skip
    return {names[k]: int(v) for k, v in job.items() if k in names}


def service_monitors(settings: Settings, env: Environment) -> list[dict[str, Any]]:
    """A ServiceMonitor per observed service placed in ``env`` (config/services.yaml).

    Scraped as in the compose stack: the job is the service's name, its targets carry the
    labels the API and LLM alerts and the dashboards select on, with the same limits. The
    Service is found by its name in its namespace (a ServiceMonitor selects by labels:
    every Service there, then only the one named is kept).
    """
    from mirante.observe import registry as observed

    limits = observed_limits(settings.root)
    monitors = []
    for service in observed.load(settings):
        place = service.environments.get(env.name)
        if place is None:
            continue
        labels = {k: v for k, v in service.labels().items() if k != "job"}
        relabelings = [
            {"action": "keep", "sourceLabels": ["__meta_kubernetes_service_name"],
             "regex": place.service},
            {"action": "replace", "targetLabel": "job", "replacement": service.name},
            *({"action": "replace", "targetLabel": k, "replacement": v}
              for k, v in sorted(labels.items())),
        ]  # fmt: skip
        monitors.append(
            {
                "name": f"observed-{service.name}",
                "namespaceSelector": {"matchNames": [place.namespace]},
                "selector": {},
                **limits,
                "endpoints": [
                    {
                        "port": place.port,
                        "path": service.path,
                        "interval": "15s",
                        "relabelings": relabelings,
                    }
                ],
            }
        )
    return monitors


def cluster_values(settings: Settings, env: Environment) -> dict[str, Any]:
    """kube-prometheus-stack values generated for ``env`` from the compose stack's files.

    Raises:
        ManifestError: a compose datasource has no address in the cluster.
    """
    root = settings.root
    rules = {
        path.stem: {"groups": loader.safe_load(path.read_text())["groups"]}
        for path in sorted((root / "prometheus" / "rules").glob("*.yml"))
        if path.stem not in COMPOSE_ONLY_RULES
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
    urls = datasource_urls(settings, env)
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
        "prometheus": {"additionalServiceMonitors": service_monitors(settings, env)},
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


RELEASES_FILE = Path("k8s") / "helm" / "releases.yaml"


def releases(settings: Settings, env: Environment) -> list[Release]:
    """The Helm releases of the cluster stack in ``env``, in install order."""
    path = settings.root / RELEASES_FILE
    try:
        document = loader.safe_load(path.read_text())
        return [
            Release(**{k: str(v) for k, v in r.items() if k != "environments"})
            for r in document["releases"]
            if env.name in r.get("environments", [env.name])
        ]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ManifestError(f"cannot read the helm releases in {RELEASES_FILE}: {exc}") from None


def common_values(settings: Settings, release: Release) -> Path:
    """The values every environment shares: common/<chart>.yaml, else common/<release>.yaml.

    (One release name can be two charts in two environments: tempo and tempo-distributed.)
    """
    common = settings.root / "k8s" / "helm" / "values" / "common"
    by_chart = common / f"{release.chart}.yaml"
    return by_chart if by_chart.is_file() else common / f"{release.name}.yaml"


def env_values(settings: Settings, env: Environment, chart_or_release: str) -> dict[str, Any]:
    """The committed values of one release in ``env`` (common, then the environment's)."""
    release = next(
        (r for r in releases(settings, env) if chart_or_release in (r.name, r.chart)), None
    )
    if release is None:
        return {}
    documents = [
        loader.safe_load(p.read_text()) or {}
        for p in (common_values(settings, release), env.helm_values / f"{release.name}.yaml")
        if p.is_file()
    ]
    return merged(*documents)


def prometheus_replicas(settings: Settings, env: Environment) -> int:
    """How many Prometheus replicas ``env`` runs."""
    values = env_values(settings, env, GENERATED_RELEASE)
    return int(((values.get("prometheus") or {}).get("prometheusSpec") or {}).get("replicas", 1))


def remote_write_urls(settings: Settings, env: Environment) -> list[str]:
    """Where pushed series must go: every Prometheus replica, each by its own pod address.

    Through the one Service, each push would reach one replica: the replicas would hold
    different series and Grafana would show a random one.
    """
    ns = env.observability_namespace
    replicas = prometheus_replicas(settings, env)
    if replicas <= 1:
        return [f"http://kps-prometheus.{ns}.svc:9090/api/v1/write"]
    return [
        f"http://prometheus-kps-prometheus-{i}.prometheus-operated.{ns}.svc:9090/api/v1/write"
        for i in range(replicas)
    ]


def tempo_chart(settings: Settings, env: Environment) -> str:
    """The chart Tempo runs from in ``env`` (tempo, or tempo-distributed)."""
    return next((r.chart for r in releases(settings, env) if r.name == "tempo"), "tempo")


def tempo_addresses(settings: Settings, env: Environment) -> tuple[str, str]:
    """Tempo's query address (Grafana) and OTLP gRPC address (the collector) in ``env``."""
    ns = env.observability_namespace
    if tempo_chart(settings, env) == "tempo-distributed":
        return f"http://tempo-query-frontend.{ns}.svc:3200", f"tempo-distributor.{ns}.svc:4317"
    return f"http://tempo.{ns}.svc:3200", f"tempo.{ns}.svc:4317"


def compose_processors(root: Path) -> list[str]:
    """The span-metrics processors the compose stack's Tempo runs (tempo/tempo.yml)."""
    config = loader.safe_load((root / "tempo" / "tempo.yml").read_text())
    return list(config["overrides"]["defaults"]["metrics_generator"]["processors"])


def compose_registry_labels(root: Path) -> dict[str, str]:
    """The labels the compose stack's Tempo puts on span metrics (tempo/tempo.yml)."""
    config = loader.safe_load((root / "tempo" / "tempo.yml").read_text())
    labels = config["metrics_generator"]["registry"]["external_labels"]
    return {str(k): str(v) for k, v in labels.items()}


IRSA = "eks.amazonaws.com/role-arn"


def storage_of(settings: Settings, env: Environment) -> tuple[Storage | None, str]:
    """The environment's object storage, and where it comes from.

    Terraform's kept outputs (``invoke infra.output ENV``) when there are some, so the
    values use what Terraform made; else ``storage:`` in the environments file. None where
    the environment keeps logs and traces on volumes (no ``storage:``).

    Raises:
        InfraError: the kept outputs lack a bucket or role Loki and Tempo need.
    """
    if env.storage is None:
        return None, ""
    kept = infra_outputs.read(settings.root, env.name)
    if kept is None:
        return env.storage, settings.environments.path.name
    shown = str(infra_outputs.path(settings.root, env.name).relative_to(settings.root))
    try:
        storage = Storage(
            region=kept["region"],
            logs_bucket=kept["buckets"]["logs"],
            traces_bucket=kept["buckets"]["traces"],
            loki_role=kept["irsa_role_arns"]["loki"],
            tempo_role=kept["irsa_role_arns"]["tempo"],
        )
    except (KeyError, TypeError) as exc:
        raise InfraError(
            f"{shown} has no {exc}: Loki and Tempo need the logs and traces buckets and "
            f"roles; run `invoke infra.output {env.name}` again"
        ) from None
    return storage, f"Terraform's outputs ({shown})"


def loki_values(settings: Settings, env: Environment) -> dict[str, Any] | None:
    """Loki on the environment's S3 bucket, through its IRSA role (none without storage)."""
    storage, _ = storage_of(settings, env)
    if storage is None:
        return None
    bucket = storage.logs_bucket
    schema = {
        "from": "2024-01-01",
        "store": "tsdb",
        "object_store": "s3",
        "schema": "v13",
        "index": {"prefix": "loki_index_", "period": "24h"},
    }
    return {
        "loki": {
            "storage": {
                "type": "s3",
                "bucketNames": {"chunks": bucket, "ruler": bucket, "admin": bucket},
                "s3": {"region": storage.region},
            },
            "schemaConfig": {"configs": [schema]},
            "compactor": {"retention_enabled": True, "delete_request_store": "s3"},
        },
        "serviceAccount": {"annotations": {IRSA: storage.loki_role}},
    }


# The tempo chart's own ``config`` (tempo 1.24.0's values.yaml), word for word but for two
# blocks mirante writes itself (tempo_config()): the metrics generator, hard-coded there to
# a remote write URL and nothing else, and the distributor's receivers, which the chart
# merges with its Jaeger and OpenCensus ones. tests/k8s/test_render.py checks that the rest
# renders as the chart's own does.
TEMPO_CHART_CONFIG = """\
memberlist:
  cluster_label: "{{ .Release.Name }}.{{ .Release.Namespace }}"
multitenancy_enabled: {{ .Values.tempo.multitenancyEnabled }}
usage_report:
  reporting_enabled: {{ .Values.tempo.reportingEnabled }}
compactor:
  compaction:
    block_retention: {{ .Values.tempo.retention }}
ingester:
  {{- toYaml .Values.tempo.ingester | nindent 2 }}
server:
  {{- toYaml .Values.tempo.server | nindent 2 }}
storage:
  {{- toYaml .Values.tempo.storage | nindent 2 }}
querier:
  {{- toYaml .Values.tempo.querier | nindent 2 }}
query_frontend:
  {{- toYaml .Values.tempo.queryFrontend | nindent 2 }}
overrides:
  {{- toYaml .Values.tempo.overrides | nindent 2 }}
"""


def generator_config(settings: Settings, env: Environment) -> dict[str, Any]:
    """Tempo's metrics generator as the compose stack runs it, in ``env``.

    The compose stack's labels on span metrics with this environment's env, and exemplars
    sent with them to every Prometheus replica (trace ids on the span-metrics histograms).
    """
    registry = compose_registry_labels(settings.root)
    return {
        "registry": {"external_labels": {**registry, "env": env.name}},
        "storage": {
            "path": "/var/tempo/generator/wal",
            "remote_write": [
                {"url": url, "send_exemplars": True} for url in remote_write_urls(settings, env)
            ],
        },
        "traces_storage": {"path": "/var/tempo/generator/traces"},
    }


def tempo_config(settings: Settings, env: Environment) -> str:
    """The tempo chart's ``config`` with mirante's receivers and metrics generator (last).

    The receivers are the compose stack's (OTLP only, ``tempo/tempo.yml``).
    """
    compose = loader.safe_load((settings.root / "tempo" / "tempo.yml").read_text())
    own = {
        "distributor": {"receivers": compose["distributor"]["receivers"]},
        "metrics_generator": generator_config(settings, env),
    }
    return TEMPO_CHART_CONFIG + yaml.safe_dump(own, sort_keys=True)


def tempo_values(settings: Settings, env: Environment, chart: str) -> dict[str, Any]:
    """Tempo's processors (the compose stack's), where span metrics go, and its storage."""
    processors = {
        "defaults": {"metrics_generator": {"processors": compose_processors(settings.root)}}
    }
    writes = remote_write_urls(settings, env)
    if chart != "tempo-distributed":
        if len(writes) > 1:
            raise ManifestError(
                f"{env.name} runs {len(writes)} Prometheus replicas, but the tempo chart writes "
                "span metrics to one address only: use tempo-distributed there "
                "(k8s/helm/releases.yaml)"
            )
        return {
            "tempo": {"overrides": processors, "metricsGenerator": {"remoteWriteUrl": writes[0]}},
            "config": tempo_config(settings, env),
        }
    generator = generator_config(settings, env)
    values: dict[str, Any] = {
        "overrides": processors,
        "metricsGenerator": {
            "enabled": True,
            "config": {
                "storage": {"remote_write": generator["storage"]["remote_write"]},
                "registry": generator["registry"],
            },
        },
    }
    storage, _ = storage_of(settings, env)
    if storage is not None:
        values["storage"] = {
            "trace": {
                "backend": "s3",
                "s3": {
                    "bucket": storage.traces_bucket,
                    "endpoint": f"s3.{storage.region}.amazonaws.com",
                    "region": storage.region,
                },
            }
        }
        values["serviceAccount"] = {"annotations": {IRSA: storage.tempo_role}}
    return values


def volumes_key(settings: Settings, env: Environment) -> tuple[str, str]:
    """The KMS key ARN the volumes are encrypted with, and where it comes from.

    Terraform's kept outputs first, then ``volumes.kms_key`` of the environments file;
    ("", ...) leaves EBS's default: the account's ``aws/ebs`` key.
    """
    kept = infra_outputs.read(settings.root, env.name) or {}
    if kept.get("volumes_kms_key_arn"):
        shown = infra_outputs.path(settings.root, env.name).relative_to(settings.root)
        return str(kept["volumes_kms_key_arn"]), f"Terraform's outputs ({shown})"
    if env.volumes_kms_key:
        return env.volumes_kms_key, settings.environments.path.name
    return "", "EBS's default for the account (aws/ebs): no volumes.kms_key, no kept outputs"


def storage_class(settings: Settings, env: Environment) -> dict[str, Any]:
    """The StorageClass every claim of ``env`` names: gp3 on the EBS CSI driver, encrypted.

    The default class (EKS makes none since 1.30), bound when the pod is scheduled
    (WaitForFirstConsumer: the volume is made in the pod's zone). Volumes outlive their
    claim where the environment forbids destructive tasks (prod).
    """
    key, _ = volumes_key(settings, env)
    parameters = {"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"}
    if key:
        parameters["kmsKeyId"] = key
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            "labels": {"app.kubernetes.io/managed-by": "mirante"},
        },
        "provisioner": EBS_CSI_DRIVER,
        "parameters": parameters,
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
        "reclaimPolicy": "Retain" if env.protection == "no-destructive" else "Delete",
    }


def write_storage_class(settings: Settings, env: Environment) -> Path:
    """Write :func:`storage_class` under ``.mirante/k8s/<env>/``; its path."""
    path = settings.state_dir / "k8s" / env.name / "storageclass.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Generated by mirante (`invoke k8s.install ENV` applies it); do not edit.\n"
    atomic_write(path, header + yaml.safe_dump(storage_class(settings, env), sort_keys=True))
    return path


def release_values(settings: Settings, env: Environment, release: Release) -> dict[str, Any] | None:
    """What mirante generates for one release in ``env`` (None: nothing)."""
    if release.chart == "kube-prometheus-stack":
        return cluster_values(settings, env)
    if release.chart == "loki":
        return loki_values(settings, env)
    if release.chart in ("tempo", "tempo-distributed"):
        return tempo_values(settings, env, release.chart)
    if release.chart == "opentelemetry-collector":
        otlp = tempo_addresses(settings, env)[1]
        values: dict[str, Any] = {"config": {"exporters": {"otlp_grpc/tempo": {"endpoint": otlp}}}}
        kept = infra_outputs.read(settings.root, env.name) or {}
        role = (kept.get("irsa_role_arns") or {}).get("collector")
        if role:  # Terraform made the collector a role: its service account assumes it
            values["serviceAccount"] = {"annotations": {IRSA: role}}
        return values
    return None


def write_values(settings: Settings, env: Environment, release: Release) -> Path | None:
    """Write :func:`release_values` under ``.mirante/k8s/<env>/``; its path (None: nothing)."""
    values = release_values(settings, env, release)
    if values is None:
        return None
    path = settings.state_dir / "k8s" / env.name / f"{release.name}.generated.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Generated by mirante from the compose stack's files and config/environments.yaml;\n"
        "# do not edit (`invoke k8s.install ENV --dry-run` writes it again).\n"
    )
    atomic_write(path, header + yaml.safe_dump(values, sort_keys=True))
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
