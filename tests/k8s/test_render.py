"""The overlays and values render with the real kubectl and validate offline."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mirante import errors, settings
from mirante.remote import generated, plans
from mirante.remote.kube import HELM_MIN, KUBECTL_MIN, tool_version

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.34.0"
REPLICAS = {"dev": 1, "staging": 2, "prod": 3}
ENVIRONMENTS = settings.load(REPO, environ={}).environments


def rendered(env: str) -> list[dict[str, Any]]:
    return plans.render_overlay(ENVIRONMENTS.get(env))


def test_the_installed_tools_are_recent_enough() -> None:
    assert tool_version("kubectl") >= KUBECTL_MIN
    assert tool_version("helm") >= HELM_MIN


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_overlay_renders_and_validates_against_the_kubernetes_schemas(env: str) -> None:
    documents = rendered(env)
    kinds = sorted(d["kind"] for d in documents)
    expected = ["Deployment", "Namespace", "Service", "ServiceMonitor"]
    assert kinds == sorted([*expected, "PodDisruptionBudget"] if env == "prod" else expected)
    for doc in documents:
        if doc["kind"] == "ServiceMonitor":
            continue  # a CRD: no schema offline; checked below against the Service
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_labels_namespace_image_probes_and_resources(env: str) -> None:
    documents = {d["kind"]: d for d in rendered(env)}
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
    service, monitor = documents["Service"], documents["ServiceMonitor"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
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
        plans.render_overlay(moved)


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
    for release in plans.releases(s):
        files = plans.values_files(s, ENVIRONMENTS.get(env), release)
        assert files[0] == Path(f"k8s/helm/values/common/{release.name}.yaml")
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
    for release in plans.releases(s):
        chart = Path(CHARTS) / f"{release.chart}-{release.version}.tgz"
        values = [
            a
            for p in plans.values_files(s, ENVIRONMENTS.get(env), release)
            for a in ("--values", str(p))
        ]
        done = subprocess.run(
            ["helm", "template", release.name, str(chart), "--namespace", "monitoring", *values],
            cwd=REPO, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        for doc in yaml.safe_load_all(done.stdout):
            if doc and doc["apiVersion"].split("/")[0] in ("v1", "apps", "policy", "batch"):
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
