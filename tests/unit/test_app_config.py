"""The sample app's start-up configuration (pure Python, imported without FastAPI)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

CONFIG_PY = Path(__file__).resolve().parents[2] / "app" / "mirante_app" / "config.py"


@pytest.fixture(scope="module")
def app_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mirante_app_config", CONFIG_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_defaults_match_the_stack_settings(app_config: ModuleType) -> None:
    config = app_config.load({})
    assert (config.cb_threshold, config.cb_timeout) == (3, 60.0)
    assert config.otlp_endpoint == "http://otel-collector:4318"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MIRANTE_CB_THRESHOLD", "0"),
        ("MIRANTE_CB_THRESHOLD", "three"),
        ("MIRANTE_CB_TIMEOUT", "0"),
        ("MIRANTE_CB_TIMEOUT", "nan"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("MIRANTE_LLM_ERROR_RATE", "2"),
        ("MIRANTE_TRAFFIC_RPS", "fast"),
    ],
    ids=[
        "threshold zero",
        "threshold word",
        "timeout zero",
        "timeout nan",
        "endpoint scheme",
        "error rate above 1",
        "traffic rate word",
    ],
)
def test_invalid_values_stop_start_up_naming_the_variable(
    app_config: ModuleType, variable: str, value: str
) -> None:
    with pytest.raises(app_config.ConfigError, match=variable):
        app_config.load({variable: value})
