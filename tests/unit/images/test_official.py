"""The official-image facts and the gates built on them.

expand-env, image-tools, stand-in-parity, pins-resolve: each broken fixture must fail
its check, naming the file and line or the service; the committed files must pass.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mirante import gates, images, settings
from mirante.images import official
from tests.helpers import REPO

FIXTURES = REPO / "tests" / "fixtures" / "official"
PINS = settings.load(REPO, environ={}).images
NEEDS_COMPOSE = pytest.mark.skipif(
    shutil.which("docker") is None, reason="the docker CLI (compose config) is not installed"
)


def rendered(name: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def facts(repo: Path) -> official.Facts:
    return official.load(repo)


def test_every_pinned_image_has_a_row_citing_its_upstream_dockerfile(
    facts: official.Facts,
) -> None:
    assert set(facts.official) == set(PINS)
    for service, row in facts.official.items():
        assert row.kind in ("distroless", "scratch", "busybox", "alpine", "debian"), service
        assert row.binary in row.tools, service
        assert row.source.count(":") >= 1, service
        assert "@" in row.source, service
        assert row.shell == row.has("/bin/sh"), service


def test_the_distroless_and_scratch_images_have_neither_shell_nor_wget(
    facts: official.Facts,
) -> None:
    for service in ("loki", "tempo", "otel-collector"):
        row = facts.official[service]
        assert not row.shell, service
        assert not row.wget, service
        assert not row.has("wget"), service
    assert facts.official["tempo"].data == (official.DataDir("/var/tempo", "10001", 0o700),)


def test_a_wget_probe_against_distroless_images_fails_naming_each_service(
    facts: official.Facts,
) -> None:
    problems = official.tool_problems(
        rendered("compose-rendered-wget-on-distroless.yml"), facts, PINS, "compose.yml"
    )
    assert len(problems) == 3, problems
    loki, tempo_shell, tempo_wget = problems
    assert loki.startswith(
        "compose.yml: service loki: healthcheck runs `wget -q -O /dev/null "
        "http://127.0.0.1:3100/ready`, which needs wget, but grafana/loki:3.7.8 has no wget "
        "(distroless (gcr.io/distroless/static:nonroot); no shell, no wget)"
    )
    assert loki.endswith("its own probe: /usr/bin/loki -health -health.url=URL")
    assert "service tempo: healthcheck runs `CMD-SHELL wget" in tempo_shell
    assert "needs /bin/sh" in tempo_shell
    assert "service tempo:" in tempo_wget
    assert "needs wget" in tempo_wget
    # The collector's busybox comes from the healthprobe volume; Grafana's Alpine has wget.
    assert not [p for p in problems if "service otel-collector" in p or "service grafana" in p]


def test_a_data_directory_the_user_cannot_write_fails(facts: official.Facts) -> None:
    service = {
        "user": "65534:65534",
        "volumes": [{"type": "volume", "source": "tempo_data", "target": "/var/tempo"}],
    }
    problems = official.tool_problems({"services": {"tempo": service}}, facts, PINS, "c.yml")
    assert problems == [
        "c.yml: service tempo: uid 65534 writes /var/tempo, but grafana/tempo:2.10.0 "
        "has /var/tempo owned by 10001, mode 0700"
    ]


def test_a_stand_in_more_or_less_capable_than_the_official_image_fails(
    facts: official.Facts,
) -> None:
    problems = official.parity_problems(
        rendered("compose-rendered-stand-in-only.yml"), facts, "compose.yml"
    )
    assert problems == [
        "compose.yml: service postgres: healthcheck runs `/usr/lib/postgresql/18/bin/pg_isready "
        "-q`, which needs /usr/lib/postgresql/18/bin/pg_isready: the stand-in (postgres 15 "
        "(Debian)) has no /usr/lib/postgresql/18/bin/pg_isready (debian (bookworm minbase); "
        "no wget), so it fails locally",
        "compose.yml: service prometheus: healthcheck runs `/usr/local/bin/wget -q -O /dev/null "
        "http://127.0.0.1:9090/-/ready`, which needs /usr/local/bin/wget: it works on the "
        "stand-in (prometheus 2.42 (Debian)) only; the official image has no "
        "/usr/local/bin/wget (busybox (quay.io/prometheus/busybox-linux-amd64:latest))",
    ]


def test_a_oneshot_is_held_to_the_image_it_runs_on(facts: official.Facts) -> None:
    image = PINS["postgres"]
    services = {
        "postgres": {"image": image},
        "postgres-roles": {"image": image, "entrypoint": ["/usr/lib/postgresql/15/bin/psql"]},
    }
    assert official.tool_problems({"services": services}, facts, PINS, "c.yml") == [
        "c.yml: service postgres-roles: entrypoint runs `/usr/lib/postgresql/15/bin/psql`, "
        f"which needs /usr/lib/postgresql/15/bin/psql, but {image} has no "
        "/usr/lib/postgresql/15/bin/psql (debian (debian:trixie-slim); no wget)"
    ]
    parity = official.parity_problems({"services": services}, facts, "c.yml")
    assert [p.split(":")[1] for p in parity] == [" service postgres-roles"]
    services["postgres-roles"]["entrypoint"] = ["psql"]  # on PATH in both
    assert official.tool_problems({"services": services}, facts, PINS, "c.yml") == []
    assert official.parity_problems({"services": services}, facts, "c.yml") == []


def config_service(path: Path, **environment: str) -> dict:  # type: ignore[type-arg]
    return {
        "command": ["-config.file=/etc/loki/loki.yml", "-config.expand-env=true"],
        "environment": environment,
        "volumes": [{"type": "bind", "source": str(path.parent), "target": "/etc/loki"}],
    }


def expansion(tmp_path: Path, fixture: str, **environment: str) -> list[str]:
    target = tmp_path / "loki" / "loki.yml"
    target.parent.mkdir()
    shutil.copy(FIXTURES / fixture, target)
    configs = official.expanded_configs(
        {"services": {"loki": config_service(target, **environment)}}
    )
    assert [c.container_path for c in configs] == ["/etc/loki/loki.yml"]
    assert configs[0].host_path == target
    return official.expansion_problems(configs[0], tmp_path)


def test_a_dollar_brace_in_a_comment_stops_the_program_and_is_named_by_line(
    tmp_path: Path,
) -> None:
    problems = expansion(tmp_path, "loki-comment.yml", MIRANTE_LOKI_RETENTION="168h")
    assert problems == [
        "loki/loki.yml:2: missing closing brace (service loki expands the whole file, comments "
        "included, and exits at start; write $$ for a literal $)"
    ]


def test_a_variable_compose_does_not_give_the_service_is_named_by_line(tmp_path: Path) -> None:
    problems = expansion(tmp_path, "tempo-unset.yml")
    assert problems == [
        "loki/loki.yml:4: ${MIRANTE_TEMPO_RETENTION} is not set in the environment compose gives "
        "service loki (it would expand to an empty string)"
    ]


def test_yaml_broken_by_the_expanded_value_is_named_by_line(tmp_path: Path) -> None:
    problems = expansion(tmp_path, "loki-bad-yaml.yml", MIRANTE_LOKI_RETENTION="[168h")
    assert len(problems) == 1
    assert problems[0].startswith("loki/loki.yml:")
    assert "not valid YAML after expansion for service loki" in problems[0]


@NEEDS_COMPOSE
@pytest.mark.parametrize("gate", ["expand-env", "image-tools", "stand-in-parity"])
def test_the_new_static_gates_pass_on_the_committed_files(repo: Path, gate: str) -> None:
    report = gates.run_gates(settings.load(repo, environ={}), only=[gate])
    (result,) = report.results
    assert result.status == gates.PASS, (result.reason, result.evidence)


@NEEDS_COMPOSE
def test_the_expand_env_gate_reads_loki_and_tempo_with_the_environment_compose_gives(
    repo: Path,
) -> None:
    (result,) = gates.run_gates(settings.load(repo, environ={}), only=["expand-env"]).results
    assert "/etc/loki/loki.yml (loki, 1 variables)" in result.reason
    assert "/etc/tempo/tempo.yml (tempo, 1 variables)" in result.reason


def test_pins_resolve_is_skipped_with_the_reason_when_no_registry_answers(repo: Path) -> None:
    config = settings.load(repo, environ={"MIRANTE_REGISTRY": "127.0.0.1:9"})
    verdict = gates.gate_pins_resolve(gates.GateContext(config))
    assert verdict.status == gates.SKIPPED
    assert verdict.reason == (
        "no registry answers at https://127.0.0.1:9/v2/, so the 8 pinned tags cannot be "
        "checked here"
    )


@pytest.mark.parametrize(
    ("ref", "parts"),
    [
        ("prom/prometheus:v3.15.0", ("registry-1.docker.io", "prom/prometheus", "v3.15.0")),
        ("postgres:18.3", ("registry-1.docker.io", "library/postgres", "18.3")),
        ("ghcr.io/org/app:1.2", ("ghcr.io", "org/app", "1.2")),
        ("localhost:5000/app:2", ("localhost:5000", "app", "2")),
        ("grafana/loki@sha256:ab12", ("registry-1.docker.io", "grafana/loki", "sha256:ab12")),
    ],
    ids=["hub-org", "hub-official", "other-registry", "registry-with-port", "digest"],
)
def test_a_reference_splits_into_registry_repository_and_tag(
    ref: str, parts: tuple[str, str, str]
) -> None:
    assert images.split_reference(ref, "registry-1.docker.io") == parts


def test_a_stand_in_says_what_it_stands_in_for(facts: official.Facts) -> None:
    assert (
        official.stand_in_label(facts, "prometheus", "prom/prometheus:v3.15.0")
        == "prometheus 2.42 (Debian) for prom/prometheus:v3.15.0"
    )
    assert official.stand_in_label(facts, "loki", "grafana/loki:3.7.8") == ""


def test_exemplars_of_the_app_and_of_tempo_span_metrics_both_open_traces(repo: Path) -> None:
    provisioned = yaml.safe_load(
        (repo / "grafana/provisioning/datasources/datasources.yml").read_text()
    )
    prometheus = next(d for d in provisioned["datasources"] if d["type"] == "prometheus")
    destinations = {
        d["name"]: d["datasourceUid"] for d in prometheus["jsonData"]["exemplarTraceIdDestinations"]
    }
    # trace_id: the app's histograms; traceID: Tempo's metrics generator (span metrics).
    assert destinations == {"trace_id": "tempo", "traceID": "tempo"}
