"""The overlays and values render with the real kubectl and validate offline."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mirante import errors, settings
from mirante.remote import generated, steps
from mirante.tools.kube import HELM_MIN, KUBECTL_MIN, tool_version
from tests.helpers import scratch_checkout

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.34.0"
REPLICAS = {"dev": 1, "staging": 2, "prod": 3}
REPLICAS_OF_PROMETHEUS = {"dev": 1, "staging": 1, "prod": 2}
ENVIRONMENTS = settings.load(REPO, environ={}).environments


def rendered(env: str) -> list[dict[str, Any]]:
    return steps.render_overlay(ENVIRONMENTS.get(env))


def test_the_installed_tools_are_recent_enough() -> None:
    assert tool_version("kubectl") >= KUBECTL_MIN
    assert tool_version("helm") >= HELM_MIN


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_overlay_renders_and_validates_against_the_kubernetes_schemas(env: str) -> None:
    documents = rendered(env)
    kinds = sorted(d["kind"] for d in documents)
    expected = ["Deployment", "Namespace", "Service", "ServiceMonitor"]  # otlp-metrics
    assert kinds == sorted([*expected, "PodDisruptionBudget"] if env == "prod" else expected)
    for doc in documents:
        if doc["kind"] == "ServiceMonitor":
            continue  # a CRD: no schema offline; checked below against the Service
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_labels_namespace_image_probes_and_resources(env: str) -> None:
    documents = {d["kind"]: d for d in rendered(env) if d["metadata"]["name"] != "otlp-metrics"}
    namespace = f"mirante-{env}"
    for kind, doc in documents.items():
        assert doc["metadata"]["labels"]["env"] == env, kind
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, kind
    deployment = documents["Deployment"]
    assert deployment["spec"]["replicas"] == REPLICAS[env]
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["env"] == env
    assert pod["metadata"]["labels"]["app"] == "app"
    assert "env" not in deployment["spec"]["selector"]["matchLabels"]  # selectors are immutable
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "mirante/app:0.1.0"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthcheck", "port": "http"}
    assert set(container["resources"]) == {"requests", "limits"}
    variables = {e["name"]: e.get("value") for e in container["env"]}
    assert variables["MIRANTE_ENV"] == env  # the flags of config/features.yaml for this env
    assert variables["MIRANTE_FEATURES_FILE"] == "/etc/mirante/config/features.yaml"
    assert container["envFrom"] == [{"secretRef": {"name": "mirante-db", "optional": True}}]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["features"]["configMap"] == {"name": "mirante-features", "optional": True}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["features"] == "/etc/mirante/config"
    # The app is scraped as an observed service: its generated ServiceMonitor keeps its
    # Service by name, on a port the Service has, in its namespace.
    service = documents["Service"]
    config = settings.load(REPO, environ={})
    (monitor,) = [m for m in generated.service_monitors(config, ENVIRONMENTS.get(env))
                  if m["name"] == "observed-app"]  # fmt: skip
    assert monitor["namespaceSelector"] == {"matchNames": [namespace]}
    (endpoint,) = monitor["endpoints"]
    keep = endpoint["relabelings"][0]
    assert keep == {"action": "keep", "sourceLabels": ["__meta_kubernetes_service_name"],
                    "regex": service["metadata"]["name"]}  # fmt: skip
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["port"] in ports
    assert {p["name"] for p in container["ports"]} >= ports


def test_an_overlay_pointing_at_another_namespace_is_refused(tmp_path: Path) -> None:
    shutil.copytree(REPO / "k8s", tmp_path / "k8s")
    overlay = tmp_path / "k8s" / "overlays" / "staging"
    kustomization = overlay / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace("namespace: mirante-staging", "namespace: default")
    )
    staging = ENVIRONMENTS.get("staging")
    moved = dataclasses.replace(staging, overlay=overlay)
    with pytest.raises(errors.ManifestError, match=r"in namespace 'default'.*'mirante-staging'"):
        steps.render_overlay(moved)


def test_generated_rules_pass_promtool(tmp_path: Path) -> None:
    config = settings.load(REPO, environ={})
    values = generated.cluster_values(config, config.environments.get("dev"))
    for name, body in values["additionalPrometheusRulesMap"].items():
        path = tmp_path / f"{name}.yml"
        path.write_text(yaml.safe_dump(body))
        checked = subprocess.run(
            ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_release_has_values_for_every_environment(env: str) -> None:
    s = settings.load(REPO, environ={})
    chosen = ENVIRONMENTS.get(env)
    charts = {r.name: r.chart for r in generated.releases(s, chosen)}
    assert charts["tempo"] == ("tempo" if env == "dev" else "tempo-distributed")
    for release in generated.releases(s, chosen):
        files = steps.values_files(s, chosen, release)
        assert files[0] in (
            Path(f"k8s/helm/values/common/{release.chart}.yaml"),
            Path(f"k8s/helm/values/common/{release.name}.yaml"),
        )
        assert files[1] == Path(f"k8s/helm/values/{env}/{release.name}.yaml")
        for path in files:
            assert isinstance(yaml.safe_load((REPO / path).read_text()), dict)


CHARTS = os.environ.get("MIRANTE_TEST_HELM_CHARTS", "")


@pytest.mark.skipif(
    not CHARTS,
    reason="the pinned charts of k8s/helm/releases.yaml are fetched from their repositories, "
    "which cannot be reached here; `helm pull` them into a directory and set "
    "MIRANTE_TEST_HELM_CHARTS to render them",
)
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_helm_template_of_every_release_with_our_values(env: str) -> None:
    s = settings.load(REPO, environ={})
    for release in generated.releases(s, ENVIRONMENTS.get(env)):
        chart = Path(CHARTS) / f"{release.chart}-{release.version}.tgz"
        values = [
            a
            for p in steps.values_files(s, ENVIRONMENTS.get(env), release)
            for a in ("--values", str(p))
        ]
        done = subprocess.run(
            ["helm", "template", release.name, str(chart), "--namespace", "monitoring",
             "--kube-version", KUBERNETES_VERSION, *values],
            cwd=REPO, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        for doc in yaml.safe_load_all(done.stdout):
            if doc and doc["kind"] == "List":  # the observed services' ServiceMonitors
                assert {i["kind"] for i in doc["items"]} == {"ServiceMonitor"}
                continue
            if doc and doc["apiVersion"].split("/")[0] in ("v1", "apps", "policy", "batch"):
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


NEEDS_CHARTS = pytest.mark.skipif(
    not CHARTS,
    reason="the pinned charts cannot be fetched here; `helm pull` them into a directory and "
    "set MIRANTE_TEST_HELM_CHARTS to check the wiring of the rendered objects",
)


def chart_objects(env: str, tmp_path: Path, services: str = "") -> dict[str, list[dict[str, Any]]]:
    """Each release rendered with the real chart and exactly the values of the plan.

    ``services``: entries appended to the checkout's config/services.yaml first.
    """
    root = scratch_checkout(tmp_path / "checkout", copies=("config",) if services else ())
    if services:
        path = root / "config" / "services.yaml"
        path.write_text(path.read_text() + services)
    s = settings.load(root, environ={})
    found = {}
    for release in generated.releases(s, s.environments.get(env)):
        chart = Path(CHARTS) / f"{release.chart}-{release.version}.tgz"
        values = [
            a
            for p in steps.values_files(s, s.environments.get(env), release)
            for a in ("--values", str(p))
        ]
        done = subprocess.run(
            ["helm", "template", release.name, str(chart), "--namespace", "monitoring",
             "--kube-version", KUBERNETES_VERSION,
             "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", *values],
            cwd=root, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        found[release.name] = [d for d in yaml.safe_load_all(done.stdout) if d]
    return found


WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


def s_of(tmp_path: Path) -> settings.Settings:
    return settings.load(tmp_path / "checkout", environ={})


def one(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


@NEEDS_CHARTS
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_rendered_objects_are_wired_like_the_compose_stack(env: str, tmp_path: Path) -> None:
    from mirante.remote import parity
    from mirante.stack import alerting

    objects = chart_objects(env, tmp_path)
    kps, loki, tempo = objects["kube-prometheus-stack"], objects["loki"], objects["tempo"]
    collector = objects["opentelemetry-collector"]

    # Tempo's overrides name the compose stack's processors; span metrics reach every
    # Prometheus replica; staging and prod keep traces on S3 through IRSA.
    distributed = env != "dev"
    config_map = one(tempo, "ConfigMap", "tempo-config" if distributed else "tempo")
    config = yaml.safe_load(config_map["data"]["tempo.yaml"])
    compose_tempo = yaml.safe_load((REPO / "tempo" / "tempo.yml").read_text())
    assert (
        config["overrides"]["defaults"]["metrics_generator"]["processors"]
        == (compose_tempo["overrides"]["defaults"]["metrics_generator"]["processors"])
    )
    writes = [w["url"] for w in config["metrics_generator"]["storage"]["remote_write"]]
    replicas = REPLICAS_OF_PROMETHEUS[env]
    assert len(set(writes)) == replicas
    storage = ENVIRONMENTS.get(env).storage
    accounts = {d["metadata"]["name"]: d for d in tempo if d["kind"] == "ServiceAccount"}
    loki_accounts = {d["metadata"]["name"]: d for d in loki if d["kind"] == "ServiceAccount"}
    if distributed:
        assert storage is not None
        assert config["storage"]["trace"]["backend"] == "s3"
        assert config["storage"]["trace"]["s3"]["bucket"] == storage.traces_bucket
        assert config["storage"]["trace"]["s3"]["region"] == storage.region
        annotations = accounts["tempo"]["metadata"]["annotations"]
        assert annotations["eks.amazonaws.com/role-arn"] == storage.tempo_role
        loki_config = yaml.safe_load(one(loki, "ConfigMap", "loki")["data"]["config.yaml"])
        assert loki_config["common"]["storage"]["s3"]["bucketnames"] == storage.logs_bucket
        assert loki_config["common"]["storage"]["s3"]["region"] == storage.region
        assert {c["object_store"] for c in loki_config["schema_config"]["configs"]} == {"s3"}
        loki_annotations = loki_accounts["loki"]["metadata"]["annotations"]
        assert loki_annotations["eks.amazonaws.com/role-arn"] == storage.loki_role
        kinds = {(d["kind"], d["metadata"]["name"]) for d in loki}
        assert ("StatefulSet", "loki-write") in kinds
        assert ("Deployment", "loki-read") in kinds
        assert ("StatefulSet", "loki") not in kinds  # no single binary
    else:
        assert storage is None
        assert config["storage"]["trace"]["backend"] == "local"
    if env == "prod":
        pdbs = {d["metadata"]["name"] for r in objects.values() for d in r
                if d["kind"] == "PodDisruptionBudget"}  # fmt: skip
        wanted = {"loki-write", "loki-read", "loki-backend", "loki-gateway", "tempo-ingester",
                  "tempo-distributor", "tempo-querier", "tempo-query-frontend",
                  "opentelemetry-collector", "kube-prometheus-stack-grafana"}  # fmt: skip
        assert wanted <= pdbs, pdbs
        ingester = one(tempo, "StatefulSet", "tempo-ingester")
        assert ingester["spec"]["replicas"] == 3
        assert "podAntiAffinity" in ingester["spec"]["template"]["spec"]["affinity"]

    # Every compose alert ends at a receiver that delivers, to this environment's app.
    secret = one(kps, "Secret", "alertmanager-kps-alertmanager")
    text = (
        secret.get("stringData", {}).get("alertmanager.yaml")
        or __import__("base64").b64decode(secret["data"]["alertmanager.yaml"]).decode()
    )
    am = yaml.safe_load(text)
    for alert in parity.shipped_alerts(REPO):
        receiver = alerting.receiver_for(am, {"alertname": alert.name, "severity": alert.severity})
        assert alerting.delivers(am, receiver), alert
    assert f"http://app.mirante-{env}.svc:8000/alerts/webhook" in text
    assert alerting.receiver_for(am, {"alertname": "Watchdog", "severity": "none"}) == "null"

    # loki, tempo and the collector are scraped as the jobs the rules read.
    loki_monitor = one(loki, "ServiceMonitor", "loki")["spec"]["endpoints"][0]
    assert loki_monitor["relabelings"][-1] == {
        "action": "replace", "targetLabel": "job", "replacement": "loki",
    }  # fmt: skip
    if distributed:
        monitors = [d for d in tempo if d["kind"] == "ServiceMonitor"]
        assert monitors
        for monitor in monitors:
            component = monitor["metadata"]["name"].removeprefix("tempo-")
            relabelings = monitor["spec"]["endpoints"][0]["relabelings"]
            job = parity.relabelled(relabelings, {parity.COMPONENT_LABEL: component})["job"]
            assert job == ("tempo-memcached" if component == "memcached" else "tempo")
    else:
        tempo_service = one(tempo, "Service", "tempo")
        assert "tempo-prom-metrics" in {p["name"] for p in tempo_service["spec"]["ports"]}
        assert one(tempo, "ServiceMonitor", "tempo")["spec"]["endpoints"][0]["port"] == (
            "tempo-prom-metrics"
        )
    collector_monitor = one(collector, "ServiceMonitor", "opentelemetry-collector")
    assert collector_monitor["spec"]["endpoints"][0]["relabelings"][-1]["replacement"] == (
        "otel-collector"
    )
    collector_service = one(collector, "Service", "opentelemetry-collector")
    ports = {p["name"]: p["port"] for p in collector_service["spec"]["ports"]}
    assert ports["metrics"] == 8888
    assert ports["otlp-metrics"] == 8889
    # The overlay's otlp-metrics monitor selects that Service.
    (otlp,) = [d for d in rendered(env) if d["metadata"]["name"] == "otlp-metrics"]
    selector = otlp["spec"]["selector"]["matchLabels"]
    assert selector.items() <= collector_service["metadata"]["labels"].items()
    assert otlp["spec"]["namespaceSelector"] == {"matchNames": ["monitoring"]}

    # One alert name, one rule: the compose rules are not the chart's too.
    ours = {a.name for a in parity.shipped_alerts(REPO)}
    owners: dict[str, set[str]] = {}
    for rule_object in (d for d in kps if d["kind"] == "PrometheusRule"):
        for group in rule_object["spec"]["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") in ours:
                    owners.setdefault(rule["alert"], set()).add(rule_object["metadata"]["name"])
    assert set(owners) == ours
    assert all(len(names) == 1 for names in owners.values()), owners

    # Every series carries env=<env>: scraped ones through the default scrape class, span
    # metrics through Tempo's registry (tempo-distributed), alerts through externalLabels.
    (prometheus,) = [d for d in kps if d["kind"] == "Prometheus"]
    (default_class,) = [c for c in prometheus["spec"]["scrapeClasses"] if c.get("default")]
    assert {"action": "replace", "targetLabel": "env", "replacement": env} in (
        default_class["relabelings"]
    )
    assert prometheus["spec"]["externalLabels"]["env"] == env
    if distributed:
        assert config["metrics_generator"]["registry"]["external_labels"]["env"] == env

    # No scrape of control-plane parts a managed cluster never exposes.
    monitors = {d["metadata"]["name"] for d in kps if d["kind"] == "ServiceMonitor"}
    assert not monitors & {"kps-kube-controller-manager", "kps-kube-scheduler",
                           "kps-kube-etcd", "kps-kube-proxy"}  # fmt: skip

    # 1. Every claim names the StorageClass the plan makes (EKS has no default class).
    claims = []
    for release, documents in objects.items():
        for d in documents:
            spec = d.get("spec") or {}
            if d["kind"] == "PersistentVolumeClaim":
                claims.append((release, d["metadata"]["name"], spec.get("storageClassName")))
            for template in spec.get("volumeClaimTemplates") or []:
                claims.append((release, d["metadata"]["name"],
                               template["spec"].get("storageClassName")))  # fmt: skip
            if d["kind"] in ("Prometheus", "Alertmanager"):
                template = (spec.get("storage") or {}).get("volumeClaimTemplate")
                assert template, (d["kind"], "no volume")
                claims.append((release, d["kind"], template["spec"].get("storageClassName")))
    assert len(claims) >= (4 if env == "prod" else 5), claims
    assert {c[2] for c in claims} == {generated.STORAGE_CLASS}, claims
    made = generated.storage_class(s_of(tmp_path), ENVIRONMENTS.get(env))
    assert made["metadata"]["name"] == generated.STORAGE_CLASS
    assert made["provisioner"] == "ebs.csi.aws.com"
    assert made["volumeBindingMode"] == "WaitForFirstConsumer"
    assert made["parameters"]["encrypted"] == "true"
    assert made["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == (
        "true"
    )

    # 3. Exemplars kept; 4. Tempo's span metrics carry env and send exemplars (both charts).
    assert "exemplar-storage" in prometheus["spec"]["enableFeatures"]
    assert config["metrics_generator"]["registry"]["external_labels"]["env"] == env
    assert all(w.get("send_exemplars") for w in config["metrics_generator"]["storage"][
        "remote_write"])  # fmt: skip

    # 5, 6. No record or alert name twice across the chart's rules and mirante's; every
    # info-severity alert inhibited or routed to null.
    records: dict[str, set[str]] = {}
    alert_names: dict[str, set[str]] = {}
    info = set()
    for rule_object in (d for d in kps if d["kind"] == "PrometheusRule"):
        owner = rule_object["metadata"]["name"]
        for group in rule_object["spec"]["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    records.setdefault(rule["record"], set()).add(owner)
                else:
                    alert_names.setdefault(rule["alert"], set()).add(owner)
                    if (rule.get("labels") or {}).get("severity") == "info":
                        info.add(rule["alert"])
    assert [r for r, owners in records.items() if len(owners) > 1] == []
    assert [a for a, owners in alert_names.items() if len(owners) > 1] == []
    assert "env_instance:node_cpu_utilisation:rate5m" in records
    assert {"PrometheusRuleFailures", "AlertmanagerFailedToSendAlerts",
            "BackupTooOld"}.isdisjoint(alert_names)  # fmt: skip
    assert len(info) >= 7, info
    for name in info:
        labels = {"alertname": name, "severity": "info"}
        receiver = alerting.receiver_for(am, labels)
        assert not alerting.delivers(am, receiver) or alerting.inhibits(
            am, {"alertname": "InfoInhibitor"}, labels
        ), name
    if distributed:
        memcached = one(tempo, "ServiceMonitor", "tempo-memcached")["spec"]["endpoints"][0]
        jobs = parity.tempo_component_jobs(memcached["relabelings"], "monitoring")
        assert jobs["memcached"] == "tempo-memcached"
        assert jobs["ingester"] == "tempo"

    # 7. One version of each program: every image of a program compose pins runs its pin.
    pins = generated.pinned_tags()
    programs = {"prometheus/prometheus": "prometheus", "prometheus/alertmanager": "alertmanager",
                "grafana/grafana": "grafana", "prometheus/node-exporter": "node-exporter",
                "grafana/loki": "loki", "grafana/tempo": "tempo",
                "otel/opentelemetry-collector-contrib": "otel-collector"}  # fmt: skip
    images = {c["image"] for r in objects.values() for d in r if d["kind"] in WORKLOADS
              for c in d["spec"]["template"]["spec"]["containers"]}  # fmt: skip
    images |= {d["spec"]["image"] for d in kps if d["kind"] in ("Prometheus", "Alertmanager")}
    seen = set()
    for image in images:
        name, tag = image.rsplit(":", 1)
        for repository, program in programs.items():
            if name.endswith(repository):
                assert tag == pins[program], image
                seen.add(program)
    assert seen == set(programs.values())
    relay = yaml.safe_load(one(collector, "ConfigMap", "opentelemetry-collector")["data"]["relay"])
    assert {"otlp_grpc/tempo", "otlp_http/loki"} <= set(relay["exporters"])

    # Every observed service placed here (config/services.yaml) is scraped as its own job,
    # with the labels the API and LLM alerts select on and the compose limits.
    (listed,) = [d for d in kps if d["kind"] == "List"]
    monitors = {m["metadata"]["name"]: m for m in listed["items"]}
    app_monitor = monitors["observed-app"]["spec"]
    assert app_monitor["namespaceSelector"] == {"matchNames": [f"mirante-{env}"]}
    assert (app_monitor["sampleLimit"], app_monitor["labelLimit"]) == (5000, 30)
    labels = parity.relabelled(app_monitor["endpoints"][0]["relabelings"], {})
    assert labels == {"job": "app", "service": "app", "contract": "http", "llm": "true"}

    # 8. prod's Grafanas share one database, from the Secret the plan makes.
    deployment = one(kps, "Deployment", "kube-prometheus-stack-grafana")
    if env == "prod":
        assert deployment["spec"]["replicas"] == 2
        (grafana_container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                                if c["name"] == "grafana"]  # fmt: skip
        assert {"secretRef": {"name": "grafana-db", "optional": False}} in grafana_container[
            "envFrom"
        ]
        assert "sessionAffinity" not in one(kps, "Service", "kube-prometheus-stack-grafana")[
            "spec"]  # fmt: skip
    else:
        assert deployment["spec"]["strategy"]["type"] == "Recreate"  # its volume moves with it

    # Grafana: the admin Secret is referenced (the plan creates it), the dashboards load,
    # and the datasources keep their links.
    grafana = one(kps, "Deployment", "kube-prometheus-stack-grafana")["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in grafana["containers"]}
    assert "grafana-sc-dashboard" in containers
    admin = {e["name"]: e for e in containers["grafana"]["env"]}
    assert admin["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "grafana-admin", "key": "admin-password",
    }  # fmt: skip
    sources = yaml.safe_load(
        one(kps, "ConfigMap", "kps-grafana-datasource")["data"]["datasource.yaml"]
    )["datasources"]
    by_uid = {s["uid"]: s for s in sources}
    compose = generated.compose_datasources(REPO)
    for uid, source in compose.items():
        for key in generated.LINK_KEYS:
            if key in (source.get("jsonData") or {}):
                assert by_uid[uid]["jsonData"][key] == source["jsonData"][key], (uid, key)


@NEEDS_CHARTS
def test_a_service_added_to_staging_is_scraped_and_alerted_on_there(tmp_path: Path) -> None:
    """service.add shop --env staging ...: the real chart renders its ServiceMonitor and rules.

    Read as the operator would: the Prometheus of the release selects the monitor (its
    release label), the monitor finds the shop's Service by name in its namespace on its
    named port, and the API alerts, which select by label, cover the job it makes.
    """
    from mirante.remote import parity

    shop = (
        "  shop:\n    metrics: http://127.0.0.1:8081/metrics\n    contract: [http]\n"
        "    environments:\n"
        "      staging: {namespace: shop, service: shop-api, port: metrics}\n"
    )
    kps = chart_objects("staging", tmp_path, services=shop)["kube-prometheus-stack"]
    (listed,) = [d for d in kps if d["kind"] == "List"]
    monitors = {m["metadata"]["name"]: m for m in listed["items"]}
    assert set(monitors) == {"observed-app", "observed-shop"}
    monitor = monitors["observed-shop"]
    (prometheus,) = [d for d in kps if d["kind"] == "Prometheus"]
    spec_of = prometheus["spec"]
    assert selects(spec_of.get("serviceMonitorSelector"), monitor["metadata"].get("labels"))
    assert selects(spec_of.get("serviceMonitorNamespaceSelector"), {})  # any namespace
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": ["shop"]}
    assert (spec["sampleLimit"], spec["labelLimit"]) == (5000, 30)
    (endpoint,) = spec["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    # Of every Service in the namespace, only the one named is kept (Prometheus's keep).
    keeps = [r for r in endpoint["relabelings"] if r.get("action") == "keep"]
    assert [(r["sourceLabels"], r["regex"]) for r in keeps] == [
        (["__meta_kubernetes_service_name"], "shop-api")
    ]
    assert re.fullmatch(keeps[0]["regex"], "shop-api")
    assert not re.fullmatch(keeps[0]["regex"], "shop-api-canary")
    labels = parity.relabelled(endpoint["relabelings"], {})
    assert labels == {"job": "shop", "service": "shop", "contract": "http", "llm": "false"}
    rules = [d for d in kps if d["kind"] == "PrometheusRule"]
    api_down = [r for d in rules for g in d["spec"]["groups"] for r in g["rules"]
                if r.get("alert") == "APIDown"]  # fmt: skip
    assert [r["expr"] for r in api_down] == ['up{contract="http"} == 0']
    assert all(selects(spec_of.get("ruleSelector"), d["metadata"].get("labels")) for d in rules)


def selects(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """Whether a label selector (matchLabels only; {} is everything) selects ``labels``.

    A nil selector selects nothing, as the Prometheus Operator reads it.
    """
    if selector is None:
        return False
    assert set(selector) <= {"matchLabels"}, selector
    return (selector.get("matchLabels") or {}).items() <= (labels or {}).items()


def default_render(chart: str, version: str, *values: Path) -> list[dict[str, Any]]:
    """The chart rendered with its own values (and ``values`` files, when given)."""
    args = [a for p in values for a in ("--values", str(p))]
    done = subprocess.run(
        ["helm", "template", chart.split("-distributed")[0], str(Path(CHARTS) /
         f"{chart}-{version}.tgz"), "--namespace", "monitoring", "--kube-version",
         KUBERNETES_VERSION, *args],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@NEEDS_CHARTS
def test_the_chart_rules_file_is_what_the_pinned_chart_defines() -> None:
    """k8s/helm/chart-rules.yaml, which the parity gate reads, against the real chart."""
    from mirante.remote import charts

    kept = charts.load(REPO)
    documents = default_render(charts.CHART, kept.version)
    made = charts.facts_of(documents, kept.version)
    committed = yaml.safe_load((REPO / charts.FACTS_FILE).read_text())
    assert {k: committed[k] for k in made} == made, (
        "refresh k8s/helm/chart-rules.yaml (keep kept_beside_mirante):\n"
        + yaml.safe_dump(made, sort_keys=False)
    )


@NEEDS_CHARTS
def test_dev_tempo_config_is_the_charts_own_but_for_receivers_and_generator(
    tmp_path: Path,
) -> None:
    s = settings.load(scratch_checkout(tmp_path / "checkout"), environ={})
    dev = s.environments.get("dev")
    (release,) = [r for r in generated.releases(s, dev) if r.name == "tempo"]
    files = [s.root / p for p in steps.values_files(s, dev, release)]

    def config(documents: list[dict[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = yaml.safe_load(one(documents, "ConfigMap", "tempo")["data"][
            "tempo.yaml"])  # fmt: skip
        return found

    without = yaml.safe_load(files[-1].read_text())  # the generated values, but for config
    without.pop("config")
    (tmp_path / "without.yaml").write_text(yaml.safe_dump(without))
    ours = config(default_render("tempo", release.version, *files))
    theirs = config(
        default_render("tempo", release.version, *files[:-1], tmp_path / "without.yaml")
    )
    for key in ("distributor", "metrics_generator"):
        ours.pop(key)
        theirs.pop(key)
    assert ours == theirs
