"""Dashboard lint: valid JSON, unique uids and titles, provisioned datasource uids, queries."""

from __future__ import annotations

import json
from pathlib import Path

from mirante.gates import dashboards


def test_committed_dashboards_pass_the_lint(repo: Path) -> None:
    assert dashboards.lint(repo) == []


def test_the_expected_dashboards_are_provisioned(repo: Path) -> None:
    titles = {json.loads(p.read_text())["title"] for p in dashboards.dashboard_files(repo)}
    assert {"Golden signals", "LLM observability", "Stack overview"} <= titles


def test_llm_dashboard_has_the_seed_panels(repo: Path) -> None:
    llm = json.loads((repo / "grafana/dashboards/mirante/llm-observability.json").read_text())
    exprs = " ".join(q.expr for q in dashboards.queries(llm))
    for metric in (
        "llm_request_latency_seconds",
        "llm_tokens_total",
        "llm_errors",
        "circuit_breaker_state",
    ):
        assert metric in exprs, metric
    breaker = next(p for p in dashboards.panels(llm) if p["title"] == "Circuit breaker state")
    colours = breaker["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert {k: v["color"] for k, v in colours.items()} == {"0": "green", "1": "red", "2": "yellow"}


def test_lint_catches_broken_dashboards(tmp_path: Path, repo: Path) -> None:
    (tmp_path / "grafana/provisioning").mkdir(parents=True)
    (tmp_path / "grafana/provisioning/datasources").symlink_to(
        repo / "grafana/provisioning/datasources", target_is_directory=True
    )
    folder = tmp_path / "grafana/dashboards/x"
    folder.mkdir(parents=True)
    good = {
        "uid": "a",
        "title": "A",
        "panels": [
            {"title": "ok", "datasource": {"uid": "prometheus"}, "targets": [{"expr": "up"}]}
        ],
    }
    (folder / "a.json").write_text(json.dumps(good))
    (folder / "b.json").write_text(json.dumps({**good, "title": "B"}))  # duplicate uid
    (folder / "c.json").write_text(
        json.dumps(
            {
                "uid": "c",
                "title": "C",
                "panels": [
                    {"title": "empty", "datasource": {"uid": "prometheus"}, "targets": []},
                    {"title": "by name", "datasource": "Prometheus", "targets": [{"expr": "up"}]},
                    {
                        "title": "unknown uid",
                        "datasource": {"uid": "mimir"},
                        "targets": [{"expr": "up"}],
                    },
                ],
            }
        )
    )
    (folder / "d.json").write_text("{ not json")
    problems = "\n".join(dashboards.lint(tmp_path))
    assert "uid 'a' is also used by a.json" in problems
    assert "panel 'empty' has no query" in problems
    assert "panel 'by name' names datasource 'Prometheus'" in problems
    assert "panel 'unknown uid' names datasource" in problems
    assert "d.json: not valid JSON" in problems
    # Without the env variable, and a Prometheus query that does not select it.
    assert "a.json: has no `env` variable" in problems
    assert "a.json: panel 'ok' selects up without env=~\"$env\"" in problems


def test_every_aggregating_rule_keeps_the_env_label(repo: Path) -> None:
    """A recording rule or alert that aggregates keeps env: the dashboards select it."""
    import re

    import yaml

    for path in sorted((repo / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", rule["expr"]):
                    names = {n.strip() for n in clause.split(",")}
                    assert "env" in names, (path.name, rule.get("record") or rule.get("alert"))
