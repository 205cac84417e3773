"""promtool and amtool: static checks of the rules and of the Alertmanager routing.

The tools come from the host when it has them (Debian's ``prometheus`` and
``prometheus-alertmanager`` packages, which ``scripts/ci/bootstrap.sh`` installs), and
otherwise run inside the stack's own Prometheus / Alertmanager image with the checkout
mounted read-only at the same path, so the checks also work on a laptop with only Docker.
Every check returns data; callers (tests, quality gates) decide what a failure means.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mirante import loader
from mirante.errors import MiranteError, ToolError, ToolNotFound
from mirante.runner import run
from mirante.tools.docker import run_container

if TYPE_CHECKING:
    from python_on_whales import DockerClient

IMAGE_OF = {"promtool": "prometheus", "amtool": "alertmanager"}
PACKAGE_OF = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}


def missing(tool: str, why: str = "") -> ToolNotFound:
    """Promtool or amtool is neither installed nor runnable from an image: how to get it."""
    hint = (
        f"`apt-get install {PACKAGE_OF[tool]}` (or `bash scripts/ci/bootstrap.sh`), "
        "or start Docker so it can run from the image"
    )
    return ToolNotFound(tool, hint, f"is not installed{f' and {why}' if why else ''}")


@dataclass(frozen=True)
class Outcome:
    """A tool's exit code and output."""

    ok: bool
    output: str
    command: str = ""


@dataclass(frozen=True)
class RouteCase:
    """One Alertmanager routing case: labels and the receivers they must reach."""

    labels: dict[str, str]
    expected: str
    actual: str

    @property
    def ok(self) -> bool:
        """Whether the tool exited 0."""
        return self.expected == self.actual


# What the stack's images are asked for when a tool is not on the host: the tool's
# service, and back the client to run it with and the image that service runs here.
Fallback = Callable[[str], "tuple[DockerClient, str]"]


@dataclass
class Tools:
    """Runs promtool / amtool from the host, or from the stack's images when absent there.

    Attributes:
        root: the checkout (mounted read-only into the image when one is used).
        fallback: given the service that carries the tool (``IMAGE_OF``), the Docker
            client and the image to run it from; chosen by the domain, never here.
    """

    root: Path
    fallback: Fallback | None = None
    _images: dict[str, tuple[DockerClient, str]] = field(default_factory=dict)

    def where(self, tool: str) -> str:
        """``host:/usr/bin/promtool`` or ``image:mirante/prometheus:...`` (for evidence)."""
        path = shutil.which(tool)
        return f"host:{path}" if path else f"image:{self._image(tool)[1]}"

    def _image(self, tool: str) -> tuple[DockerClient, str]:
        if tool in self._images:
            return self._images[tool]
        if self.fallback is None:
            raise missing(tool)
        try:
            self._images[tool] = self.fallback(IMAGE_OF[tool])
        except MiranteError as exc:
            raise missing(tool, f"no image could be had ({exc})") from None
        return self._images[tool]

    def run_tool(self, tool: str, args: Sequence[str | Path], cwd: Path | None = None) -> Outcome:
        """Run promtool or amtool (the host's, or the image's); its outcome."""
        cwd = cwd or self.root
        host = shutil.which(tool)
        if host:
            result = run([host, *args], check=False, cwd=cwd, timeout=300)
            return Outcome(
                result.returncode == 0, (result.stdout + result.stderr).strip(), f"{tool} {args}"
            )
        docker, image = self._image(tool)
        mount = str(self.root.resolve())
        try:
            output = run_container(
                docker,
                image,
                [str(a) for a in args],
                entrypoint=tool,
                volumes=[(mount, mount, "ro")],
                workdir=str(cwd.resolve()),
            )
        except ToolError as exc:
            return Outcome(False, exc.stderr.strip(), f"{tool} {args}")
        return Outcome(True, output.strip(), f"{tool} {args}")

    def version(self, tool: str) -> str:
        """The tool's ``--version`` line."""
        first = self.run_tool(tool, ["--version"]).output.splitlines()
        return first[0] if first else "unknown"


def check_config(tools: Tools) -> Outcome:
    """``promtool check config --syntax-only`` of prometheus/prometheus.yml."""
    return tools.run_tool(
        "promtool", ["check", "config", "--syntax-only", "prometheus/prometheus.yml"]
    )


def check_rules(tools: Tools) -> Outcome:
    """``promtool check rules`` over every rule file."""
    files = sorted((tools.root / "prometheus" / "rules").glob("*.yml"))
    return tools.run_tool("promtool", ["check", "rules", *files])


def test_rules(tools: Tools) -> Outcome:
    """``promtool test rules`` over every test file (paths inside are relative to each file)."""
    tests = tools.root / "prometheus" / "tests"
    return tools.run_tool("promtool", ["test", "rules", *sorted(tests.glob("*.yml"))], cwd=tests)


def check_alertmanager(tools: Tools, config: Path) -> Outcome:
    """``amtool check-config`` of an Alertmanager configuration file."""
    return tools.run_tool("amtool", ["check-config", config])


def route_cases(tools: Tools, config: Path) -> list[RouteCase]:
    """Each case of alertmanager/tests/routes.yml with the receiver amtool routes it to."""
    cases: list[dict[str, Any]] = loader.safe_load(
        (tools.root / "alertmanager" / "tests" / "routes.yml").read_text()
    )
    results = []
    for case in cases:
        labels = {str(k): str(v) for k, v in case["labels"].items()}
        args = ["config", "routes", "test", f"--config.file={config}"]
        answer = tools.run_tool("amtool", [*args, *(f"{k}={v}" for k, v in labels.items())])
        results.append(
            RouteCase(
                labels,
                str(case["receiver"]),
                answer.output.splitlines()[0] if answer.output else "",
            )
        )
    return results


def alerting_rules(root: Path) -> list[dict[str, Any]]:
    """Every alerting rule of prometheus/rules/, with the file it is in under ``file``."""
    return [r for r in all_rules(root) if "alert" in r]


def all_rules(root: Path) -> list[dict[str, Any]]:
    """Every rule of prometheus/rules/ (alerting and recording), with ``file`` and ``group``."""
    rules = []
    for path in sorted((root / "prometheus" / "rules").glob("*.yml")):
        for group in (loader.safe_load(path.read_text()) or {}).get("groups", []):
            rules += [{**r, "file": path.name, "group": group["name"]} for r in group["rules"]]
    return rules


def tested_alerts(root: Path) -> dict[str, set[str]]:
    """For each alert name in prometheus/tests/: ``{"fires", "quiet"}`` as its tests show."""
    seen: dict[str, set[str]] = {}
    for path in sorted((root / "prometheus" / "tests").glob("*.yml")):
        for test in loader.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                kind = "fires" if case.get("exp_alerts") else "quiet"
                seen.setdefault(case["alertname"], set()).add(kind)
    return seen
