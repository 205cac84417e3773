"""Static quality gates against fixtures that must pass and fixtures that must fail.

Each failing fixture must make its gate fail with a message naming the file and the item.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mirante import errors, gates, settings
from tests.helpers import REPO

FIXTURES = REPO / "tests" / "fixtures" / "gates"
NEEDS_TOOLS = pytest.mark.skipif(
    not (shutil.which("promtool") and shutil.which("amtool")),
    reason="promtool / amtool are not on this host (scripts/ci/bootstrap.sh installs them)",
)


def fixture(name: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((FIXTURES / name).read_text())


def test_compose_policy_accepts_a_conforming_configuration() -> None:
    assert (
        gates.compose_policy(fixture("compose-rendered-good.yml"), "", "127.0.0.1", "good.yml")
        == []
    )


def test_compose_policy_names_each_service_and_problem() -> None:
    problems = "\n".join(
        gates.compose_policy(fixture("compose-rendered-bad.yml"), "", "127.0.0.1", "bad.yml")
    )
    assert "bad.yml: service public: port 0.0.0.0:8080 is not bound to 127.0.0.1" in problems
    assert "bad.yml: service floating: image 'example/web:latest' is not pinned" in problems
    assert "bad.yml: service careless: image 'example/web' is not pinned" in problems
    assert "bad.yml: service careless: no healthcheck" in problems
    assert "bad.yml: service careless: no memory limit" in problems
    assert "bad.yml: service socket: mounts the Docker socket (/var/run/docker.sock)" in problems
    assert (
        "bad.yml: service defaults: GF_SECURITY_ADMIN_PASSWORD is a default credential ('admin')"
        in problems
    )


def test_compose_policy_refuses_a_literal_password_in_the_file() -> None:
    raw = (FIXTURES / "compose-raw-literal-password.yml").read_text()
    problems = gates.compose_policy({"services": {}}, raw, "127.0.0.1", "compose.yml")
    assert problems == [
        "compose.yml line 5: POSTGRES_PASSWORD has a literal value; take it from a variable"
    ]


def test_the_real_compose_file_has_no_literal_credentials(repo: Path) -> None:
    raw = (repo / "compose" / "docker-compose.yml").read_text()
    assert (
        gates.compose_policy({"services": {}}, raw, "127.0.0.1", "compose/docker-compose.yml") == []
    )


@pytest.fixture
def own_checkout(tmp_path: Path, repo: Path) -> Path:
    """A checkout whose prometheus/ and grafana/ are copies the test may break."""
    root = tmp_path / "checkout"
    root.mkdir()
    for part in (
        "compose",
        "alertmanager",
        "loki",
        "tempo",
        "otel-collector",
        "app",
        "images",
        "docs",
    ):
        (root / part).symlink_to(repo / part, target_is_directory=True)
    for part in ("prometheus", "grafana"):
        shutil.copytree(repo / part, root / part)
    shutil.copy(repo / ".env.example", root / ".env.example")
    return root


def context(root: Path) -> gates.GateContext:
    return gates.GateContext(settings.load(root, environ={}))


@NEEDS_TOOLS
def test_prometheus_gate_passes_the_committed_rules_and_names_an_untested_alert(
    own_checkout: Path,
) -> None:
    """One promtool run: beside an untested alert, the committed rules raise no problem."""
    shutil.copy(
        FIXTURES / "untested-alert.yml", own_checkout / "prometheus" / "rules" / "fixture.yml"
    )
    verdict = gates.gate_prometheus(context(own_checkout))
    said = (
        "prometheus/rules/fixture.yml: alert FixtureUntested has no unit test where it fires"
        " and no test where it stays quiet"
    )
    assert verdict.status == gates.FAIL
    assert verdict.reason == said
    assert verdict.evidence == [said]  # promtool's check config, check rules, test rules: ok
    assert set(verdict.outputs) == {
        "promtool check config", "promtool check rules", "promtool test rules"
    }  # fmt: skip


@NEEDS_TOOLS
def test_dashboards_gate_names_a_dangling_datasource_uid(own_checkout: Path) -> None:
    shutil.copy(
        FIXTURES / "dashboard-dangling-uid.json",
        own_checkout / "grafana" / "dashboards" / "mirante",
    )
    verdict = gates.gate_dashboards(context(own_checkout))
    assert verdict.status == gates.FAIL
    assert any(
        "dashboard-dangling-uid.json: panel 'Requests' names datasource" in p and "mimir-prod" in p
        for p in verdict.evidence
    )


@NEEDS_TOOLS
def test_dashboards_gate_names_a_query_that_does_not_parse(own_checkout: Path) -> None:
    shutil.copy(
        FIXTURES / "dashboard-bad-promql.json", own_checkout / "grafana" / "dashboards" / "mirante"
    )
    verdict = gates.gate_dashboards(context(own_checkout))
    assert verdict.status == gates.FAIL
    assert any(
        p.startswith(
            "grafana/dashboards/mirante/dashboard-bad-promql.json: panel 'Broken rate': "
            "PromQL does not parse"
        )
        for p in verdict.evidence
    ), verdict.evidence


def test_a_committed_password_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    leaky = tmp_path / "deploy" / "staging.env"
    leaky.parent.mkdir()
    shutil.copy(FIXTURES / "leaky.env", leaky)
    problems = gates.committed_secrets(tmp_path, [leaky])
    assert problems == [
        "deploy/staging.env line 2: MIRANTE_POSTGRES_PASSWORD holds a value; "
        "secrets belong in .env (git-ignored)"
    ]


def test_known_token_shapes_are_found_anywhere(tmp_path: Path) -> None:
    script = tmp_path / "notify.py"
    # Assembled here so that this test file itself holds no webhook-shaped string.
    webhook = "https://hooks.slack.com/services/" + "T0ABC123/B0DEF456/abcdefGHIJKL123"
    script.write_text(f'URL = "{webhook}"\n')
    assert gates.committed_secrets(tmp_path, [script]) == ["notify.py: contains a Slack webhook"]


def test_environment_gate_passes_on_the_checkout(repo: Path) -> None:
    verdict = gates.gate_environment(context(repo))
    assert verdict.status == gates.PASS, verdict.evidence


def test_an_undocumented_setting_fails_the_environment_gate(own_checkout: Path) -> None:
    example = own_checkout / ".env.example"
    example.write_text(example.read_text().replace("MIRANTE_CB_TIMEOUT=60\n", ""))
    verdict = gates.gate_environment(context(own_checkout))
    assert verdict.status == gates.FAIL
    assert any(p.startswith(".env.example: MIRANTE_CB_TIMEOUT (read in ") for p in verdict.evidence)


def test_a_rule_on_a_metric_nobody_exports_is_reported_with_its_place(own_checkout: Path) -> None:
    shutil.copy(
        FIXTURES / "rule-on-missing-metric.yml",
        own_checkout / "prometheus" / "rules" / "missing.yml",
    )
    referenced = gates.referenced_metrics(own_checkout)
    present = set(referenced) - {"http_requests_that_nobody_exports_total"}
    problems, _ = gates.missing_metrics(referenced, present, {}, {"prometheus", "app"})
    assert problems == [
        "prometheus/rules/missing.yml: FixtureErrorsOnMissingMetric: metric "
        "http_requests_that_nobody_exports_total does not exist in Prometheus"
    ]


def test_allowlisted_and_absent_service_metrics_are_noted_not_failed(repo: Path) -> None:
    referenced = gates.referenced_metrics(repo)
    allow = gates.load_allowlist(repo)
    assert "mirante_backup_last_success_timestamp_seconds" in allow  # and each entry has a reason
    assert all(allow.values())
    problems, notes = gates.missing_metrics(referenced, set(), allow, set())
    assert any(
        n.startswith("not checked loki_distributor_lines_received_total: loki") for n in notes
    )
    assert any(n.startswith("allowlisted ALERTS:") for n in notes)
    assert problems  # with nothing present, everything else is missing


def test_unknown_gate_lists_the_known_ones() -> None:
    with pytest.raises(errors.UnknownGate, match="known gates: compose, expand-env, image-tools"):
        gates.select(["compose,nope"])


def test_outside_git_generated_files_and_dot_env_are_not_scanned(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MIRANTE_POSTGRES_PASSWORD=generated-and-private\n")
    (tmp_path / ".mirante").mkdir()
    (tmp_path / ".mirante" / "compose.env").write_text("MIRANTE_POSTGRES_PASSWORD='generated'\n")
    (tmp_path / "deploy.env").write_text(
        "MIRANTE_SMTP_PASSWORD=''\nMIRANTE_POSTGRES_PASSWORD=leaked-value\n"
    )
    files = gates.tracked_files(tmp_path)
    assert sorted(p.name for p in files) == ["deploy.env"]
    assert gates.committed_secrets(tmp_path, files) == [
        "deploy.env line 2: MIRANTE_POSTGRES_PASSWORD holds a value; "
        "secrets belong in .env (git-ignored)"
    ]
