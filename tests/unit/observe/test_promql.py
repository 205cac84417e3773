"""Which metrics a PromQL expression names."""

from __future__ import annotations

import pytest

from mirante.observe import promql
from mirante.observe.promql import metric_names

CASES = [
    ("up", {"up"}),
    ('up{job="app"} == 0', {"up"}),
    (
        'sum by (job) (rate(http_requests_total{status=~"5.."}[5m]))'
        " / sum by (job) (rate(http_requests_total[5m]))",
        {"http_requests_total"},
    ),
    (
        "histogram_quantile(0.95, sum by (provider, le)"
        " (rate(llm_request_latency_seconds_bucket[5m]))) > 5",
        {"llm_request_latency_seconds_bucket"},
    ),
    ('job:http_errors:ratio_rate5m{job="app"} > 0.05', {"job:http_errors:ratio_rate5m"}),
    (
        "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
        {"node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes"},
    ),
    ('count(ALERTS{alertstate="firing"}) or vector(0)', {"ALERTS"}),
    (
        "time() - max by (service) (mirante_backup_last_success_timestamp_seconds)",
        {"mirante_backup_last_success_timestamp_seconds"},
    ),
    ("a and on (instance) b unless ignoring (job) c offset 5m", {"a", "b", "c"}),
    (
        'predict_linear(node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"}[6h], 24 * 3600) < 0',
        {"node_filesystem_avail_bytes"},
    ),
    ("x * on (job) group_left (version) build_info", {"x", "build_info"}),
]


@pytest.mark.parametrize(("expr", "names"), CASES, ids=[c[0][:40] for c in CASES])
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("up", 'up{env=~"$env"}'),
        ('up{job="app"} == 0', 'up{env=~"$env", job="app"} == 0'),
        (
            "sum by (route) (rate(http_requests_total[$__rate_interval]))",
            'sum by (route) (rate(http_requests_total{env=~"$env"}[$__rate_interval]))',
        ),
        (
            "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
            '1 - node_memory_MemAvailable_bytes{env=~"$env"}'
            ' / node_memory_MemTotal_bytes{env=~"$env"}',
        ),
        ('count(ALERTS{alertstate="firing"}) or vector(0)',
         'count(ALERTS{env=~"$env", alertstate="firing"}) or vector(0)'),
        ('up{env=~"$env"}', 'up{env=~"$env"}'),  # already there: unchanged
    ],
)  # fmt: skip
def test_a_matcher_goes_into_every_selector_and_nowhere_else(expr: str, expected: str) -> None:
    assert promql.with_matcher(expr, 'env=~"$env"') == expected
    assert all('env=~"$env"' in m for _, _, _, m in promql.selectors(expected))
