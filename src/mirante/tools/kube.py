"""The tool wrapper for kubectl and helm: argv builders around the runner, typed errors.

In the manner of python-on-whales: :class:`Kubectl` and :class:`Helm` build
:class:`Command` objects (always naming the kube context on anything that talks to a
cluster); :func:`run_kube` executes one. A plan prints exactly the commands it will run,
because printing and running use the same objects.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mirante import runner
from mirante.errors import KubeCommandError, ToolNotFound
from mirante.runner import Command, Result

KUBECTL_MIN = (1, 28)
HELM_MIN = (3, 12)
INSTALL_HINT = "run `bash scripts/ci/bootstrap.sh`, which installs both, or install them by hand"


def run_kube(command: Command, timeout: float | None = None, cwd: Path | None = None) -> Result:
    """Run a kubectl or helm command (and its pipe), capturing the output.

    Raises:
        ToolNotFound: the program is not on PATH.
        KubeCommandError: it exited with a code not in ``command.ok_codes``.
    """
    return runner.run(command, timeout=timeout, cwd=cwd, hint=INSTALL_HINT, error=KubeCommandError)


_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


@contextmanager
def forwarded(command: Command, seconds: float = 30.0) -> Iterator[int]:
    """Run ``kubectl port-forward`` for the block; yields the local port it listens on.

    The command names the remote port only (``:4318``): kubectl picks a free local one
    and says which.

    Raises:
        ToolNotFound: kubectl is not on PATH.
        KubeCommandError: kubectl stopped, or said nothing within ``seconds``, with what it
            printed (an unreachable API, a Service that does not exist).
    """
    said: list[str] = []
    ready = threading.Event()

    def heard(line: str) -> None:
        said.append(line)
        if not line or _FORWARDING.search(line):
            ready.set()  # forwarding, or kubectl ended

    with runner.watching(command.argv, INSTALL_HINT, heard) as stop:
        ready.wait(seconds)
        port = next((int(m.group(1)) for line in said if (m := _FORWARDING.search(line))), 0)
        if not port:
            code, stderr = stop()
            reason = stderr or "".join(said) or f"no port within {seconds:g} s"
            raise KubeCommandError(list(command.argv), code or 1, reason)
        yield port


def _version(text: str) -> tuple[int, int]:
    found = re.search(r"v?(\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


@functools.cache
def tool_version(binary: str) -> tuple[int, int]:
    """The (major, minor) version of kubectl or helm on PATH, checked against the minimum.

    Raises:
        ToolNotFound: absent, unreadable version, or too old.
    """
    argv: tuple[str, ...] = ("kubectl", "version", "--client", "-o", "json")
    minimum = KUBECTL_MIN
    if binary == "helm":
        argv, minimum = ("helm", "version", "--template", "{{.Version}}"), HELM_MIN
    done = run_kube(Command(argv), timeout=30)
    text = done.stdout
    if binary == "kubectl":
        client = json.loads(text or "{}").get("clientVersion", {})
        text = client.get("gitVersion", "")
    found = _version(text)
    if found < minimum:
        shown = ".".join(map(str, minimum))
        found_text = text.strip() or "of unknown version"
        raise ToolNotFound(binary, INSTALL_HINT, f"{found_text} is older than {shown}")
    return found


@dataclass(frozen=True)
class Kubectl:
    """kubectl against one context. Local-only commands (kustomize, config) take no context."""

    context: str

    def __call__(self, *args: str, ok_codes: tuple[int, ...] = (0,)) -> Command:
        """A kubectl command in this context."""
        return Command(("kubectl", "--context", self.context, *args), ok_codes=ok_codes)

    def apply_kustomize(self, overlay: Path) -> Command:
        """``kubectl apply -k`` of an overlay."""
        return self("apply", "-k", str(overlay))

    def rollout_status(self, namespace: str, deployment: str, timeout: float) -> Command:
        """``kubectl rollout status`` of a deployment, with a timeout."""
        return self(
            "--namespace", namespace, "rollout", "status", f"deployment/{deployment}",
            f"--timeout={timeout:g}s",
        )  # fmt: skip

    def port_forward(self, namespace: str, service: str, port: int) -> Command:
        """``kubectl port-forward`` of a Service's port to a free local one (see forwarded)."""
        return self("--namespace", namespace, "port-forward", f"service/{service}", f":{port}")

    @staticmethod
    def kustomize(overlay: Path) -> Command:
        """``kubectl kustomize`` of an overlay (rendered, nothing applied)."""
        return Command(("kubectl", "kustomize", str(overlay)))

    @staticmethod
    def config_view() -> Command:
        """``kubectl config view`` of the current kubeconfig."""
        return Command(("kubectl", "config", "view", "-o", "json"))


@dataclass(frozen=True)
class Release:
    """A helm release of a pinned chart from a chart repository."""

    name: str
    chart: str
    repo: str
    version: str

    def chart_args(self) -> tuple[str, ...]:
        """The release name, chart, repository and version, as helm takes them."""
        return (self.name, self.chart, "--repo", self.repo, "--version", self.version)


@dataclass(frozen=True)
class Helm:
    """helm against one kube context; ``major`` picks the flag spelling of helm 3 or 4."""

    context: str
    major: int = 3

    def __call__(self, *args: str) -> Command:
        """A helm command in this context."""
        return Command(("helm", "--kube-context", self.context, *args))

    def upgrade_install(
        self, release: Release, namespace: str, values: Sequence[Path], timeout: float
    ) -> Command:
        """``helm upgrade --install`` that waits, times out, and rolls back on failure."""
        wait = (
            ["--wait=watcher", "--rollback-on-failure"]
            if self.major >= 4
            else ["--wait", "--atomic"]
        )
        return self(
            "upgrade", "--install", *release.chart_args(),
            "--namespace", namespace, "--create-namespace",
            *[arg for path in values for arg in ("--values", str(path))],
            *wait, "--timeout", f"{timeout:g}s",
        )  # fmt: skip

    @staticmethod
    def template(release: Release, namespace: str, values: Sequence[Path]) -> Command:
        """``helm template``: renders locally, talks to no cluster."""
        return Command(
            (
                "helm", "template", *release.chart_args(), "--namespace", namespace,
                *[arg for path in values for arg in ("--values", str(path))],
            )
        )  # fmt: skip
