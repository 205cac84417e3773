"""Quality gates: is the observability stack sound? Each gate is a small function.

A gate returns a :class:`Verdict` (pass / fail / skipped, reason, evidence, raw tool
outputs); :func:`run` times each gate, turns expected failures into ``fail`` verdicts,
and :func:`write_manifest` leaves the evidence under ``artifacts/gates/<UTC timestamp>/``.
Static gates read files and run promtool / amtool; runtime gates check the running stack
(started by the gates, or reused with ``reuse``). A skip is never a pass.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mirante import (
    alerting,
    dashboards,
    images,
    official,
    otlp,
    promql,
    promtools,
    services,
    stack,
    waits,
)
from mirante.docker import docker_errors
from mirante.errors import MiranteError
from mirante.files import atomic_write
from mirante.settings import Settings, read_env_file, unpinned

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
WHAT_TESTS_SHOW = {"fires": "fires", "quiet": "stays quiet"}
ALLOWLIST = Path("prometheus") / "metrics-allowlist.yml"
GATE_RULES = "gate-rules"
PROBE_ALERT = "MiranteGateProbe"
# Metrics only the named service exports: not checked while it is not part of the stack.
EXPORTED_BY = {
    "loki_": "loki",
    "tempo_": "tempo",
    "otelcol_": "otel-collector",
    "grafana_": "grafana",
}
DEFAULT_CREDENTIALS = frozenset(
    {"admin", "password", "changeme", "secret", "postgres", "root", "123456"}
)
SECRET_KEY = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY)", re.IGNORECASE)
SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    "Slack token": re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}"),
}
# Files where KEY=VALUE assignments are configuration that could carry a secret.
ENV_LIKE = re.compile(
    r"(^|/)(\.env[^/]*|[^/]*\.env|docker-compose[^/]*\.ya?ml|compose[^/]*\.ya?ml)$"
)
# The gates' own test fixtures hold bad examples on purpose.
SECRET_SCAN_EXCLUDES = ("tests/fixtures/",)


@dataclass
class Verdict:
    status: str
    reason: str = ""
    evidence: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class GateResult:
    name: str
    kind: str
    status: str
    reason: str
    duration: float
    evidence: list[str]
    outputs: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class Context:
    """What gates share: settings, tools, and (runtime gates) the running stack."""

    settings: Settings
    reuse: bool = False
    tools: promtools.Tools = field(init=False)
    stack_report: stack.UpReport | None = None
    stack_error: str = ""
    rendered: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.tools = promtools.Tools(self.settings.root, self.settings)

    @property
    def root(self) -> Path:
        return self.settings.root

    def running(self) -> set[str]:
        if self.stack_report is None:
            return set()
        return {r.service for r in self.stack_report.rows if r.state == "healthy"}

    def url(self, port: str, path: str) -> str:
        """``path`` on the published port ``port`` (a key of ``Settings.ports``)."""
        return f"http://{services.reachable_host(self.settings)}:{self.settings.ports[port]}{path}"


@dataclass(frozen=True)
class Gate:
    name: str
    kind: str  # static | runtime
    description: str
    check: Callable[[Context], Verdict]


def _verdict(problems: list[str], ok_reason: str, outputs: dict[str, str] | None = None) -> Verdict:
    if problems:
        head = problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
        return Verdict(FAIL, head, problems, outputs or {})
    return Verdict(PASS, ok_reason, [], outputs or {})


# ---------------------------------------------------------------- static gates


def compose_policy(rendered: dict[str, Any], raw_text: str, bind: str, source: str) -> list[str]:
    """Policy problems of a rendered compose configuration (and its raw text, for credentials)."""
    problems = []
    for name, service in rendered.get("services", {}).items():
        where = f"{source}: service {name}"
        one_shot = service.get("restart", "no") == "no"
        for port in service.get("ports", []):
            if port.get("published") and port.get("host_ip", "") != bind:
                problems.append(
                    f"{where}: port {port.get('host_ip') or 'all addresses'}:{port['published']} "
                    f"is not bound to {bind} (publish as ${{MIRANTE_BIND}}:port:port)"
                )
        if why := unpinned(str(service.get("image", ""))):
            problems.append(
                f"{where}: image {service.get('image')!r} is not pinned: expected {why}"
            )
        health = service.get("healthcheck") or {}
        if not one_shot and (not health.get("test") or health.get("disable")):
            problems.append(f"{where}: no healthcheck")
        memory = service.get("mem_limit") or service.get("deploy", {}).get("resources", {}).get(
            "limits", {}
        ).get("memory")
        if not memory:
            problems.append(f"{where}: no memory limit (mem_limit)")
        if not one_shot and service.get("restart") in (None, "", "no"):
            problems.append(f"{where}: no restart policy")
        for volume in service.get("volumes", []):
            if "docker.sock" in str(volume.get("source", "")):
                problems.append(f"{where}: mounts the Docker socket ({volume['source']})")
        for key, value in (service.get("environment") or {}).items():
            if SECRET_KEY.search(key) and str(value).lower() in DEFAULT_CREDENTIALS:
                problems.append(f"{where}: {key} is a default credential ({value!r})")
    for number, line in enumerate(raw_text.splitlines(), start=1):
        match = re.match(r"\s*-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*[:=]\s*(\S.*)$", line)
        if (
            match
            and SECRET_KEY.search(match[1])
            and "${" not in match[2]
            and not match[2].startswith("#")
        ):
            problems.append(
                f"{source} line {number}: {match[1]} has a literal value; take it from a variable"
            )
    return problems


def rendered_compose(ctx: Context) -> dict[str, Any]:
    """``docker compose config`` with the current settings, rendered once per run.

    Raises:
        MiranteError: compose cannot render it (the gate that asked fails with the reason).
    """
    if ctx.rendered is None:
        _, _, docker = stack.prepare(ctx.settings)
        try:
            with docker_errors():
                ctx.rendered = dict(docker.compose.config(return_json=True))
        except MiranteError as exc:
            raise MiranteError(f"`docker compose config` fails: {exc}") from None
    return ctx.rendered


def _compose_source(ctx: Context) -> str:
    return ctx.settings.compose_file.relative_to(ctx.settings.root).as_posix()


def gate_compose(ctx: Context) -> Verdict:
    rendered = rendered_compose(ctx)
    raw = ctx.settings.compose_file.read_text()
    problems = compose_policy(rendered, raw, ctx.settings.bind, _compose_source(ctx))
    return _verdict(problems, f"{len(rendered['services'])} services render and follow the policy")


def gate_expand_env(ctx: Context) -> Verdict:
    """Configs read with -config.expand-env, expanded as Loki and Tempo expand them."""
    configs = official.expanded_configs(rendered_compose(ctx))
    problems = [p for config in configs for p in official.expansion_problems(config, ctx.root)]
    shown = ", ".join(
        f"{config.container_path} ({config.service}, {len(config.environment)} variables)"
        for config in configs
    )
    return _verdict(
        problems,
        f"{len(configs)} configs expand and parse as their programs do it: {shown}"
        if configs
        else "no service expands its config file",
    )


def gate_image_tools(ctx: Context) -> Verdict:
    """Healthchecks and entrypoints use only what each pinned official image has."""
    facts = official.load(ctx.root)
    rendered = rendered_compose(ctx)
    problems = official.tool_problems(rendered, facts, ctx.settings.images, _compose_source(ctx))
    checked = sorted(set(rendered.get("services", {})) & set(ctx.settings.images))
    return _verdict(
        problems,
        f"{len(checked)} services on official images use only what those images have",
        {"facts": official.FACTS_FILE.as_posix()},
    )


def gate_stand_in_parity(ctx: Context) -> Verdict:
    """A local stand-in is neither more nor less capable than the official image where
    compose relies on it."""
    facts = official.load(ctx.root)
    problems = official.parity_problems(rendered_compose(ctx), facts, _compose_source(ctx))
    labels = [
        official.stand_in_label(facts, s, ctx.settings.images.get(s, "?")) for s in facts.stand_ins
    ]
    return _verdict(problems, "; ".join(labels) + ": each does what compose needs, no more")


def gate_pins_resolve(ctx: Context) -> Verdict:
    """Every pinned tag exists in its registry (manifest through the registry API)."""
    registry = ctx.settings.registry
    pins = dict(ctx.settings.images)
    if not images.registry_answers(registry):
        return Verdict(
            SKIPPED,
            f"no registry answers at https://{registry}/v2/, so the {len(pins)} pinned tags "
            "cannot be checked here",
        )
    problems, evidence = [], []
    for service, ref in sorted(pins.items()):
        try:
            digest = images.manifest_digest(ref, registry)
        except MiranteError as exc:
            problems.append(f"service {service}: {ref}: {exc}")
            continue
        if digest is None:
            problems.append(f"service {service}: {ref} does not exist in its registry")
        else:
            evidence.append(f"{ref} {digest}")
    return Verdict(
        FAIL if problems else PASS,
        problems[0] if problems else f"all {len(pins)} pinned tags resolve",
        problems + evidence,
    )


def gate_prometheus(ctx: Context) -> Verdict:
    outputs: dict[str, str] = {}
    problems = []
    for label, outcome in (
        ("promtool check config", promtools.check_config(ctx.tools)),
        ("promtool check rules", promtools.check_rules(ctx.tools)),
        ("promtool test rules", promtools.test_rules(ctx.tools)),
    ):
        outputs[label] = outcome.output
        if not outcome.ok:
            problems.append(f"{label} failed: {_last_lines(outcome.output)}")
    tested = promtools.tested_alerts(ctx.root)
    for rule in promtools.alerting_rules(ctx.root):
        missing = {"fires", "quiet"} - tested.get(rule["alert"], set())
        if missing:
            problems.append(
                f"prometheus/rules/{rule['file']}: alert {rule['alert']} has no unit test where it "
                + " and no test where it ".join(WHAT_TESTS_SHOW[m] for m in sorted(missing))
            )
    count = len(promtools.alerting_rules(ctx.root))
    return _verdict(
        problems, f"config and rules valid; {count} alerts each tested firing and quiet", outputs
    )


def gate_alertmanager(ctx: Context) -> Verdict:
    config = alerting.write(ctx.settings)
    checked = promtools.check_alertmanager(ctx.tools, config)
    outputs = {"amtool check-config": checked.output}
    problems = [] if checked.ok else [f"amtool check-config failed: {_last_lines(checked.output)}"]
    cases = promtools.route_cases(ctx.tools, config)
    for case in cases:
        outputs[f"route {case.labels}"] = case.actual
        if not case.ok:
            problems.append(
                f"alertmanager/tests/routes.yml: {case.labels} routes to {case.actual!r}, "
                f"expected {case.expected!r}"
            )
    return _verdict(problems, f"config valid; {len(cases)} routing cases hold", outputs)


def gate_dashboards(ctx: Context) -> Verdict:
    problems = dashboards.lint(ctx.root)
    # PromQL syntax: every query becomes a recording rule that promtool parses.
    rules: list[dict[str, str]] = []
    origin: dict[str, str] = {}
    for path in dashboards.dashboard_files(ctx.root):
        try:
            board = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue  # reported by the lint
        for query in dashboards.queries(board):
            if query.datasource == "prometheus" and query.expr:
                record = f"gate:query_{len(rules)}"
                rules.append(
                    {"record": record, "expr": dashboards.concrete(query.expr, _SAMPLE_VARIABLES)}
                )
                origin[record] = f"{path.relative_to(ctx.root)}: panel {query.panel!r}"
    scratch = ctx.settings.state_dir / "gates"
    scratch.mkdir(parents=True, exist_ok=True)
    rule_file = scratch / "dashboard-queries.yml"
    atomic_write(rule_file, yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    outcome = ctx.tools.run("promtool", ["check", "rules", rule_file])
    if not outcome.ok:
        # promtool names the failing rule: ... rule 12, "gate:query_11": could not parse ...
        for record, error in re.findall(r'"(gate:query_\d+)": (.+)', outcome.output):
            problems.append(f"{origin[record]}: PromQL does not parse ({error.strip()})")
        if not problems:
            problems.append(f"dashboard queries do not parse: {_last_lines(outcome.output)}")
    return _verdict(
        problems,
        f"{len(rules)} queries parse; uids, titles and datasources resolve",
        {"promtool": outcome.output},
    )


_SAMPLE_VARIABLES = {"$job": "app", "$provider": ".*", "$service": "app"}


def code_variables(root: Path) -> dict[str, str]:
    """Every MIRANTE_* variable the code and the compose file read, with one place it is read."""
    found: dict[str, str] = {}
    paths = [
        *sorted((root / "src").rglob("*.py")),
        *sorted((root / "app").rglob("*.py")),
        root / "compose" / "docker-compose.yml",
    ]
    for path in paths:
        if not path.is_file():
            continue
        for name in re.findall(r"\b(MIRANTE_[A-Z0-9_]*[A-Z0-9])\b", path.read_text()):
            found.setdefault(name, str(path.relative_to(root)))
    return found


def documented_variables(root: Path) -> set[str]:
    text = (root / ".env.example").read_text() if (root / ".env.example").is_file() else ""
    return set(re.findall(r"^#?\s*(MIRANTE_[A-Z0-9_]+)=", text, re.M))


def committed_secrets(root: Path, files: Sequence[Path]) -> list[str]:
    """Secret values found in the given files: known token shapes anywhere, literal
    passwords in env-like files."""
    problems = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        if (
            rel.startswith(SECRET_SCAN_EXCLUDES)
            or not path.is_file()
            or path.stat().st_size > 1_000_000
        ):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for label, pattern in SECRET_PATTERNS.items():
            if pattern.search(text):
                problems.append(f"{rel}: contains a {label}")
        if ENV_LIKE.search(rel) and rel != ".env.example":
            for number, line in enumerate(text.splitlines(), start=1):
                match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S+)", line)
                value = match[2].strip("'\"") if match else ""
                if match and SECRET_KEY.search(match[1]) and value and not value.startswith("${"):
                    problems.append(
                        f"{rel} line {number}: {match[1]} holds a value; "
                        "secrets belong in .env (git-ignored)"
                    )
    return problems


def tracked_files(root: Path) -> list[Path]:
    """Files git tracks (every file when the tree is not a git checkout)."""
    try:
        listing = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, text=True, check=True
        ).stdout
        return [root / name for name in listing.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        # Not a git checkout: every file but what mirante generates or git would ignore.
        generated = {
            ".git",
            ".mirante",
            ".nox",
            "artifacts",
            "backups",
            "__pycache__",
            "wheelhouse",
        }
        return [
            p
            for p in root.rglob("*")
            if p.is_file() and p.name != ".env" and not generated & set(p.relative_to(root).parts)
        ]


def gate_environment(ctx: Context) -> Verdict:
    problems = []
    documented = documented_variables(ctx.root)
    for name, where in sorted(code_variables(ctx.root).items()):
        if name not in documented:
            problems.append(f".env.example: {name} (read in {where}) is not documented")
    problems += committed_secrets(ctx.root, tracked_files(ctx.root))
    return _verdict(problems, f"{len(documented)} variables documented; no secret committed")


# ---------------------------------------------------------------- runtime gates


def _get(ctx: Context, service: str, path: str, **params: str) -> Any:
    import requests

    answer = requests.get(ctx.url(service, path), params=params, timeout=10)
    answer.raise_for_status()
    return answer.json()


def _wait(probe: Callable[[], Any], seconds: float) -> Any:
    """Poll ``probe`` until it returns something truthy, or its last answer at the deadline."""
    return waits.until(probe, seconds, 1)


def gate_stack(ctx: Context) -> Verdict:
    if ctx.stack_error:
        return Verdict(FAIL, ctx.stack_error)
    if ctx.stack_report is None:
        return Verdict(FAIL, "the stack was not started")
    rows = [
        f"{r.service}: {r.state}{f' ({r.reason})' if r.reason else ''}"
        for r in ctx.stack_report.rows
    ]
    unavailable = [r.service for r in ctx.stack_report.rows if r.state == "unavailable"]
    reason = f"{len(ctx.running())} services healthy" + (
        f"; unavailable here: {', '.join(unavailable)}" if unavailable else ""
    )
    return Verdict(PASS, reason, rows)


def _needs(ctx: Context, *names: str) -> Verdict | None:
    if ctx.stack_error:
        return Verdict(SKIPPED, "the stack did not come up (see the stack gate)")
    missing = [n for n in names if n not in ctx.running()]
    if missing:
        return Verdict(
            SKIPPED, f"{', '.join(missing)} not running here (no registry and no loaded image)"
        )
    return None


def gate_targets(ctx: Context) -> Verdict:
    if skip := _needs(ctx, "prometheus"):
        return skip

    def down() -> list[str]:
        targets = _get(ctx, "prometheus", "/api/v1/targets")["data"]["activeTargets"]
        return [
            f"{t['labels']['job']} {t['scrapeUrl']}: {t['health']} {t.get('lastError', '')}".strip()
            for t in targets
            if t["health"] != "up"
        ]

    problems = []
    if _wait(lambda: not down(), 60) is False:
        problems = down()
    targets = _get(ctx, "prometheus", "/api/v1/targets")["data"]["activeTargets"]
    return _verdict(
        problems,
        f"{len(targets)} targets up: {', '.join(sorted(t['labels']['job'] for t in targets))}",
    )


def gate_rules_loaded(ctx: Context) -> Verdict:
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
    return _verdict(problems, f"{len(groups)} groups, {len(loaded)} rules loaded, none failing")


def gate_alertmanager_ready(ctx: Context) -> Verdict:
    if skip := _needs(ctx, "alertmanager"):
        return skip
    status = _get(ctx, "alertmanager", "/api/v2/status")
    cluster = status.get("cluster", {}).get("status")
    problems = (
        [] if cluster in ("ready", "disabled") else [f"Alertmanager cluster status is {cluster!r}"]
    )
    return _verdict(
        problems,
        f"ready; cluster {cluster} (a single replica)",
        {"status": json.dumps(status, indent=2)},
    )


def gate_alert_path(ctx: Context) -> Verdict:
    """A rule file only this gate writes makes Prometheus fire an alert; the webhook must get it."""
    import requests

    if skip := _needs(ctx, "prometheus", "alertmanager", "app"):
        return skip
    directory = ctx.settings.state_dir / GATE_RULES
    directory.mkdir(parents=True, exist_ok=True)
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
    path = directory / "gate.yml"
    atomic_write(path, yaml.safe_dump(rule))
    started = time.monotonic()
    try:
        requests.post(ctx.url("prometheus", "/-/reload"), timeout=10).raise_for_status()

        def arrived() -> list[dict[str, Any]]:
            received = _get(ctx, "app", "/alerts/received")
            return [
                a
                for a in received
                if a["alertname"] == PROBE_ALERT and a["labels"].get("gate_run") == marker
            ]

        found = _wait(arrived, 60)
    finally:
        path.unlink(missing_ok=True)
        requests.post(ctx.url("prometheus", "/-/reload"), timeout=10)
    if not found:
        return Verdict(FAIL, f"{PROBE_ALERT} did not reach the app's webhook within 60 s")
    return Verdict(
        PASS,
        f"{PROBE_ALERT} reached receiver {found[0]['receiver']!r} "
        f"in {time.monotonic() - started:.1f} s",
        [json.dumps(found[0])],
    )


def gate_app_contract(ctx: Context) -> Verdict:
    import requests

    if skip := _needs(ctx, "app"):
        return skip
    problems = []
    answer = requests.get(ctx.url("app", "/healthcheck"), timeout=10)
    if answer.status_code != 200 or answer.json() != {"status": "ok"}:
        problems.append(
            f"/healthcheck answered {answer.status_code} {answer.text[:80]!r}, "
            'expected 200 {"status": "ok"}'
        )
    if not re.fullmatch(r"[0-9a-f]{32}", answer.headers.get("x-trace-id", "")):
        problems.append("/healthcheck has no x-trace-id header with a 32-hex trace id")
    otel = requests.get(ctx.url("app", "/health/otel"), timeout=10).json()
    signals = otel.get("signals", {})
    if set(signals) != {"traces", "metrics", "logs"}:
        problems.append(f"/health/otel reports {sorted(signals)}, expected traces, metrics, logs")
    evidence = [f"{name}: {s.get('status')} ({s.get('reason')})" for name, s in signals.items()]
    if "otel-collector" in ctx.running():
        problems += [f"/health/otel: {line}" for line in evidence if ": ok " not in line]
    return _verdict(
        problems,
        "healthcheck contract holds; " + "; ".join(evidence),
        {"health/otel": json.dumps(otel, indent=2)},
    )


def load_allowlist(root: Path) -> dict[str, str]:
    path = root / ALLOWLIST
    if not path.is_file():
        return {}
    return {str(e["metric"]): str(e["why"]) for e in yaml.safe_load(path.read_text()) or []}


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
                for name in promql.metric_names(dashboards.concrete(query.expr, _SAMPLE_VARIABLES)):
                    found.setdefault(name, []).append(
                        f"{path.relative_to(root)}: panel {query.panel!r}"
                    )
    return found


def missing_metrics(
    referenced: dict[str, list[str]], present: set[str], allow: dict[str, str], running: set[str]
) -> tuple[list[str], list[str]]:
    """Problems (place and metric of each reference to a metric that does not exist) and
    notes (allowlisted metrics, metrics of services not running, which are not checked)."""
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


def _prometheus_uptime(ctx: Context) -> float:
    result = _get(
        ctx,
        "prometheus",
        "/api/v1/query",
        query='time() - process_start_time_seconds{job="prometheus"}',
    )
    samples = result["data"]["result"]
    return float(samples[0]["value"][1]) if samples else 0.0


def gate_metrics_exist(ctx: Context) -> Verdict:
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


def _send_first_data(ctx: Context) -> list[str]:
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


def gate_dashboard_queries(ctx: Context) -> Verdict:
    import requests

    if skip := _needs(ctx, "prometheus"):
        return skip
    problems, count = [], 0
    for path in dashboards.dashboard_files(ctx.root):
        for query in dashboards.queries(json.loads(path.read_text())):
            if query.datasource != "prometheus":
                continue
            expr = dashboards.concrete(query.expr, _SAMPLE_VARIABLES)
            answer = requests.get(
                ctx.url("prometheus", "/api/v1/query"), params={"query": expr}, timeout=10
            )
            count += 1
            if answer.status_code != 200:
                problems.append(
                    f"{path.relative_to(ctx.root)}: panel {query.panel!r}: "
                    f"{answer.json().get('error')}"
                )
    return _verdict(problems, f"{count} queries evaluate")


def gate_ingestion(ctx: Context) -> Verdict:
    """A log line and a span sent over OTLP come back from Loki and Tempo."""
    import requests

    if skip := _needs(ctx, "loki", "tempo"):
        return skip
    trace_id = otlp.new_trace_id()
    route = otlp.route(ctx.settings, ctx.running())
    otlp.send(route.traces, otlp.span(trace_id, "mirante-gates", "gate-smoke"))
    otlp.send(route.logs, otlp.log(trace_id, "mirante-gates", f"gate smoke {trace_id}"))
    trace = _wait(
        lambda: (
            requests.get(ctx.url("tempo", f"/api/traces/{trace_id}"), timeout=10).status_code == 200
        ),
        60,
    )
    logs = _wait(
        lambda: _get(
            ctx,
            "loki",
            "/loki/api/v1/query_range",
            query=f'{{service_name="mirante-gates"}} |= "{trace_id}"',
        )["data"]["result"],
        60,
    )
    problems = ([] if trace else [f"Tempo did not return trace {trace_id} within 60 s"]) + (
        [] if logs else [f"Loki did not return the log line of {trace_id} within 60 s"]
    )
    return _verdict(problems, f"trace and log {trace_id}, sent {route.via}, read back")


GATES: tuple[Gate, ...] = (
    Gate("compose", "static", "compose config renders and follows the policy", gate_compose),
    Gate(
        "expand-env",
        "static",
        "configs read with -config.expand-env expand as Loki / Tempo do it",
        gate_expand_env,
    ),
    Gate(
        "image-tools",
        "static",
        "healthchecks use only what each official image has (images/official.yaml)",
        gate_image_tools,
    ),
    Gate(
        "stand-in-parity",
        "static",
        "local stand-ins are no more capable than the official images where compose relies",
        gate_stand_in_parity,
    ),
    Gate("pins-resolve", "static", "every pinned tag exists in its registry", gate_pins_resolve),
    Gate(
        "prometheus",
        "static",
        "promtool check config / rules, test rules; every alert tested",
        gate_prometheus,
    ),
    Gate("alertmanager", "static", "amtool check-config and the routing cases", gate_alertmanager),
    Gate("dashboards", "static", "dashboard lint and PromQL syntax", gate_dashboards),
    Gate(
        "environment",
        "static",
        ".env.example documents every setting; no secret committed",
        gate_environment,
    ),
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
BY_NAME = {g.name: g for g in GATES}


class UnknownGate(MiranteError):
    exit_code = 2


def select(only: Sequence[str]) -> list[Gate]:
    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise UnknownGate(
            f"unknown gate {', '.join(map(repr, unknown))}; known gates: {', '.join(BY_NAME)}"
        )
    return [g for g in GATES if not names or g.name in names]


@dataclass
class Report:
    started: str
    results: list[GateResult]
    strict: bool

    @property
    def failed(self) -> list[GateResult]:
        return [
            r for r in self.results if r.status == FAIL or (self.strict and r.status == SKIPPED)
        ]


def run(
    settings: Settings, only: Sequence[str] = (), strict: bool = False, reuse: bool = False
) -> Report:
    """Run the selected gates (all by default), static ones first.

    With ``reuse``, runtime gates check the stack that is already running instead of
    starting it; without, the gates start what can run here and leave it running.
    """
    chosen = select(only)
    ctx = Context(settings, reuse=reuse)
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    bring_up_seconds = 0.0
    if any(g.kind == "runtime" for g in chosen):
        began = time.monotonic()
        _bring_up(ctx)
        bring_up_seconds = time.monotonic() - began
    results = []
    for gate in chosen:
        # The stack gate reports on the start-up done before the runtime gates: count its time.
        began = time.monotonic() - (bring_up_seconds if gate.name == "stack" else 0.0)
        try:
            verdict = gate.check(ctx)
        except promtools.ToolMissing as exc:
            verdict = Verdict(SKIPPED, str(exc))
        except MiranteError as exc:
            verdict = Verdict(FAIL, str(exc).splitlines()[0])
        except OSError as exc:  # requests' connection errors and file problems
            verdict = Verdict(FAIL, f"{type(exc).__name__}: {exc}")
        results.append(
            GateResult(
                gate.name,
                gate.kind,
                verdict.status,
                verdict.reason,
                round(time.monotonic() - began, 2),
                verdict.evidence,
                verdict.outputs,
            )
        )
    return Report(started, results, strict)


def _bring_up(ctx: Context) -> None:
    try:
        if ctx.reuse:
            running = [r for r in stack.status(ctx.settings) if r.state in stack.UP_STATES]
            if not running:
                ctx.stack_error = (
                    "--reuse, but no service of the stack is running; "
                    "drop --reuse or run `invoke stack.up`"
                )
                return
            rows = [stack.ServiceState(r.service, "healthy", r.url) for r in running]
            ctx.stack_report = stack.UpReport(rows, "reused")
        else:
            ctx.stack_report = stack.up(ctx.settings)
    except MiranteError as exc:
        ctx.stack_error = str(exc).splitlines()[0]


def _last_lines(text: str, count: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-count:])


def write_manifest(
    settings: Settings, report: Report, tools: promtools.Tools | None = None
) -> Path:
    """artifacts/gates/<started>/manifest.json plus one raw-output file per gate."""
    directory = settings.root / "artifacts" / "gates" / report.started
    directory.mkdir(parents=True, exist_ok=True)
    for result in report.results:
        if result.outputs:
            text = "\n\n".join(f"### {label}\n{output}" for label, output in result.outputs.items())
            atomic_write(directory / f"{result.name}.txt", text + "\n")
    tools = tools or promtools.Tools(settings.root, settings)
    versions = {}
    for tool in ("promtool", "amtool"):
        try:
            versions[tool] = {"where": tools.where(tool), "version": tools.version(tool)}
        except MiranteError as exc:
            versions[tool] = {"where": "missing", "version": str(exc)}
    env = read_env_file(stack.env_file(settings)) if stack.env_file(settings).is_file() else {}
    manifest = {
        "started": report.started,
        "git_revision": _git_revision(settings.root),
        "strict": report.strict,
        "passed": not report.failed,
        "tools": versions,
        "images": {k: v for k, v in sorted(env.items()) if k.endswith("_IMAGE")},
        "gates": [{k: v for k, v in asdict(r).items() if k != "outputs"} for r in report.results],
    }
    path = directory / "manifest.json"
    atomic_write(path, json.dumps(manifest, indent=2) + "\n")
    return path


def _git_revision(root: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
