"""`invoke health --env ENV` with the real kubectl and no cluster.

The guard first, then each remote check reports what it could and could not reach, in
one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.helpers import SERVERS


def test_the_wrong_context_is_refused_before_any_check(kube) -> None:
    done = kube("other-cluster")("health", "--env", "staging")
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: the current kube context is 'other-cluster' but environments.yaml expects "
        "'mirante-staging' for staging; run `kubectl config use-context mirante-staging` if "
        "that is what you meant"
    ]


def test_the_right_context_at_another_api_server_is_refused(kube) -> None:
    done = kube("mirante-prod", {**SERVERS, "mirante-prod": "https://10.9.8.7:6443"})(
        "health", "--env", "prod"
    )
    assert done.returncode == 3
    assert "points at https://10.9.8.7:6443 but environments.yaml expects" in done.stderr


def test_an_unreachable_cluster_is_critical_and_the_rest_is_said(kube) -> None:
    done = kube("mirante-dev")("health", "--env", "dev", "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    report = json.loads(done.stdout)
    rows = {r["component"]: (r["status"], r["reason"]) for r in report["checks"]}
    assert report["env"] == "dev"
    assert report["status"] == "CRITICAL"
    assert list(rows) == [
        "pods mirante-dev", "pods monitoring", "postgres data", "app latency", "disk: backups",
        "last database dump", "prometheus targets", "critical alerts",
    ]  # fmt: skip
    for namespace in ("mirante-dev", "monitoring"):
        status, reason = rows[f"pods {namespace}"]
        assert status == "CRITICAL"
        assert reason.startswith("`kubectl get pods -o json --request-timeout=5s` exited 1:")
        assert "\n" not in reason
    assert rows["postgres data"] == ("SKIP", "DEV_DATABASE_URL is not set")
    assert rows["app latency"] == ("SKIP", "no urls.app for dev in environments.yaml")
    assert rows["last database dump"] == (
        "WARN",
        "no dump of dev yet; run `invoke db.backup --env dev`",
    )
    assert rows["disk: backups"][0] == "OK"


def test_urls_in_environments_yaml_are_checked(kube, root: Path, tmp_path: Path) -> None:
    document = yaml.safe_load((root / "config" / "environments.yaml").read_text())
    document["environments"]["dev"]["urls"] = {
        "app": "http://127.0.0.1:9",  # the discard port: nothing listens there
        "prometheus": "http://127.0.0.1:9",
    }
    custom = tmp_path / "environments.yaml"
    custom.write_text(yaml.safe_dump(document))
    done = kube("mirante-dev")(
        "health", "--env", "dev", "--json", MIRANTE_ENVIRONMENTS_FILE=str(custom)
    )
    rows = {r["component"]: (r["status"], r["reason"]) for r in json.loads(done.stdout)["checks"]}
    assert rows["app latency"] == (
        "CRITICAL",
        "1 of 1 requests to http://127.0.0.1:9/healthcheck failed: Connection refused",
    )
    assert rows["prometheus targets"] == ("CRITICAL", "does not answer: Connection refused")
    assert rows["critical alerts"][0] == "SKIP"


def test_a_bad_url_in_environments_yaml_is_one_line(kube, root: Path, tmp_path: Path) -> None:
    document = yaml.safe_load((root / "config" / "environments.yaml").read_text())
    document["environments"]["dev"]["urls"] = {"grafana": "http://127.0.0.1:3000"}
    custom = tmp_path / "environments.yaml"
    custom.write_text(yaml.safe_dump(document))
    done = kube("mirante-dev")("health", "--env", "dev", MIRANTE_ENVIRONMENTS_FILE=str(custom))
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "environments.dev.urls.grafana is not known; expected app, prometheus, alertmanager"
    )
    assert len(done.stderr.strip().splitlines()) == 1
