"""OTLP/HTTP JSON payloads and their delivery: one span, one log record.

The gates and tests send these to the collector, or, where no collector runs, straight to
the OTLP endpoints Loki (``/otlp/v1/logs`` on its HTTP port) and Tempo (its own OTLP/HTTP
receiver) both serve.
"""

from __future__ import annotations

import secrets
import time
from typing import Any


def new_trace_id() -> str:
    return secrets.token_hex(16)


def _resource(service: str) -> dict[str, Any]:
    return {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}


def span(trace_id: str, service: str, name: str, kind: int = 2) -> dict[str, Any]:
    """A finished span of 1 ms (``kind`` 2 is SERVER), as an OTLP ``/v1/traces`` body."""
    end = time.time_ns()
    return {
        "resourceSpans": [
            {
                "resource": _resource(service),
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": secrets.token_hex(8),
                                "name": name,
                                "kind": kind,
                                "startTimeUnixNano": str(end - 1_000_000),
                                "endTimeUnixNano": str(end),
                            }
                        ]
                    }
                ],
            }
        ]
    }


def log(trace_id: str, service: str, body: str) -> dict[str, Any]:
    """One log record carrying ``trace_id``, as an OTLP ``/v1/logs`` body."""
    return {
        "resourceLogs": [
            {
                "resource": _resource(service),
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(time.time_ns()),
                                "body": {"stringValue": body},
                                "traceId": trace_id,
                            }
                        ]
                    }
                ],
            }
        ]
    }


def send(url: str, payload: dict[str, Any], timeout: float = 10.0) -> None:
    """POST one OTLP/HTTP JSON body.

    Raises:
        requests.HTTPError: the receiver refused it.
    """
    import requests

    requests.post(url, json=payload, timeout=timeout).raise_for_status()
