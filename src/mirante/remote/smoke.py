"""The smoke test that ends ``k8s.install`` and ``staging.reset``: does the stack ingest?

Through the environment's own collector, a span and a log line sent over OTLP must come
back from Tempo and Loki, and the app's Service must pass ``validate.service``. The
cluster's Services are reached through ``kubectl port-forward`` (its API is the only way
in from here). Every check lands in ``artifacts/smoke/<env>/<UTC>/manifest.json`` with its
evidence, as the gates' do; a failed check fails the task, a skipped one is never a pass.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mirante.environments import Environment
from mirante.errors import ClusterNotReady, KubeCommandError, MiranteError
from mirante.files import atomic_write
from mirante.observe import contract, otlp
from mirante.remote import generated
from mirante.settings import Settings

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
SERVICE = "mirante-smoke"  # the service.name of what the smoke test sends


@dataclass
class Check:
    """One check of the smoke test: its status, why, and the evidence."""

    name: str
    status: str
    reason: str
    evidence: list[str] = field(default_factory=list)


@dataclass
class Report:
    """The smoke test of one environment, and where its evidence was written."""

    env: str
    started: str
    checks: list[Check]
    seconds: float = 0.0
    path: Path | None = None

    @property
    def failed(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if c.status == FAIL]


@dataclass(frozen=True)
class Target:
    """A Service the smoke test reaches: its namespace, name and port."""

    namespace: str
    service: str
    port: int


# Opens a port-forward to a Target for a block; yields the local port.
Forward = Callable[[Target], AbstractContextManager[int]]


def targets(settings: Settings, env: Environment) -> dict[str, Target]:
    """The Services of ``env`` the smoke test reaches, by role."""
    ns = env.observability_namespace
    tempo = generated.tempo_addresses(settings, env)[0]  # http://<service>.<ns>.svc:3200
    tempo_service = tempo.split("//", 1)[1].split(".", 1)[0]
    return {
        "collector": Target(ns, "opentelemetry-collector", 4318),
        "tempo": Target(ns, tempo_service, 3200),
        "loki": Target(ns, "loki-gateway", 80),
        "app": Target(env.app_namespace, "app", 8000),
    }


def run_smoke(
    settings: Settings, env: Environment, forward: Forward, seconds: float = 60.0
) -> Report:
    """Open the forwards, send and read back, check the app's contract; write the evidence.

    A forward that cannot open fails the checks that need it, with kubectl's reason.
    """
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    begun = time.monotonic()
    checks: list[Check] = []
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        for role, target in targets(settings, env).items():
            try:
                port = stack.enter_context(forward(target))
                urls[role] = f"http://127.0.0.1:{port}"
            except (KubeCommandError, MiranteError) as exc:
                checks.append(
                    Check(
                        f"reach {role}",
                        FAIL,
                        f"no port-forward to {target.namespace}/"
                        f"service/{target.service}:{target.port}: {exc}",
                    )
                )
        checks += _ingestion(urls, seconds)
        checks += _contract(urls)
    report = Report(env.name, started, checks, time.monotonic() - begun)
    report.path = write(settings.root, report)
    return report


def _ingestion(urls: dict[str, str], seconds: float) -> list[Check]:
    name = "ingestion: a span and a log line through the collector come back"
    missing = [role for role in ("collector", "tempo", "loki") if role not in urls]
    if missing:
        return [Check(name, FAIL, f"not reached: {', '.join(missing)}")]
    route = otlp.Route(
        f"{urls['collector']}/v1/traces",
        f"{urls['collector']}/v1/logs",
        "through the environment's collector",
    )
    try:
        trip = otlp.round_trip(route, urls["tempo"], urls["loki"], SERVICE, seconds)
    except OSError as exc:  # requests' errors are OSErrors: the collector refused or is gone
        return [Check(name, FAIL, f"the collector did not take them: {type(exc).__name__}")]
    evidence = [
        f"trace {trip.trace_id}: {'found' if trip.trace_found else 'not found'} in Tempo",
        f"log line of {trip.trace_id}: {'found' if trip.log_found else 'not found'} in Loki",
        f"{trip.seconds:.1f} s, sent {trip.via}",
    ]
    if trip.problems:
        return [Check(name, FAIL, "; ".join(f"{p} within {seconds:g} s" for p in trip.problems),
                      evidence)]  # fmt: skip
    return [Check(name, PASS, f"trace and log {trip.trace_id} read back", evidence)]


def _contract(urls: dict[str, str]) -> list[Check]:
    name = "validate.service: the app's Service honours the observability contract"
    if "app" not in urls:
        return [Check(name, FAIL, "the app's Service was not reached")]
    try:
        found = contract.validate(urls["app"])
    except MiranteError as exc:
        return [Check(name, FAIL, str(exc))]
    evidence = [f"{'ok' if c.ok else 'FAILED'}: {c.name}: {c.detail}" for c in found]
    failed = [c for c in found if not c.ok]
    if failed:
        return [Check(name, FAIL, "; ".join(f"{c.name}: {c.fix or c.detail}" for c in failed),
                      evidence)]  # fmt: skip
    return [Check(name, PASS, f"{len(found)} checks pass", evidence)]


def write(root: Path, report: Report) -> Path:
    """``artifacts/smoke/<env>/<started>/manifest.json``; its path."""
    directory = root / "artifacts" / "smoke" / report.env / report.started
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "manifest.json"
    document = {
        "env": report.env,
        "started": report.started,
        "seconds": round(report.seconds, 1),
        "checks": [asdict(c) for c in report.checks],
        "summary": {s: sum(c.status == s for c in report.checks) for s in (PASS, FAIL, SKIPPED)},
    }
    atomic_write(path, json.dumps(document, indent=2) + "\n")
    return path


def verdict(report: Report, root: Path) -> str:
    """One line for the plan's output; raises when a check failed.

    Raises:
        ClusterNotReady: naming each failed check and the evidence's path.
    """
    shown = report.path.relative_to(root) if report.path else "(not written)"
    if report.failed:
        raise ClusterNotReady(
            f"{report.env}: installed, but the smoke test failed: "
            + "; ".join(f"{c.name.split(':')[0]}: {c.reason}" for c in report.failed)
            + f" (evidence: {shown})"
        )
    return f"smoke test passed ({len(report.checks)} checks, {report.seconds:.1f} s): {shown}"


def forwards(env: Environment) -> Forward:
    """Real port-forwards through kubectl, in ``env``'s context."""
    from mirante.tools.kube import Kubectl, forwarded

    kubectl = Kubectl(env.context)

    def forward(target: Target) -> AbstractContextManager[int]:
        return forwarded(kubectl.port_forward(target.namespace, target.service, target.port))

    return forward
