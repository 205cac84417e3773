"""Static gates: they read the checkout and run promtool / amtool; no stack needed."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mirante import images, stack
from mirante.errors import MiranteError, ToolError
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
    last_lines,
    verdict_of,
)
from mirante.images import official
from mirante.runner import run
from mirante.settings import unpinned
from mirante.stack import alerting
from mirante.tools import promtools
from mirante.tools.docker import docker_errors

WHAT_TESTS_SHOW = {"fires": "fires", "quiet": "stays quiet"}
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


def rendered_compose(ctx: GateContext) -> dict[str, Any]:
    """``docker compose config`` with the current settings, rendered once per run.

    Raises:
        MiranteError: compose cannot render it (the gate that asked fails with the reason).
    """
    if ctx.rendered is None:
        docker = stack.write_project_files(ctx.settings).docker
        try:
            with docker_errors():
                ctx.rendered = dict(docker.compose.config(return_json=True))
        except MiranteError as exc:
            raise MiranteError(f"`docker compose config` fails: {exc}") from None
    return ctx.rendered


def _compose_source(ctx: GateContext) -> str:
    return ctx.settings.compose_file.relative_to(ctx.settings.root).as_posix()


def gate_compose(ctx: GateContext) -> Verdict:
    """The compose file renders and follows the stack's policy."""
    rendered = rendered_compose(ctx)
    raw = ctx.settings.compose_file.read_text()
    problems = compose_policy(rendered, raw, ctx.settings.bind, _compose_source(ctx))
    return verdict_of(
        problems, f"{len(rendered['services'])} services render and follow the policy"
    )


def gate_expand_env(ctx: GateContext) -> Verdict:
    """Configs read with -config.expand-env, expanded as Loki and Tempo expand them."""
    configs = official.expanded_configs(rendered_compose(ctx))
    problems = [p for config in configs for p in official.expansion_problems(config, ctx.root)]
    shown = ", ".join(
        f"{config.container_path} ({config.service}, {len(config.environment)} variables)"
        for config in configs
    )
    return verdict_of(
        problems,
        f"{len(configs)} configs expand and parse as their programs do it: {shown}"
        if configs
        else "no service expands its config file",
    )


def gate_image_tools(ctx: GateContext) -> Verdict:
    """Healthchecks and entrypoints use only what each pinned official image has."""
    facts = official.load(ctx.root)
    rendered = rendered_compose(ctx)
    problems = official.tool_problems(rendered, facts, ctx.settings.images, _compose_source(ctx))
    checked = sorted(set(rendered.get("services", {})) & set(ctx.settings.images))
    return verdict_of(
        problems,
        f"{len(checked)} services on official images use only what those images have",
        {"facts": official.FACTS_FILE.as_posix()},
    )


def gate_stand_in_parity(ctx: GateContext) -> Verdict:
    """No stand-in is more or less capable than its official image where compose relies on it."""
    facts = official.load(ctx.root)
    problems = official.parity_problems(rendered_compose(ctx), facts, _compose_source(ctx))
    labels = [
        official.stand_in_label(facts, s, ctx.settings.images.get(s, "?")) for s in facts.stand_ins
    ]
    return verdict_of(problems, "; ".join(labels) + ": each does what compose needs, no more")


def gate_pins_resolve(ctx: GateContext) -> Verdict:
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


def gate_prometheus(ctx: GateContext) -> Verdict:
    """The config and rules pass promtool's checks and tests; each alert is tested both ways."""
    outputs: dict[str, str] = {}
    problems = []
    for label, outcome in (
        ("promtool check config", promtools.check_config(ctx.tools)),
        ("promtool check rules", promtools.check_rules(ctx.tools)),
        ("promtool test rules", promtools.test_rules(ctx.tools)),
    ):
        outputs[label] = outcome.output
        if not outcome.ok:
            problems.append(f"{label} failed: {last_lines(outcome.output)}")
    tested = promtools.tested_alerts(ctx.root)
    for rule in promtools.alerting_rules(ctx.root):
        missing = {"fires", "quiet"} - tested.get(rule["alert"], set())
        if missing:
            problems.append(
                f"prometheus/rules/{rule['file']}: alert {rule['alert']} has no unit test where it "
                + " and no test where it ".join(WHAT_TESTS_SHOW[m] for m in sorted(missing))
            )
    count = len(promtools.alerting_rules(ctx.root))
    return verdict_of(
        problems, f"config and rules valid; {count} alerts each tested firing and quiet", outputs
    )


def gate_alertmanager(ctx: GateContext) -> Verdict:
    """The rendered config and the routing cases pass amtool's checks."""
    config = alerting.write(ctx.settings)
    checked = promtools.check_alertmanager(ctx.tools, config)
    outputs = {"amtool check-config": checked.output}
    problems = [] if checked.ok else [f"amtool check-config failed: {last_lines(checked.output)}"]
    cases = promtools.route_cases(ctx.tools, config)
    for case in cases:
        outputs[f"route {case.labels}"] = case.actual
        if not case.ok:
            problems.append(
                f"alertmanager/tests/routes.yml: {case.labels} routes to {case.actual!r}, "
                f"expected {case.expected!r}"
            )
    return verdict_of(problems, f"config valid; {len(cases)} routing cases hold", outputs)


def gate_dashboards(ctx: GateContext) -> Verdict:
    """The dashboards are valid and their queries parse."""
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
                    {"record": record, "expr": dashboards.concrete(query.expr, SAMPLE_VARIABLES)}
                )
                origin[record] = f"{path.relative_to(ctx.root)}: panel {query.panel!r}"
    scratch = ctx.settings.state_dir / "gates"
    scratch.mkdir(parents=True, exist_ok=True)
    rule_file = scratch / "dashboard-queries.yml"
    atomic_write(rule_file, yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    outcome = ctx.tools.run_tool("promtool", ["check", "rules", rule_file])
    if not outcome.ok:
        # promtool names the failing rule: ... rule 12, "gate:query_11": could not parse ...
        for record, error in re.findall(r'"(gate:query_\d+)": (.+)', outcome.output):
            problems.append(f"{origin[record]}: PromQL does not parse ({error.strip()})")
        if not problems:
            problems.append(f"dashboard queries do not parse: {last_lines(outcome.output)}")
    return verdict_of(
        problems,
        f"{len(rules)} queries parse; uids, titles and datasources resolve",
        {"promtool": outcome.output},
    )


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
    """The variables ``.env.example`` documents."""
    text = (root / ".env.example").read_text() if (root / ".env.example").is_file() else ""
    return set(re.findall(r"^#?\s*(MIRANTE_[A-Z0-9_]+)=", text, re.M))


def committed_secrets(root: Path, files: Sequence[Path]) -> list[str]:
    """Secret values found in the given files.

    Known token shapes anywhere, literal passwords in env-like files.
    """
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
        listing = run(["git", "-C", str(root), "ls-files", "-z"]).stdout
        return [root / name for name in listing.split("\0") if name]
    except ToolError:
        # Not a git checkout (or no git): every file but what mirante generates or git
        # would ignore.
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


def gate_environment(ctx: GateContext) -> Verdict:
    """Every setting the code reads is documented, and no secret is committed."""
    problems = []
    documented = documented_variables(ctx.root)
    for name, where in sorted(code_variables(ctx.root).items()):
        if name not in documented:
            problems.append(f".env.example: {name} (read in {where}) is not documented")
    problems += committed_secrets(ctx.root, tracked_files(ctx.root))
    return verdict_of(problems, f"{len(documented)} variables documented; no secret committed")


def gate_k8s_parity(ctx: GateContext) -> Verdict:
    """Each cluster environment behaves like the compose stack (mirante.remote.parity)."""
    import shutil

    from mirante.remote import parity
    from mirante.remote.steps import render_overlay

    if shutil.which("kubectl") is None:
        return Verdict(SKIPPED, "kubectl is not on PATH: the overlays cannot be rendered here")
    problems, checked = [], []
    for env in ctx.settings.environments.by_name.values():
        try:
            overlay = render_overlay(env)
            problems += parity.problems(ctx.settings, env, overlay)
        except MiranteError as exc:
            problems.append(f"{env.name}: {exc}")
        checked.append(env.name)
    return verdict_of(
        problems,
        f"{', '.join(checked)}: the alert rules, receivers, jobs, scrape limits and datasource "
        "links match the compose stack",
    )


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
    Gate(
        "k8s-parity",
        "static",
        "dev / staging / prod alert, scrape and link like the compose stack",
        gate_k8s_parity,
    ),
)
