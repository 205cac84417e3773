"""promtool and amtool: static checks of the rules and the Alertmanager routing.

The tools come from the host (Debian's ``prometheus`` and ``prometheus-alertmanager``
packages, which ``scripts/ci/bootstrap.sh`` installs). Every check returns data; the
callers (tests now, quality gates later) decide what a failure means.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mirante.docker import run
from mirante.errors import MiranteError


class ToolMissing(MiranteError):
    """promtool or amtool is not installed."""

    def __init__(self, tool: str) -> None:
        package = "prometheus" if tool == "promtool" else "prometheus-alertmanager"
        super().__init__(
            f"{tool} is not installed: `apt-get install {package}` (or run "
            "`bash scripts/ci/bootstrap.sh`), then try again"
        )


@dataclass(frozen=True)
class Outcome:
    ok: bool
    output: str


@dataclass(frozen=True)
class RouteCase:
    labels: dict[str, str]
    expected: str
    actual: str

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


def tool(name: str) -> str:
    """The path of ``promtool`` or ``amtool``.

    Raises:
        ToolMissing: when it is not on PATH.
    """
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(name)
    return path


def _outcome(argv: list[str | Path], cwd: Path) -> Outcome:
    result = run(argv, check=False, cwd=cwd, timeout=120)
    return Outcome(result.returncode == 0, (result.stdout + result.stderr).strip())


def check_rules(root: Path) -> Outcome:
    """``promtool check rules`` over every rule file."""
    files = sorted((root / "prometheus" / "rules").glob("*.yml"))
    return _outcome([tool("promtool"), "check", "rules", *files], root)


def test_rules(root: Path) -> Outcome:
    """``promtool test rules`` over every test file (paths inside are relative to each file)."""
    files = sorted((root / "prometheus" / "tests").glob("*.yml"))
    return _outcome([tool("promtool"), "test", "rules", *files], root / "prometheus" / "tests")


def check_alertmanager(root: Path) -> Outcome:
    """``amtool check-config`` of alertmanager/alertmanager.yml."""
    return _outcome([tool("amtool"), "check-config", "alertmanager/alertmanager.yml"], root)


def route_cases(root: Path) -> list[RouteCase]:
    """Each case of alertmanager/tests/routes.yml with the receiver amtool routes it to."""
    config = root / "alertmanager" / "alertmanager.yml"
    cases: list[dict[str, Any]] = yaml.safe_load(
        (root / "alertmanager" / "tests" / "routes.yml").read_text()
    )
    results = []
    for case in cases:
        labels = {str(k): str(v) for k, v in case["labels"].items()}
        argv = [tool("amtool"), "config", "routes", "test", f"--config.file={config}"]
        argv += [f"{k}={v}" for k, v in labels.items()]
        answer = run(argv, check=False, timeout=60).stdout.strip()
        results.append(RouteCase(labels, str(case["receiver"]), answer))
    return results


def alerting_rules(root: Path) -> list[dict[str, Any]]:
    """Every alerting rule of prometheus/rules/, with the file it is in under ``file``."""
    rules = []
    for path in sorted((root / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += [{**r, "file": path.name} for r in group["rules"] if "alert" in r]
    return rules


def tested_alerts(root: Path) -> dict[str, set[str]]:
    """For each alert name in prometheus/tests/: ``{"fires", "quiet"}`` as its tests show."""
    seen: dict[str, set[str]] = {}
    for path in sorted((root / "prometheus" / "tests").glob("*.yml")):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                kind = "fires" if case.get("exp_alerts") else "quiet"
                seen.setdefault(case["alertname"], set()).add(kind)
    return seen
