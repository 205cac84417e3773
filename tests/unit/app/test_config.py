"""The sample app's start-up configuration (pure Python, imported without FastAPI)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from tests.helpers import REPO

CONFIG_PY = REPO / "app" / "mirante_app" / "config.py"


@pytest.fixture(scope="module")
def app_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mirante_app_config", CONFIG_PY)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_defaults_match_the_stack_settings(app_config: ModuleType) -> None:
    config = app_config.load({})
    assert (config.cb_threshold, config.cb_timeout) == (3, 60.0)
    assert config.otlp_endpoint == "http://otel-collector:4318"
    assert config.traces_endpoint == "http://otel-collector:4318/v1/traces"
    assert config.logs_endpoint == "http://otel-collector:4318/v1/logs"


def test_a_signal_endpoint_is_used_as_it_is_and_empty_means_unset(app_config: ModuleType) -> None:
    config = app_config.load(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4318/v1/traces",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "",
        }
    )
    assert config.traces_endpoint == "http://tempo:4318/v1/traces"
    assert config.logs_endpoint == "http://collector:4318/v1/logs"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MIRANTE_CB_THRESHOLD", "0"),
        ("MIRANTE_CB_THRESHOLD", "three"),
        ("MIRANTE_CB_TIMEOUT", "0"),
        ("MIRANTE_CB_TIMEOUT", "nan"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "loki:3100/otlp/v1/logs"),
        ("MIRANTE_LLM_ERROR_RATE", "2"),
        ("MIRANTE_TRAFFIC_RPS", "fast"),
        ("MIRANTE_OTLP_EXPORT_TIMEOUT", "0"),
    ],
    ids=[
        "threshold zero",
        "threshold word",
        "timeout zero",
        "timeout nan",
        "endpoint scheme",
        "logs endpoint scheme",
        "error rate above 1",
        "traffic rate word",
        "export timeout zero",
    ],
)
def test_invalid_values_stop_start_up_naming_the_variable(
    app_config: ModuleType, variable: str, value: str
) -> None:
    with pytest.raises(app_config.ConfigError, match=variable):
        app_config.load({variable: value})
