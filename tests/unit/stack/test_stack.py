"""The compose command lines mirante hands to python-on-whales, and the files it renders.

python-on-whales builds argv lists and passes them to its ``run``; these tests replace that
``run`` with a recorder, so what is asserted is the exact argv Docker would receive.
"""

from __future__ import annotations

import json
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from python_on_whales.components.compose import cli_wrapper as compose_cli
from python_on_whales.components.container import cli_wrapper as container_cli
from python_on_whales.components.network import cli_wrapper as network_cli
from python_on_whales.components.volume import cli_wrapper as volume_cli

from mirante import images, runner, services, settings, stack
from mirante.errors import PortInUse
from mirante.tools import docker


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, args: list[Any], *_: Any, **kwargs: Any) -> Any:
        self.calls.append([str(a) for a in args])
        if kwargs.get("return_stderr"):
            return "", ""
        return ""

    def after(self, word: str) -> list[list[str]]:
        """Calls whose argv contains ``word`` as a sub-command."""
        return [c for c in self.calls if word in c]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    rec = Recorder()
    for module in (compose_cli, container_cli, network_cli, volume_cli):
        monkeypatch.setattr(module, "run", rec)
    return rec


@pytest.fixture
def config(checkout: Path) -> settings.Settings:
    return settings.load(checkout, environ={})


def compose_prefix(config: settings.Settings) -> list[str]:
    return [
        str(shutil.which("docker")),
        "compose",
        "--file",
        str(config.compose_file),
        "--env-file",
        str(stack.env_file(config)),
        "--project-name",
        "mirante",
        "--project-directory",
        str(config.compose_file.parent),
    ]


@pytest.fixture
def cli_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The docker CLI calls of mirante's own (not python-on-whales') wrapper, not run."""
    calls: list[list[str]] = []

    def record(argv: list[Any], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append([str(a) for a in argv])
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(runner, "run", record)
    return calls


def test_up_detaches_and_never_pulls_without_a_registry(
    cli_calls: list[list[str]], config: settings.Settings
) -> None:
    stack.compose_up(config, ["prometheus", "app"], False, 90)
    assert cli_calls == [
        [
            "docker",
            *compose_prefix(config)[1:],
            "up",
            "--detach",
            "--wait",
            "--wait-timeout",
            "90",
            "--pull",
            "never",
            "prometheus",
            "app",
        ]
    ]


def test_up_pulls_missing_images_from_a_registry(
    cli_calls: list[list[str]], config: settings.Settings
) -> None:
    stack.compose_up(config, ["grafana"], True, 30)
    assert cli_calls[0][len(compose_prefix(config)) :] == [
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        "30",
        "--pull",
        "missing",
        "grafana",
    ]


def test_up_with_nothing_to_start_runs_nothing(
    cli_calls: list[list[str]], config: settings.Settings
) -> None:
    stack.compose_up(config, [], False, 30)
    assert cli_calls == []


def test_the_cli_and_python_on_whales_name_the_same_project(
    recorder: Recorder, config: settings.Settings
) -> None:
    client = docker.client(config, stack.env_file(config))
    client.compose.ps()
    assert recorder.calls[0][: len(compose_prefix(config))] == compose_prefix(config)
    assert compose_prefix(config)[1:] == docker.compose_args(config, stack.env_file(config))


def test_down_removes_orphans_and_volumes_only_when_asked(
    recorder: Recorder, config: settings.Settings
) -> None:
    # Every profile (`--profile *`): the one-shots, in a profile, are removed too.
    prefix = compose_prefix(config)
    prefix[4:4] = ["--profile", "*"]
    stack.down(config, volumes=False)
    assert recorder.after("down")[-1] == [*prefix, "down", "--remove-orphans"]
    stack.down(config, volumes=True)
    assert recorder.after("down")[-1] == [*prefix, "down", "--remove-orphans", "--volumes"]


def test_logs_of_one_service_with_a_tail(
    recorder: Recorder, config: settings.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder_stream: list[list[str]] = []

    def stream(args: list[Any], *_: Any, **__: Any) -> Iterator[tuple[str, bytes]]:
        recorder_stream.append([str(a) for a in args])
        yield ("stdout", b"app-1  | hello\n")

    import python_on_whales.components.compose.cli_wrapper as mod

    monkeypatch.setattr(mod, "stream_stdout_and_stderr", stream)
    lines = list(stack.logs(config, "app", tail=5))
    assert lines == ["app-1  | hello"]
    assert recorder_stream[0][len(compose_prefix(config)) :] == [
        "logs",
        "--no-color",
        "--tail",
        "5",
        "app",
    ]


def test_compose_env_file_resolves_images_and_is_private(config: settings.Settings) -> None:
    choices = images.plan(config, services.SERVICES, "local", ())
    path = stack.write_compose_env(config, stack.compose_env(config, choices))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert f"MIRANTE_PROMETHEUS_IMAGE='{choices['prometheus'].image}'" in text
    assert "MIRANTE_HEALTHPROBE_IMAGE='mirante/healthprobe:" in text
    assert "MIRANTE_BIND='127.0.0.1'" in text


def test_targets_list_running_services_and_empty_the_others(config: settings.Settings) -> None:
    stack.write_targets(config, ["app", "node-exporter"])
    targets = config.state_dir / "targets"
    (app,) = json.loads((targets / "observed" / "app.json").read_text())
    assert app["targets"] == ["app:8000"]
    assert app["labels"] == {"job": "app", "service": "app", "contract": "http", "llm": "true",
                             "env": "local", "__metrics_path__": "/metrics"}  # fmt: skip
    assert json.loads((targets / "loki.json").read_text()) == []
    assert {p.stem for p in targets.glob("*.json")} == set(services.SCRAPE_JOBS)
    stack.write_targets(config, ["node-exporter"])  # the app stopped: not scraped
    assert json.loads((targets / "observed" / "app.json").read_text()) == []


def test_a_taken_port_names_its_variable_before_anything_starts(config: settings.Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = settings.load(config.root, environ={"MIRANTE_NODE_EXPORTER_PORT": str(port)})
        with pytest.raises(PortInUse) as caught:
            stack.check_ports(busy, services.select(["node-exporter"]), running=[])
        assert f"port {port}" in str(caught.value)
        assert "MIRANTE_NODE_EXPORTER_PORT" in str(caught.value)
        # a service of this stack that already runs holds its own port: no error
        stack.check_ports(busy, services.select(["node-exporter"]), running=["node-exporter"])


def test_prepare_refreshes_settings_but_keeps_the_images_up_resolved(
    config: settings.Settings,
) -> None:
    path = stack.env_file(config)
    path.parent.mkdir(parents=True)
    path.write_text(
        "MIRANTE_PROMETHEUS_IMAGE='mirante/prometheus:abc123'\nMIRANTE_BIND='10.0.0.1'\n"
    )
    project = stack.write_project_files(config)
    refreshed, generated = project.settings, list(project.generated)
    env = settings.read_env_file(path)
    assert env["MIRANTE_PROMETHEUS_IMAGE"] == "mirante/prometheus:abc123"  # what up chose
    assert env["MIRANTE_BIND"] == "127.0.0.1"  # the current setting
    assert env["MIRANTE_TRAFFIC_RPS"] == "2"  # a setting added since up ran
    assert env["MIRANTE_GRAFANA_ADMIN_PASSWORD"] == refreshed.grafana_admin_password != ""
    assert "MIRANTE_GRAFANA_ADMIN_PASSWORD" in generated


def test_concurrent_writers_of_one_file_never_collide(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from mirante.files import atomic_write

    target = tmp_path / "compose.env"
    texts = [f"writer {n}\n" * 1000 for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda t: atomic_write(target, t, 0o600), texts * 5))
    assert target.read_text() in texts  # one writer's whole text, never a mix
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["compose.env"]  # no temp file left


def test_without_a_collector_the_app_sends_traces_and_logs_straight_to_tempo_and_loki() -> None:
    from mirante import images

    def choice(service: str, available: bool) -> images.ImageChoice:
        return images.ImageChoice(service, f"{service}:1", "loaded", available)

    routes = stack.app_otlp_routes
    everything = {s: choice(s, True) for s in ("otel-collector", "tempo", "loki")}
    assert routes(everything) == {"OTLP_TRACES_ENDPOINT": "", "OTLP_LOGS_ENDPOINT": ""}
    no_collector = {**everything, "otel-collector": choice("otel-collector", False)}
    assert routes(no_collector) == {
        "OTLP_TRACES_ENDPOINT": "http://tempo:4318/v1/traces",
        "OTLP_LOGS_ENDPOINT": "http://loki:3100/otlp/v1/logs",
    }
    only_tempo = {**no_collector, "loki": choice("loki", False)}
    assert routes(only_tempo)["OTLP_LOGS_ENDPOINT"] == ""


def test_service_states_word_the_states_as_describe_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listing = (
        "prometheus\trunning\tUp 5 seconds (healthy)\n"
        "app\trunning\tUp 2 seconds (health: starting)\n"
        "grafana\trunning\tUp 9 seconds (unhealthy)\n"
        "node-exporter\trunning\tUp 3 seconds\n"
        "postgres\texited\tExited (1) 2 seconds ago\n"
    )

    def answer(argv: list[Any], **_: Any) -> subprocess.CompletedProcess[str]:
        assert "label=com.docker.compose.project=shop" in argv
        return subprocess.CompletedProcess(argv, 0, listing, "")

    monkeypatch.setattr(runner, "run", answer)
    assert docker.service_states("shop") == {
        "prometheus": "healthy",
        "app": "starting",
        "grafana": "unhealthy",
        "node-exporter": "running",
        "postgres": "exited",
    }


def test_a_stop_that_ended_in_sigkill_says_so_and_a_clean_one_says_nothing() -> None:
    killed = stack.Stopped("tempo", 15.2, killed=True, flushed=True)
    assert killed.note().startswith("tempo did not stop on SIGTERM and was killed after 15 s")
    assert "flushed to disk first" in killed.note()
    assert stack.Stopped("tempo", 5.4, killed=False, flushed=True).note() == ""


def test_redaction_happens_on_the_document_before_any_yaml_spelling() -> None:
    secrets = {"pa$word-long": "<P>", "s\u00e9nha-long": "<S>"}
    document = {
        "services": {
            "grafana": {"environment": {"GF_PASSWORD": "pa$$word-long", "X": "s\u00e9nha-long"}},
            "app": {"command": ["--dsn=postgres://u:pa$word-long@db/x"]},
        },
        "s\u00e9nha-long": 1,
    }
    assert stack.redacted(document, secrets) == {
        "services": {
            "grafana": {"environment": {"GF_PASSWORD": "<P>", "X": "<S>"}},
            "app": {"command": ["--dsn=postgres://u:<P>@db/x"]},
        },
        "<S>": 1,
    }


def test_two_checkouts_of_one_project_share_one_stack_lock(tmp_path: Path) -> None:
    """Once each checkout locked its own file: both ran compose on the same containers."""
    from mirante.errors import LockBusy
    from tests.helpers import scratch_checkout

    first, second, other = (
        settings.load(scratch_checkout(tmp_path / n), environ={"MIRANTE_PROJECT_NAME": p,
                      "MIRANTE_LOCK_TIMEOUT": "0.05", "MIRANTE_STACK_TIMEOUT": "0.05"})
        for n, p in (("a", "shared"), ("b", "shared"), ("c", "mine"))
    )  # fmt: skip
    assert stack.project_lock(first) == stack.project_lock(second)
    assert stack.project_lock(first) != stack.project_lock(other)
    with stack.locked(first), pytest.raises(LockBusy) as caught, stack.locked(second):
        pass
    assert f"in {first.root}" in str(caught.value)
    with stack.locked(first), stack.locked(other):
        pass  # another project: no wait


def test_containers_another_checkout_started_are_not_taken_over(tmp_path: Path) -> None:
    from mirante.errors import ProjectTaken
    from tests.helpers import scratch_checkout

    config = settings.load(scratch_checkout(tmp_path / "a"), environ={})
    stack.check_owner(config, {str(config.compose_file.parent)})  # ours: fine
    stack.check_owner(config, set())  # none yet
    with pytest.raises(ProjectTaken, match=r"runs from another checkout \(/elsewhere/compose\)"):
        stack.check_owner(config, {"/elsewhere/compose"})


def test_loki_and_tempo_wait_for_no_ring_before_ready() -> None:
    """One binary, one ring member: the 15 s of min_ready_duration protect nothing here."""
    import yaml

    from tests.helpers import REPO

    loki = yaml.safe_load((REPO / "loki" / "loki.yml").read_text())
    tempo = yaml.safe_load((REPO / "tempo" / "tempo.yml").read_text())
    assert loki["ingester"]["lifecycler"]["min_ready_duration"] == "0s"
    assert loki["frontend"]["scheduler_dns_lookup_period"] == "1s"
    assert loki["frontend_worker"]["dns_lookup_duration"] == "1s"
    assert tempo["ingester"]["lifecycler"]["min_ready_duration"] == "0s"
