"""config/services.yaml: read, checked, rewritten in place, and turned into scrape targets."""

from __future__ import annotations

import json
import socket
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from mirante import settings
from mirante.errors import ServicesError
from mirante.observe import registry as observed
from mirante.observe.registry import Observed
from tests.helpers import cli, project_env, scratch_checkout


@pytest.fixture
def config(tmp_path: Path) -> settings.Settings:
    """A checkout whose config/ is its own copy: the tests rewrite services.yaml."""
    root = scratch_checkout(tmp_path / "checkout", copies=("config",))
    config = settings.load(root, environ={"MIRANTE_LOCK_TIMEOUT": "5"})
    for added in observed.load(config)[1:]:  # a developer's own, beside the shipped app
        observed.remove_entry(config, added.name)
    return config


def services_file(config: settings.Settings) -> Path:
    return observed.path_of(config)


def test_the_sample_app_is_an_entry_like_any_other(config: settings.Settings) -> None:
    (app,) = observed.load(config)
    assert app.name == "app"
    assert app.llm
    assert app.target == "app:8000"
    assert app.service_name == "mirante-app"  # its OTEL_SERVICE_NAME in compose
    assert set(app.environments) == {"dev", "staging", "prod"}
    assert app.labels() == {"job": "app", "service": "app", "contract": "http", "llm": "true"}


def test_an_added_service_keeps_the_files_comments_and_order(config: settings.Settings) -> None:
    before = services_file(config).read_text()
    observed.write_entry(config, Observed("shop", "http://127.0.0.1:8081/metrics"))
    observed.write_entry(
        config, Observed("orders", "http://orders:9000/m", ("http", "llm"), otel_name="orders.v2")
    )
    after = services_file(config).read_text()
    assert after.startswith(before.rstrip("\n"))  # comments and the app's entry unchanged
    assert [s.name for s in observed.load(config)] == ["app", "shop", "orders"]
    orders = observed.get(config, "orders")
    assert orders.contract == ("http", "llm")
    assert orders.service_name == "orders.v2"
    assert "otel_service_name" not in after.split("shop:")[1].split("orders:")[0]


def test_a_second_add_of_a_name_is_refused_and_changes_nothing(config: settings.Settings) -> None:
    observed.write_entry(config, Observed("shop", "http://127.0.0.1:8081/metrics"))
    before = services_file(config).read_text()
    with pytest.raises(ServicesError, match=r"shop is observed already .*service\.remove shop"):
        observed.write_entry(config, Observed("shop", "http://127.0.0.1:9999/metrics"))
    assert services_file(config).read_text() == before


def _add(root: str, name: str) -> None:
    config = settings.load(Path(root), environ={"MIRANTE_LOCK_TIMEOUT": "30"})
    observed.write_entry(config, Observed(name, f"http://{name}:8080/metrics"))


def test_adds_at_once_all_land(config: settings.Settings) -> None:
    names = [f"svc{i}" for i in range(8)]
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_add, [str(config.root)] * len(names), names))
    assert {s.name for s in observed.load(config)} == {"app", *names}
    assert not list(services_file(config).parent.glob(".services.yaml*"))  # no temp left


def test_remove_takes_the_entry_and_names_the_known_ones(config: settings.Settings) -> None:
    observed.write_entry(config, Observed("shop", "http://127.0.0.1:8081/metrics"))
    gone = observed.remove_entry(config, "shop")
    assert gone.metrics == "http://127.0.0.1:8081/metrics"
    assert [s.name for s in observed.load(config)] == ["app"]
    with pytest.raises(ServicesError, match="no observed service 'shop'; the stack observes: app"):
        observed.remove_entry(config, "shop")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("services: [a\n", "not valid YAML at line 2"),
        ("services: []\n", "expected a `services:` mapping"),
        ("services:\n  Shop: {metrics: http://a:1/m}\n", "cannot name a service"),
        ("services:\n  shop: {metrics: 8080}\n", "metrics must be the URL"),
        ("services:\n  shop: {metrics: 'ftp://a/m'}\n", "is not the URL of a service's metrics"),
        ("services:\n  shop: {metrics: 'http://a:1/m', contract: [llm]}\n", "[http, llm]"),
        ("services:\n  shop: {metrics: 'http://a:1/m', otel_service_name: 'a\"b'}\n",
         "cannot be looked up as a service.name"),
        ("services:\n  shop:\n    metrics: http://a:1/m\n    environments:\n"
         "      dev: {namespace: My_NS, service: shop, port: http}\n", "a Kubernetes name"),
    ],
)  # fmt: skip
def test_a_broken_file_is_one_clear_error(config: settings.Settings, text: str, said: str) -> None:
    services_file(config).write_text(text)
    with pytest.raises(ServicesError) as caught:
        observed.load(config)
    assert said in str(caught.value)
    assert str(caught.value).startswith("config/services.yaml")
    # A write refuses too, leaving the file as the user left it.
    with pytest.raises(ServicesError):
        observed.write_entry(config, Observed("other", "http://other:1/m"))
    assert services_file(config).read_text() == text


@pytest.mark.parametrize(
    "url", ["http://a:0/metrics", "http://a:99999/m", "127.0.0.1:8080/metrics", "http:///m"]
)
def test_a_bad_metrics_url_is_refused_with_an_example(url: str) -> None:
    with pytest.raises(ServicesError, match=r"http://127\.0\.0\.1:8080/metrics|1 to 65535"):
        observed.check_url(url)


def test_targets_follow_the_file(config: settings.Settings) -> None:
    observed.write_entry(config, Observed("shop", "http://127.0.0.1:8081/shop/metrics"))
    observed.write_entry(config, Observed("secure", "https://secure:8443/metrics"))
    scraped = observed.write_targets(config, running=[])  # the app's container is not up
    assert scraped == ["shop", "secure"]
    directory = config.state_dir / "targets" / observed.TARGETS_DIR
    (shop,) = json.loads((directory / "shop.json").read_text())
    assert shop["targets"] == ["host.docker.internal:8081"]
    assert shop["labels"]["__metrics_path__"] == "/shop/metrics"
    assert shop["labels"]["llm"] == "false"
    assert shop["labels"]["env"] == "local"
    (secure,) = json.loads((directory / "secure.json").read_text())
    assert secure["labels"]["__scheme__"] == "https"
    assert json.loads((directory / "app.json").read_text()) == []
    observed.remove_entry(config, "shop")
    observed.write_targets(config, running=["app"])
    assert not (directory / "shop.json").exists()  # Prometheus stops scraping it
    assert json.loads((directory / "app.json").read_text())[0]["targets"] == ["app:8000"]


def test_placing_a_service_in_a_cluster_is_checked(config: settings.Settings) -> None:
    observed.write_entry(config, Observed("shop", "http://127.0.0.1:8081/metrics"))
    where = observed.place(config, "shop", "staging", "shop-ns", "shop-svc", "metrics")
    assert observed.get(config, "shop").environments["staging"] == where
    with pytest.raises(ServicesError, match="not a Kubernetes name"):
        observed.place(config, "shop", "staging", "Shop_NS", "shop", "metrics")
    with pytest.raises(ServicesError, match="add it first"):
        observed.place(config, "ghost", "staging", "ns", "ghost", "metrics")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


BAD_INPUT = [
    (("service.remove", "ghost"), "no observed service 'ghost'; the stack observes: app"),
    (("service.check", "ghost"), "no observed service 'ghost'"),
    (("service.add", "shop", "--metrics", "shop:8080/metrics"), "is not the URL"),
    (("service.add", "shop", "--metrics", "http://127.0.0.1:{free}/metrics"), "nothing answers"),
    (("service.add", "app", "--metrics", "http://127.0.0.1:{free}/metrics"),
     "app is observed already"),
    (("service.add", "Shop!", "--metrics", "http://127.0.0.1:{free}/metrics"),
     "cannot name a service"),
    (("service.add", "shop", "--metrics", "http://127.0.0.1:{free}/metrics", "--otel-name",
      'a"b'), "cannot be looked up as a service.name"),
    (("service.add", "shop", "--env", "staging", "--namespace", "shop"), "--port-name"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "said"), BAD_INPUT, ids=[" ".join(a[:2]) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_the_file_unchanged(
    config: settings.Settings, args: tuple[str, ...], said: str
) -> None:
    before = services_file(config).read_text()
    free = str(_free_port())
    done = cli(project_env("mirantetest", config.root),
                  *(a.replace("{free}", free) for a in args))  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert services_file(config).read_text() == before


def test_a_broken_file_stops_every_task_in_one_line(config: settings.Settings) -> None:
    services_file(config).write_text("services:\n  shop: [\n")
    for args in (("service.list",), ("service.check", "app"), ("service.remove", "app")):
        done = cli(project_env("mirantetest", config.root), *args)
        assert done.returncode == 2, args
        assert done.stderr.startswith("error: config/services.yaml is not valid YAML at line")
        assert len(done.stderr.strip().splitlines()) == 1
    assert services_file(config).read_text() == "services:\n  shop: [\n"
