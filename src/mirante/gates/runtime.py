"""Runtime gates: they check the running stack (started by the gates, or reused)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mirante import loader, services, stack, waits
from mirante.files import atomic_write
from mirante.gates import dashboards
from mirante.gates.base import (
    FAIL,
    PASS,
    SAMPLE_VARIABLES,
    SKIPPED,
    Gate,
    GateContext,
    Verdict,
    verdict_of,
)
from mirante.observe import contract, otlp, promql
from mirante.settings import read_env_file
from mirante.tools import promtools
from mirante.tools.docker import side_container

ALLOWLIST = Path("prometheus") / "metrics-allowlist.yml"
# What Prometheus logs once it serves (2.x and 3.x alike).
READY = "Server is ready to receive web requests."
# The probe Prometheus: the stack's flags that matter here. The rule fires at the first
# evaluation, often before Alertmanager is discovered; a short resend delay sends it then.
PROBE_PROMETHEUS = (
    "--config.file=/etc/prometheus/prometheus.yml",
    "--storage.tsdb.path=/prometheus",
    "--rules.alert.resend-delay=2s",
)
PROBE_ALERT = "MiranteGateProbe"
# Metrics only the named service exports: not checked while it is not part of the stack.
EXPORTED_BY = {
    "loki_": "loki",
    "tempo_": "tempo",
    "otelcol_": "otel-collector",
    "grafana_": "grafana",
}


def _get(ctx: GateContext, service: str, path: str, **params: str) -> Any:
    import requests

    answer = requests.get(ctx.url(service, path), params=params, timeout=10)
    answer.raise_for_status()
    return answer.json()


def _wait(probe: Callable[[], Any], seconds: float) -> Any:
    """Poll ``probe`` until it returns something truthy, or its last answer at the deadline."""
    return waits.until(probe, seconds, 1)


def gate_stack(ctx: GateContext) -> Verdict:
    """The stack came up healthy (or, with ``reuse``, some of it is running)."""
    if ctx.stack_error:
        return Verdict(FAIL, ctx.stack_error)
    if ctx.stack_report is None:
        return Verdict(FAIL, "the stack was not started")
    rows = [
        f"{r.service}: {r.state} {r.url}{f' ({r.reason})' if r.reason else ''}"
        for r in ctx.stack_report.rows
    ]
    unavailable = [r.service for r in ctx.stack_report.rows if r.state == "unavailable"]
    reason = f"{len(ctx.running())} services healthy" + (
        f"; unavailable here: {', '.join(unavailable)}" if unavailable else ""
    )
    return Verdict(PASS, reason, rows)


def _needs(ctx: GateContext, *names: str) -> Verdict | None:
    if ctx.stack_error:
        return Verdict(SKIPPED, "the stack did not come up (see the stack gate)")
    missing = [n for n in names if n not in ctx.running()]
    if missing:
        return Verdict(
            SKIPPED, f"{', '.join(missing)} not running here (no registry and no loaded image)"
        )
    return None


def gate_targets(ctx: GateContext) -> Verdict:
    """Every scrape job of a running service is discovered, and every target is up."""
    if skip := _needs(ctx, "prometheus"):
        return skip
    expected = {job for name in ctx.running() for job, _ in services.BY_NAME[name].scrape}

    def problems() -> list[str]:
        targets = _get(ctx, "prometheus", "/api/v1/targets")["data"]["activeTargets"]
        missing = expected - {t["labels"]["job"] for t in targets}
        return [f"{job}: not discovered" for job in sorted(missing)] + [
            f"{t['labels']['job']} {t['scrapeUrl']}: {t['health']} {t.get('lastError', '')}".strip()
            for t in targets
            if t["health"] != "up"
        ]

    found = [] if _wait(lambda: not problems(), 60) else problems()
    targets = _get(ctx, "prometheus", "/api/v1/targets")["data"]["activeTargets"]
    return verdict_of(
        found,
        f"{len(targets)} targets up: {', '.join(sorted(t['labels']['job'] for t in targets))}",
    )


def gate_rules_loaded(ctx: GateContext) -> Verdict:
    """Every rule group is loaded and none fails to evaluate."""
    if skip := _needs(ctx, "prometheus"):
        return skip
    groups = _get(ctx, "prometheus", "/api/v1/rules")["data"]["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"]}
    problems = [
        f"{g['file']}: rule {r['name']}: {r.get('lastError')}"
        for g in groups
        for r in g["rules"]
        if r.get("health") == "err"
    ]
    expected = {str(r.get("alert") or r.get("record")) for r in promtools.all_rules(ctx.root)}
    problems += [
        f"prometheus/rules: {name} is not loaded by Prometheus"
        for name in sorted(expected - loaded)
    ]
    return verdict_of(problems, f"{len(groups)} groups, {len(loaded)} rules loaded, none failing")


def gate_alertmanager_ready(ctx: GateContext) -> Verdict:
    """Alertmanager is ready, and says how it is clustered."""
    if skip := _needs(ctx, "alertmanager"):
        return skip
    status = _get(ctx, "alertmanager", "/api/v2/status")
    cluster = status.get("cluster", {}).get("status")
    problems = (
        [] if cluster in ("ready", "disabled") else [f"Alertmanager cluster status is {cluster!r}"]
    )
    return verdict_of(
        problems,
        f"ready; cluster {cluster} (a single replica)",
        {"status": json.dumps(status, indent=2)},
    )


def gate_alert_path(ctx: GateContext) -> Verdict:
    """A Prometheus beside the stack fires an alert; the app's webhook must get it.

    It runs the stack's image and prometheus.yml with one fixture rule that always fires, and
    alerts the stack's Alertmanager.

    The stack's own Prometheus is never given the rule, so a stack the user runs
    (``--reuse``) sends no synthetic alert beyond this one.
    """
    if skip := _needs(ctx, "prometheus", "alertmanager", "app"):
        return skip
    marker = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    rule = {
        "groups": [
            {
                "name": "gate",
                "rules": [
                    {
                        "alert": PROBE_ALERT,
                        "expr": "vector(1)",
                        "for": "0s",
                        # No severity: the default route (the webhook), never Slack or email.
                        # A service per run: a new alert group, sent after group_wait (5 s),
                        # not at the next group_interval of an earlier run's group.
                        "labels": {"service": f"gates-{marker}", "gate_run": marker},
                        "annotations": {
                            "summary": "synthetic alert of the quality gates",
                            "description": "-",
                            "runbook_url": "-",
                        },
                    }
                ],
            }
        ]
    }
    settings = ctx.settings
    image = read_env_file(stack.env_file(settings))[stack.image_variable("prometheus")]
    with tempfile.TemporaryDirectory(prefix="mirante-gate-rules-") as rules:
        Path(rules).chmod(0o755)  # the official image runs as nobody
        atomic_write(Path(rules) / "gate.yml", yaml.safe_dump(rule), 0o644)
        mounts = {
            settings.root / "prometheus" / "prometheus.yml": "/etc/prometheus/prometheus.yml",
            Path(rules): "/etc/prometheus/rules",
            settings.state_dir / "targets": "/etc/mirante/targets",
        }
        started = time.monotonic()
        network = f"{settings.project_name}_default"
        with side_container(image, network, mounts, PROBE_PROMETHEUS, READY, 60):

            def arrived() -> list[dict[str, Any]]:
                received = _get(ctx, "app", "/alerts/received")
                return [
                    a
                    for a in received
                    if a["alertname"] == PROBE_ALERT and a["labels"].get("gate_run") == marker
                ]

            found = _wait(arrived, 60)
    if not found:
        return Verdict(FAIL, f"{PROBE_ALERT} did not reach the app's webhook within 60 s")
    return Verdict(
        PASS,
        f"{PROBE_ALERT} reached receiver {found[0]['receiver']!r} "
        f"in {time.monotonic() - started:.1f} s (from a Prometheus beside the stack, {image})",
        [json.dumps(found[0])],
    )


def gate_app_contract(ctx: GateContext) -> Verdict:
    """The app honours the observability contract: the checks of ``invoke validate.service``.

    Its OTLP export is judged where its traces and logs have a receiver (the collector, or
    Tempo and Loki themselves): elsewhere it can only fail.
    """
    if skip := _needs(ctx, "app"):
        return skip
    judged = otlp.app_exports_arrive(ctx.running())

    def failed(checks: list[contract.ContractCheck]) -> list[str]:
        return [
            f"{check.name}: {check.detail} ({check.fix})"
            for check in checks
            if not check.ok and (judged or check.name != contract.OTLP_CHECK)
        ]

    # Right after start-up the app's first exports may have failed (its receivers came up
    # after it); the next batch, a few seconds later, tells.
    checks = waits.until(
        lambda: contract.validate(ctx.url("app", "")), 30, 2, done=lambda cs: not failed(cs)
    )
    problems = failed(checks)
    lines = [f"{'pass' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in checks]
    note = "" if judged else f"; {contract.OTLP_CHECK} not judged: no OTLP receiver runs here"
    return verdict_of(
        problems,
        f"{sum(c.ok for c in checks)} of {len(checks)} contract checks pass{note}",
        {"contract": "\n".join(lines)},
    )


def load_allowlist(root: Path) -> dict[str, str]:
    """The allowlisted metrics and why each may be absent."""
    path = root / ALLOWLIST
    if not path.is_file():
        return {}
    return {str(e["metric"]): str(e["why"]) for e in loader.safe_load(path.read_text()) or []}


def referenced_metrics(root: Path) -> dict[str, list[str]]:
    """Metric name -> where it is named (rule or dashboard panel)."""
    found: dict[str, list[str]] = {}
    for rule in promtools.all_rules(root):
        where = f"prometheus/rules/{rule['file']}: {rule.get('alert') or rule.get('record')}"
        for name in promql.metric_names(rule["expr"]):
            found.setdefault(name, []).append(where)
    for path in dashboards.dashboard_files(root):
        board = json.loads(path.read_text())
        for query in dashboards.queries(board):
            if query.datasource == "prometheus":
                for name in promql.metric_names(dashboards.concrete(query.expr, SAMPLE_VARIABLES)):
                    found.setdefault(name, []).append(
                        f"{path.relative_to(root)}: panel {query.panel!r}"
                    )
    return found


def missing_metrics(
    referenced: dict[str, list[str]], present: set[str], allow: dict[str, str], running: set[str]
) -> tuple[list[str], list[str]]:
    """Metrics referenced but absent, and notes on those not checked.

    Problems give the place and metric of each reference to a metric that does not exist;
    notes list allowlisted metrics and metrics of services not running.
    """
    problems, notes = [], []
    for name, places in sorted(referenced.items()):
        owner = next((svc for prefix, svc in EXPORTED_BY.items() if name.startswith(prefix)), None)
        if name in allow:
            notes.append(f"allowlisted {name}: {allow[name]}")
        elif owner and owner not in running:
            notes.append(f"not checked {name}: {owner} is not running here")
        elif name not in present:
            problems += [f"{place}: metric {name} does not exist in Prometheus" for place in places]
    return problems, notes


WARM_UP = 90.0


def _prometheus_uptime(ctx: GateContext) -> float:
    result = _get(
        ctx,
        "prometheus",
        "/api/v1/query",
        query='time() - process_start_time_seconds{job="prometheus"}',
    )
    samples = result["data"]["result"]
    return float(samples[0]["value"][1]) if samples else 0.0


def gate_metrics_exist(ctx: GateContext) -> Verdict:
    """The SEAL F9.10 lesson: a rule or panel on a metric nobody exports is a silent hole."""
    if skip := _needs(ctx, "prometheus"):
        return skip
    allow, running = load_allowlist(ctx.root), ctx.running()
    referenced = referenced_metrics(ctx.root)
    first_data = _send_first_data(ctx)

    def check() -> tuple[list[str], list[str]]:
        present = set(_get(ctx, "prometheus", "/api/v1/label/__name__/values")["data"])
        return missing_metrics(referenced, present, allow, running)

    # Rates and recording rules need a few scrapes and evaluations after a fresh start:
    # while Prometheus is younger than WARM_UP seconds, missing metrics may still appear.
    # The deadline is fixed once, so an uptime Prometheus cannot report never loops forever.
    # Data sent just now needs a scrape (every 5 s) before its counters are in Prometheus.
    warm_up = max(15.0 if first_data else 0.0, WARM_UP - _prometheus_uptime(ctx))
    problems, notes = waits.until(check, warm_up, 2, done=lambda found: not found[0])
    checked = len(referenced) - len(notes)
    return Verdict(
        FAIL if problems else PASS,
        problems[0] if problems else f"all {checked} referenced metrics exist",
        problems + notes + first_data,
    )


def _send_first_data(ctx: GateContext) -> list[str]:
    """One span and one log line, so that Tempo's and Loki's ingestion counters exist.

    ``tempo_distributor_spans_received_total`` and ``loki_distributor_lines_received_total``
    appear only once something was received; right after start-up (or with no collector to
    forward the app's telemetry) nothing has been.
    """
    running, sent = ctx.running(), []
    route = otlp.route(ctx.settings, running)
    trace_id = otlp.new_trace_id()
    if "tempo" in running:
        otlp.send(route.traces, otlp.span(trace_id, "mirante-gates", "metrics-warm-up"))
        sent.append(f"sent a span {route.via}, so that Tempo's ingestion metrics exist")
    if "loki" in running:
        otlp.send(route.logs, otlp.log(trace_id, "mirante-gates", "metrics warm-up"))
        sent.append(f"sent a log line {route.via}, so that Loki's ingestion metrics exist")
    return sent


def gate_dashboard_queries(ctx: GateContext) -> Verdict:
    """Every dashboard query evaluates in the running Prometheus."""
    import requests

    if skip := _needs(ctx, "prometheus"):
        return skip
    problems, count = [], 0
    for path in dashboards.dashboard_files(ctx.root):
        for query in dashboards.queries(json.loads(path.read_text())):
            if query.datasource != "prometheus":
                continue
            expr = dashboards.concrete(query.expr, SAMPLE_VARIABLES)
            answer = requests.get(
                ctx.url("prometheus", "/api/v1/query"), params={"query": expr}, timeout=10
            )
            count += 1
            if answer.status_code != 200:
                problems.append(
                    f"{path.relative_to(ctx.root)}: panel {query.panel!r}: "
                    f"{answer.json().get('error')}"
                )
    return verdict_of(problems, f"{count} queries evaluate")


def gate_ingestion(ctx: GateContext) -> Verdict:
    """A log line and a span sent over OTLP come back from Loki and Tempo."""
    if skip := _needs(ctx, "loki", "tempo"):
        return skip
    route = otlp.route(ctx.settings, ctx.running())
    trip = otlp.round_trip(route, ctx.url("tempo", ""), ctx.url("loki", ""), "mirante-gates")
    problems = [f"{p} within 60 s" for p in trip.problems]
    return verdict_of(problems, f"trace and log {trip.trace_id}, sent {trip.via}, read back")


GATES: tuple[Gate, ...] = (
    Gate("stack", "runtime", "the stack comes up healthy (or --reuse a running one)", gate_stack),
    Gate("targets", "runtime", "every Prometheus target is up", gate_targets),
    Gate("rules-loaded", "runtime", "every rule group is loaded, none failing", gate_rules_loaded),
    Gate(
        "alertmanager-ready",
        "runtime",
        "Alertmanager ready, cluster state sane",
        gate_alertmanager_ready,
    ),
    Gate(
        "alert-path",
        "runtime",
        "a gate-only rule's alert reaches the webhook receiver",
        gate_alert_path,
    ),
    Gate("app-contract", "runtime", "the app's /healthcheck and /health/otel", gate_app_contract),
    Gate(
        "metrics-exist",
        "runtime",
        "every metric named by a rule or panel exists",
        gate_metrics_exist,
    ),
    Gate("dashboard-queries", "runtime", "every dashboard query evaluates", gate_dashboard_queries),
    Gate(
        "ingestion",
        "runtime",
        "a log and a span sent over OTLP come back from Loki and Tempo",
        gate_ingestion,
    ),
)
