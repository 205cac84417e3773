"""The runtime gates on the real stack, and the metric-existence gate catching a hole."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import requests
import yaml

from mirante import gates, settings, stack
from mirante.gates import sandbox
from tests.helpers import docker_out

from .test_stack import url

# One stack for the session: these tests run in one xdist worker, in order.

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gates"


def _project_containers(project: str) -> dict[str, str]:
    """The id and start time of every container of a compose project, by name."""
    listed = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--format",
            "{{.Names}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {
        name: subprocess.run(
            ["docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for name in listed
    }


def _projects() -> set[str]:
    listed = subprocess.run(
        ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(listed.stdout.split())


def test_runtime_gates_pass_on_a_throwaway_copy_and_leave_the_running_stack_alone(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    before = _project_containers(stack_settings.project_name)
    env_before = stack.env_file(stack_settings).read_text()
    runtime = [g.name for g in gates.GATES if g.kind == "runtime"]
    report = gates.run_gates(stack_settings, runtime)
    # The copy is gone, with its volumes and network (its helpers' too); the user's project
    # is as it was.
    copy = f"{stack_settings.project_name}{sandbox.SUFFIX}"
    assert not any(p.startswith(copy) for p in _projects())
    for kind in ("volume", "network"):
        names = docker_out(kind, "ls", "--format", "{{.Name}}").split()
        assert [n for n in names if n.startswith(copy)] == [], kind
    assert _project_containers(stack_settings.project_name) == before
    assert stack.env_file(stack_settings).read_text() == env_before
    statuses = {r.name: (r.status, r.reason) for r in report.results}
    assert [name for name, (status, _) in statuses.items() if status == gates.FAIL] == [], statuses
    stack_result = next(r for r in report.results if r.name == "stack")
    urls = " ".join(stack_result.evidence)
    assert (
        f":{stack_settings.ports['prometheus']}/" not in urls
    )  # ephemeral ports, not the set ones
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
        report = gates.run_gates(stack_settings, ["metrics-exist"], reuse=True)
    finally:
        broken.unlink()
        requests.post(url(stack_settings, "prometheus", "/-/reload"), timeout=10)
    result = report.results[0]
    assert result.status == gates.FAIL
    assert result.reason == (
        "prometheus/rules/broken.yml: FixtureErrorsOnMissingMetric: metric "
        "http_requests_that_nobody_exports_total does not exist in Prometheus"
    )


def test_gates_reuse_checks_the_running_stack(
    running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    report = gates.run_gates(stack_settings, ["stack", "targets", "alert-path"], reuse=True)
    statuses = {r.name: (r.status, r.reason) for r in report.results}
    assert statuses["stack"][0] == gates.PASS, statuses
    assert statuses["alert-path"][0] == gates.PASS, statuses
    assert "from a Prometheus beside the stack" in statuses["alert-path"][1]
    # The stack's own Prometheus was never given the probe rule.
    rules = requests.get(url(stack_settings, "prometheus", "/api/v1/rules"), timeout=10).json()
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert gates.runtime.PROBE_ALERT not in names


def test_a_copy_left_by_a_killed_run_is_removed_by_the_next(
    running_stack: stack.UpReport, stack_settings: settings.Settings, tmp_path: Path
) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    project = f"{stack_settings.project_name}{sandbox.SUFFIX}{dead.pid}"
    image = settings.read_env_file(stack.env_file(stack_settings))["MIRANTE_PROMETHEUS_IMAGE"]
    compose_file = tmp_path / "leftover.yml"
    compose_file.write_text(
        yaml.safe_dump(
            {"services": {"prometheus": {"image": image, "entrypoint": ["sleep", "300"]}}}
        )
    )
    subprocess.run(
        ["docker", "compose", "-p", project, "-f", str(compose_file), "up", "-d"],
        capture_output=True,
        check=True,
    )
    assert project in _projects()
    mine = f"{stack_settings.project_name}{sandbox.SUFFIX}{os.getpid()}"
    assert sandbox.remove_leftovers(stack_settings) == [project]
    assert project not in _projects()
    assert mine not in _projects()
