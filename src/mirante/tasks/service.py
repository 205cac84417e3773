"""`invoke service.*`: the services the stack observes (config/services.yaml)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante.tasks._cli import exits_cleanly, table

NAME_HELP = "the service's name: its Prometheus job (lower-case letters, digits, '-', '_')"


@task(
    help={
        "name": NAME_HELP,
        "metrics": "where its metrics are: http://127.0.0.1:PORT/metrics (a process here) or "
        "http://CONTAINER:PORT/metrics (a container on the stack's network)",
        "llm": "it also exposes the LLM metric families (LLM alerts and dashboard)",
        "force": "add it even when it fails the contract (what will not work is said)",
        "otel_name": "its OTEL_SERVICE_NAME, when not NAME (its traces and logs are found by it)",
        "env": "(a cluster) the environment it runs in: dev, staging or prod",
        "namespace": "(a cluster) its namespace there",
        "port_name": "(a cluster) the name of its Service's metrics port",
        "cluster_service": "(a cluster) its Service's name (default: NAME)",
    },
    positional=["name"],
)
@exits_cleanly
def add(
    c: Context,
    name: str,
    metrics: str = "",
    llm: bool = False,
    force: bool = False,
    otel_name: str = "",
    env: str = "",
    namespace: str = "",
    port_name: str = "",
    cluster_service: str = "",
) -> None:
    """Observe a service: check it against the contract, then scrape, alert and draw it."""
    from mirante.observe import coverage
    from mirante.observe import registry as observed

    config = settings_mod.load()
    if env:
        if not (namespace and port_name):
            raise Exit("error: --env needs --namespace and --port-name too", code=2)
        place = observed.place(config, name, env, namespace, cluster_service or name, port_name)
        print(
            f"{name} in {env}: namespace {place.namespace}, Service {place.service}, port "
            f"{place.port}; `invoke k8s.diff {env}` shows its ServiceMonitor"
        )
        return
    if not metrics:
        raise Exit("error: give --metrics URL (or --env ENV to place it in a cluster)", code=2)
    added = coverage.add_service(config, name, metrics, llm=llm, force=force, otel_name=otel_name)
    table(
        f"observability contract: {name}",
        ("check", "result", "found", "fix"),
        [(ch.name, "pass" if ch.ok else "FAIL", ch.detail, ch.fix) for ch in added.admission.checks]
        + [(added.admission.reach.name, added.admission.reach.state, added.admission.reach.detail,
            added.admission.reach.fix)],
    )  # fmt: skip
    for warning in added.warnings:
        print(f"note: {warning}")
    scraped = (
        f"Prometheus scrapes it at {added.service.target}{added.service.path} from now on"
        if added.scraped
        else "Prometheus scrapes it once its container runs (invoke stack.up)"
    )
    print(f"{name} is observed (config/services.yaml): {scraped}; `invoke service.check {name}`")


@task(help={"name": "the observed service to take out"}, positional=["name"])
@exits_cleanly
def remove(c: Context, name: str) -> None:
    """Stop observing a service: the stack stops scraping it."""
    from mirante.observe import coverage

    gone = coverage.remove_service(settings_mod.load(), name)
    print(f"{gone.name} is no longer observed; Prometheus stops scraping {gone.target}")


@task(name="list")
@exits_cleanly
def list_(c: Context) -> None:
    """Each observed service: scrape state, series, traces, logs and exemplars."""
    from mirante.observe import coverage

    rows = []
    for found in coverage.check_all(settings_mod.load()):

        def cell(signal: str, got: coverage.Coverage = found) -> str:
            s = got.get(signal)
            return (
                "-"
                if s is None
                else (s.detail if s.state != coverage.MISSING else f"MISSING: {s.detail}")
            )

        rows.append(
            (
                found.service.name,
                found.service.metrics,
                ", ".join(found.service.contract),
                cell("scraped"),
                cell("traces in Tempo"),
                cell("logs in Loki"),
                cell("exemplars"),
            )
        )
    table(
        "observed services (config/services.yaml)",
        ("service", "metrics", "contract", "scraped", "traces (5 min)", "logs (5 min)",
         "exemplars"),
        rows,
    )  # fmt: skip


@task(help={"name": "the observed service"}, positional=["name"])
@exits_cleanly
def check(c: Context, name: str) -> None:
    """Is this service observed? Each signal, and the fix for each that is missing."""
    from mirante.observe import coverage
    from mirante.observe import registry as observed

    config = settings_mod.load()
    found = coverage.check(config, observed.get(config, name))
    table(
        f"is {name} observed?",
        ("signal", "state", "found", "fix"),
        [(s.name, s.state, s.detail, s.fix) for s in found.signals],
    )
    if found.missing:
        raise Exit(
            f"error: {name}: {len(found.missing)} signal(s) missing: "
            + ", ".join(s.name for s in found.missing),
            code=1,
        )
    skipped = [s.name for s in found.signals if s.state == coverage.SKIPPED]
    print(f"{name} is observed" + (f" (not checked here: {', '.join(skipped)})" if skipped else ""))


namespace = Collection("service", add, remove, list_, check)
