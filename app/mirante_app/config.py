"""The app's settings, read from its environment and validated at start-up.

Pure Python (no FastAPI import) so that it is testable on its own. An invalid value stops
the app with one line naming the variable and the accepted form.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(ValueError):
    """A variable holds a value the app cannot use."""


@dataclass(frozen=True)
class AppConfig:
    """The app's settings, read once from its environment at start-up."""

    service_name: str
    otlp_endpoint: str
    traces_endpoint: str
    logs_endpoint: str
    cb_threshold: int
    cb_timeout: float
    traffic_rps: float
    llm_latency: float
    llm_error_rate: float
    export_timeout: float = 2.0  # seconds an OTLP export may take (it bounds the exit's flush)
    features_file: str = "/etc/mirante/config/features.yaml"
    env: str = "local"


def _positive_int(env: Mapping[str, str], name: str, default: str) -> int:
    text = env.get(name, default).strip()
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name}={text!r} is invalid: expected a whole number of at least 1")
    return int(text)


def _positive_seconds(env: Mapping[str, str], name: str, default: str) -> float:
    text = env.get(name, default).strip()
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name}={text!r} is invalid: expected a number of seconds above 0")
    return value


def _number(env: Mapping[str, str], name: str, default: str, low: float, high: float) -> float:
    text = env.get(name, default).strip()
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ConfigError(f"{name}={text!r} is invalid: expected a number from {low:g} to {high:g}")
    return value


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name}={value!r} is invalid: expected an http(s):// URL")
    return value


def load(env: Mapping[str, str] | None = None) -> AppConfig:
    """Read the app's configuration (``os.environ`` unless ``env`` is given).

    Raises:
        ConfigError: naming the first invalid variable.
    """
    env = os.environ if env is None else env
    endpoint = _url(env, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4318").rstrip("/")
    # The OpenTelemetry rule: a signal's own endpoint is used as it is; without one, the
    # signal's path is appended to the shared endpoint. Empty counts as unset.
    return AppConfig(
        service_name=env.get("OTEL_SERVICE_NAME", "mirante-app").strip() or "mirante-app",
        otlp_endpoint=endpoint,
        traces_endpoint=_url(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{endpoint}/v1/traces"),
        logs_endpoint=_url(env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", f"{endpoint}/v1/logs"),
        cb_threshold=_positive_int(env, "MIRANTE_CB_THRESHOLD", "3"),
        cb_timeout=_positive_seconds(env, "MIRANTE_CB_TIMEOUT", "60"),
        traffic_rps=_number(env, "MIRANTE_TRAFFIC_RPS", "2", 0, 100),
        llm_latency=_number(env, "MIRANTE_LLM_LATENCY", "0.3", 0, 60),
        llm_error_rate=_number(env, "MIRANTE_LLM_ERROR_RATE", "0.02", 0, 1),
        export_timeout=_positive_seconds(env, "MIRANTE_OTLP_EXPORT_TIMEOUT", "2"),
        features_file=env.get("MIRANTE_FEATURES_FILE", AppConfig.features_file).strip(),
        env=env.get("MIRANTE_ENV", "local").strip() or "local",
    )
