"""The sample app names only traces it keeps: in x-trace-id and as exemplars.

Its sampler drops the probes' traces (/healthcheck, /metrics, /health/otel); an exemplar or
a header naming one of those pointed at a trace Tempo never had (404), and `service.check
app` would fail on the sample app itself.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import pytest

OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """The app in-process: no traffic of its own, its exports to a port nothing listens on."""
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as patch:
        warnings.simplefilter("ignore")
        patch.setenv("MIRANTE_TRAFFIC_RPS", "0")
        patch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
        patch.setenv("MIRANTE_OTLP_EXPORT_TIMEOUT", "0.05")  # the exit flushes to nothing
        from starlette.testclient import TestClient

        from mirante_app.main import app

        with TestClient(app) as client:
            yield client


def exemplars(client: object, route: str) -> list[str]:
    text = client.get("/metrics", headers=OPENMETRICS).text  # type: ignore[attr-defined]
    return re.findall(
        rf'^http_request_duration_seconds_bucket{{[^}}]*route="{re.escape(route)}"[^}}]*}} '
        r'\S+ # {trace_id="([0-9a-f]{32})"}',
        text,
        re.M,
    )


def test_a_probe_names_no_trace_anywhere(client: object) -> None:
    answer = client.get("/healthcheck")  # type: ignore[attr-defined]
    assert answer.status_code == 200
    assert "x-trace-id" not in answer.headers
    assert exemplars(client, "/healthcheck") == []


def test_a_kept_trace_is_named_in_the_header_and_the_exemplar(client: object) -> None:
    answer = client.get("/")  # type: ignore[attr-defined]
    trace_id = answer.headers["x-trace-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    assert trace_id in exemplars(client, "/")


def test_a_probe_in_a_callers_sampled_trace_is_named(client: object) -> None:
    """A caller's sampled traceparent: the probe's span is kept in that trace."""
    caller = "4bf92f3577b34da6a3ce929d0e0e4736"
    answer = client.get(  # type: ignore[attr-defined]
        "/healthcheck", headers={"traceparent": f"00-{caller}-00f067aa0ba902b7-01"}
    )
    assert answer.headers["x-trace-id"] == caller
