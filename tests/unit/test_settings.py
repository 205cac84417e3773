"""Settings: defaults, precedence, validation, generated secrets, .env.example."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mirante import settings
from mirante.errors import NotUtf8, ProjectNotFound, SettingsError


def load(root: Path, **env: str) -> settings.Settings:
    return settings.load(root, environ=env)


def test_defaults_bind_loopback_and_pin_every_image(checkout: Path) -> None:
    s = load(checkout)
    assert s.bind == "127.0.0.1"
    assert s.project_name == "mirante"
    assert s.image_source == "auto"
    assert s.ports["prometheus"] == 9090
    assert set(s.images) == {
        "prometheus",
        "alertmanager",
        "grafana",
        "loki",
        "tempo",
        "otel-collector",
        "node-exporter",
        "postgres",
    }
    for ref in s.images.values():
        assert ":" in ref.split("/")[-1]
        assert not ref.endswith(":latest")
    assert s.images["prometheus"].startswith("prom/prometheus:v3.")
    assert s.app.cb_threshold == 3
    assert s.app.cb_timeout == 60.0
    assert s.grafana_admin_password == ""  # no default password: generated on first up


def test_environment_wins_over_env_file_which_wins_over_default(checkout: Path) -> None:
    (checkout / ".env").write_text("MIRANTE_APP_PORT=8100\nMIRANTE_GRAFANA_PORT='3300'\n")
    s = load(checkout, MIRANTE_APP_PORT="8200")
    assert s.ports["app"] == 8200
    assert s.ports["grafana"] == 3300
    assert s.ports["loki"] == 3100


BAD_VALUES = [
    ("MIRANTE_APP_PORT", "99999", "port number"),
    ("MIRANTE_APP_PORT", "http", "port number"),
    ("MIRANTE_BIND", "localhost:80", "IP address"),
    ("MIRANTE_IMAGE_SOURCE", "cloud", "auto, registry, local"),
    ("MIRANTE_PROMETHEUS_IMAGE", "prom/prometheus", "pinned image"),
    ("MIRANTE_PROMETHEUS_IMAGE", "prom/prometheus:latest", "`latest` is not pinned"),
    ("MIRANTE_PROMETHEUS_RETENTION", "15 days", "Prometheus duration"),
    ("MIRANTE_PROJECT_NAME", "My Stack", "lower-case"),
    ("MIRANTE_CB_THRESHOLD", "0", "at least 1"),
    ("MIRANTE_CB_TIMEOUT", "-5", "greater than 0"),
    ("MIRANTE_CB_TIMEOUT", "soon", "greater than 0"),
    ("MIRANTE_OTLP_ENDPOINT", "otel-collector:4318", "http:// or https://"),
    ("MIRANTE_GRAFANA_ADMIN_PASSWORD", "short", "at least 12"),
    ("MIRANTE_POSTGRES_USER", "bad-name", "letters, digits"),
    ("MIRANTE_GRAFANA_ADMIN_USER", "it's", "without single quotes"),
    ("MIRANTE_LLM_ERROR_RATE", "1.5", "fraction from 0 to 1"),
    ("MIRANTE_TRAFFIC_RPS", "-1", "from 0 to 100"),
]


@pytest.mark.parametrize(
    ("variable", "value", "accepted"), BAD_VALUES, ids=[f"{v}={x}" for v, x, _ in BAD_VALUES]
)
def test_invalid_value_names_variable_and_accepted_form(
    checkout: Path, variable: str, value: str, accepted: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load(checkout, **{variable: value})
    message = str(caught.value)
    assert variable in message
    assert accepted in message
    assert "\n" not in message


def test_two_services_on_one_port_is_refused(checkout: Path) -> None:
    with pytest.raises(
        SettingsError, match=r"MIRANTE_APP_PORT.*already used by MIRANTE_PROMETHEUS_PORT"
    ):
        load(checkout, MIRANTE_APP_PORT="9090")


def test_malformed_env_file_line_is_reported_with_its_number(checkout: Path) -> None:
    (checkout / ".env").write_text("# fine\nMIRANTE_APP_PORT=8000\nthis is not an assignment\n")
    with pytest.raises(SettingsError, match=r"\.env line 3"):
        load(checkout)


def test_ensure_secrets_generates_once_into_private_env_file(checkout: Path) -> None:
    (checkout / ".env").write_text("MIRANTE_APP_PORT=8100")
    updated, generated = settings.ensure_secrets(load(checkout))
    assert generated == [
        "MIRANTE_GRAFANA_ADMIN_PASSWORD",
        "MIRANTE_POSTGRES_PASSWORD",
        "MIRANTE_POSTGRES_APP_PASSWORD",
    ]
    env_file = checkout / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    first = settings.read_env_file(env_file)
    assert first["MIRANTE_APP_PORT"] == "8100"  # what was there is kept
    assert len(first["MIRANTE_GRAFANA_ADMIN_PASSWORD"]) >= 24
    assert first["MIRANTE_GRAFANA_ADMIN_PASSWORD"] != first["MIRANTE_POSTGRES_PASSWORD"]
    assert first["MIRANTE_POSTGRES_APP_PASSWORD"] != first["MIRANTE_POSTGRES_PASSWORD"]
    assert updated.grafana_admin_password == first["MIRANTE_GRAFANA_ADMIN_PASSWORD"]
    assert settings.ensure_secrets(load(checkout))[1] == []
    assert settings.read_env_file(env_file) == first


def test_ensure_secrets_keeps_a_password_from_the_environment(checkout: Path) -> None:
    config = load(checkout, MIRANTE_GRAFANA_ADMIN_PASSWORD="from-the-environment")
    updated, generated = settings.ensure_secrets(config)
    assert generated == ["MIRANTE_POSTGRES_PASSWORD", "MIRANTE_POSTGRES_APP_PASSWORD"]
    assert updated.grafana_admin_password == "from-the-environment"
    assert "from-the-environment" not in (checkout / ".env").read_text()


def test_root_is_found_from_a_subdirectory(repo: Path) -> None:
    assert settings.find_root(repo / "prometheus" / "rules", environ={}) == repo


def test_outside_a_checkout_the_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFound, match="MIRANTE_ROOT"):
        settings.find_root(tmp_path, environ={})


def test_env_example_documents_every_variable(repo: Path) -> None:
    committed = (repo / ".env.example").read_text()
    assert committed == settings.render_env_example(), "regenerate with render_env_example()"
    for variable in settings.VARIABLES:
        assert variable.name in committed


def test_concurrent_first_runs_agree_on_one_generated_password(checkout: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    config = load(checkout)
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: settings.ensure_secrets(config)[0], range(6)))
    passwords = {r.grafana_admin_password for r in results}
    assert len(passwords) == 1
    text = (checkout / ".env").read_text()
    assert text.count("MIRANTE_GRAFANA_ADMIN_PASSWORD=") == 1
    assert passwords == {
        settings.read_env_file(checkout / ".env")["MIRANTE_GRAFANA_ADMIN_PASSWORD"]
    }


@pytest.mark.parametrize(
    ("variable", "value", "secret_part"),
    [
        ("MIRANTE_POSTGRES_PASSWORD", "it's-s3cret", "s3cret"),
        ("DEV_DATABASE_URL", "postgresql://app:hunter2@db.example:99999999/x y", "hunter2"),
        ("MIRANTE_SLACK_WEBHOOK_URL", "https://chat.example.org/hook/xoxtoken1 2", "xoxtoken1"),
    ],
    ids=["quote in a password", "malformed database URL", "malformed Slack webhook"],
)
def test_a_bad_secret_is_named_but_never_shown(
    checkout: Path, variable: str, value: str, secret_part: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        settings.load(checkout, environ={variable: value})
    assert variable in str(caught.value)
    assert secret_part not in str(caught.value)


def test_a_dot_env_that_is_not_utf8_is_one_line_naming_the_line(checkout: Path) -> None:
    (checkout / ".env").write_bytes(b"MIRANTE_BIND=127.0.0.1\n# caf\xe9\n")
    with pytest.raises(NotUtf8, match=r"\.env line 2 is not UTF-8 text"):
        settings.load(checkout, environ={})


def test_a_bind_beyond_loopback_needs_an_explicit_yes(checkout: Path) -> None:
    with pytest.raises(SettingsError, match="MIRANTE_EXPOSE=yes"):
        settings.load(checkout, environ={"MIRANTE_BIND": "0.0.0.0"})  # noqa: S104
    exposed = settings.load(checkout, environ={"MIRANTE_BIND": "0.0.0.0", "MIRANTE_EXPOSE": "yes"})  # noqa: S104
    assert exposed.bind == "0.0.0.0"  # noqa: S104
    assert settings.load(checkout, environ={"MIRANTE_BIND": "::1"}).bind == "::1"


def test_the_app_role_cannot_be_the_superuser(checkout: Path) -> None:
    with pytest.raises(SettingsError, match=r"MIRANTE_POSTGRES_APP_USER.*other than"):
        settings.load(checkout, environ={"MIRANTE_POSTGRES_APP_USER": "mirante"})
    with pytest.raises(SettingsError, match="MIRANTE_POSTGRES_APP_USER"):
        settings.load(checkout, environ={"MIRANTE_POSTGRES_APP_USER": "app;drop"})
    with pytest.raises(SettingsError, match="Postgres reserves those"):
        settings.load(checkout, environ={"MIRANTE_POSTGRES_APP_USER": "pg_evil"})
    assert settings.load(checkout, environ={}).postgres_app_user == "mirante_app"


def test_every_variable_is_declared_once_and_reads_back_from_its_field(checkout: Path) -> None:
    """The table is the fields: each variable has one path, and value_of follows it."""
    s = settings.load(checkout, environ={})
    names = [v.name for v in settings.VARIABLES]
    assert len(names) == len(set(names))
    assert len({v.path for v in settings.VARIABLES}) == len(names)
    for variable in settings.VARIABLES:
        parsed = settings.PARSERS[variable.form](variable, variable.default)
        expected = f"{parsed:g}" if isinstance(parsed, float) else str(parsed)
        assert s.value_of(variable) == expected, variable.name
    assert {v.path[0] for v in settings.VARIABLES} >= {"app", "backup", "alerting", "health"}


def test_a_grouped_setting_is_read_into_its_group(checkout: Path) -> None:
    s = load(checkout, MIRANTE_HEALTH_PROBES="7", MIRANTE_SLACK_CHANNEL="#ops")
    assert (s.health.probes, s.alerting.slack_channel) == (7, "#ops")
    assert s.backup_dir == checkout / "backups"


def test_a_command_lines_override_is_checked_like_the_environment(checkout: Path) -> None:
    """`backup --dest` and such go through the one loader: the same forms, the same errors."""
    s = settings.load(
        checkout, environ={"MIRANTE_BACKUP_DIR": "elsewhere"},
        overrides={"MIRANTE_BACKUP_DIR": "/srv/sets"},
    )  # fmt: skip
    assert s.backup_dir == Path("/srv/sets")
    with pytest.raises(SettingsError, match="MIRANTE_BACKUP_DIR="):
        settings.load(checkout, environ={}, overrides={"MIRANTE_BACKUP_DIR": "a\0b"})
