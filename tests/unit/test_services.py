"""The service catalogue, and the compose file's conventions, read statically."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mirante import services
from mirante.errors import UnknownService


@pytest.fixture(scope="module")
def compose(repo: Path) -> dict[str, Any]:
    return yaml.safe_load((repo / "compose" / "docker-compose.yml").read_text())


def test_select_accepts_comma_separated_names_in_catalogue_order() -> None:
    chosen = services.select(["app,prometheus", "postgres"])
    assert [s.name for s in chosen] == ["prometheus", "postgres", "app"]


def test_select_with_no_names_means_every_service() -> None:
    assert [s.name for s in services.select([])] == list(services.NAMES)


def test_unknown_service_lists_the_unknown_and_the_known() -> None:
    with pytest.raises(UnknownService) as caught:
        services.select(["app,promethus,grafanna"])
    message = str(caught.value)
    assert "'promethus'" in message
    assert "'grafanna'" in message
    assert "known services: prometheus, alertmanager" in message


def test_compose_defines_exactly_the_catalogue_and_its_helpers(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == set(services.NAMES) | set(services.INTERNAL)


def test_oneshots_run_on_their_service_image_and_only_when_named(compose: dict[str, Any]) -> None:
    for service in services.SERVICES:
        for oneshot in service.oneshots:
            target = services.ONESHOT_TARGETS[oneshot]
            svc = compose["services"][oneshot]
            assert svc["image"] == compose["services"][target]["image"]
            assert svc["profiles"] == ["oneshot"]  # plain `compose up` never starts it
            assert svc["restart"] == "no"
            assert svc["depends_on"][target]["condition"] == "service_healthy"
            # The service that names it waits for it: compose's --wait sees it complete.
            waits = compose["services"][service.name]["depends_on"][oneshot]
            assert waits["condition"] == "service_completed_successfully"
    both = services.select(["postgres,app"])
    assert services.compose_names(both) == ["postgres", "postgres-roles", "app"]
    app = services.select(["app"])
    assert services.compose_names(app) == ["app"]  # no Postgres: the app starts alone
    assert services.compose_names(app, running=["postgres"]) == ["postgres-roles", "app"]
    assert services.compose_names(services.select(["postgres"])) == ["postgres"]


def test_the_app_reads_the_database_as_its_own_role(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    assert app["environment"]["PGUSER"] == "${MIRANTE_POSTGRES_APP_USER:?}"
    assert "MIRANTE_POSTGRES_APP_PASSWORD" in app["environment"]["PGPASSWORD"]
    assert "MIRANTE_POSTGRES_PASSWORD" not in str(app)
    # It waits for its role where Postgres runs, and starts alone where it does not.
    assert app["depends_on"]["postgres-roles"] == {
        "condition": "service_completed_successfully",
        "required": False,
    }


def test_every_long_running_service_follows_the_conventions(compose: dict[str, Any]) -> None:
    for name in services.NAMES:
        svc = compose["services"][name]
        health = svc["healthcheck"]
        assert health["interval"] in ("1s", "2s"), name
        assert svc["restart"] == "unless-stopped", name
        assert svc["mem_limit"], name
        assert svc["logging"]["driver"] == "json-file", name
        assert svc["logging"]["options"]["max-size"], name
        assert svc["image"].startswith("${MIRANTE_"), name
        for port in svc.get("ports", []):
            assert port.startswith("${MIRANTE_BIND:?}:"), (name, port)
        for volume in svc.get("volumes", []):
            assert "docker.sock" not in volume, name


def test_stateful_services_keep_data_in_named_volumes(compose: dict[str, Any]) -> None:
    for name in ("prometheus", "alertmanager", "grafana", "loki", "tempo", "postgres"):
        mounts = compose["services"][name]["volumes"]
        assert any(m.split(":")[0] == f"{name}_data" for m in mounts), name


def test_prometheus_has_admin_api_for_snapshots(compose: dict[str, Any]) -> None:
    assert "--web.enable-admin-api" in " ".join(compose["services"]["prometheus"]["command"])


def test_prometheus_scrapes_every_catalogue_job(repo: Path) -> None:
    config = yaml.safe_load((repo / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    # The observed services (config/services.yaml) are one job whose targets set their own.
    assert set(services.SCRAPE_JOBS) | {"prometheus", "observed"} == jobs
    assert config["rule_files"][0] == "/etc/prometheus/rules/*.yml"


def test_grafana_datasources_have_fixed_uids(repo: Path) -> None:
    provisioning = repo / "grafana" / "provisioning" / "datasources" / "datasources.yml"
    uids = {d["type"]: d["uid"] for d in yaml.safe_load(provisioning.read_text())["datasources"]}
    assert uids == {"prometheus": "prometheus", "loki": "loki", "tempo": "tempo"}


def test_every_published_port_has_a_variable() -> None:
    for service in services.SERVICES:
        for key in services.published_ports(service):
            assert re.fullmatch(r"MIRANTE_[A-Z_]+_PORT", services.port_variable(key))
