"""The catalogue of the stack's services: names, ports, URLs, scrape targets, image recipes.

This is the one table the stack, image and status code read; ``compose/docker-compose.yml``
defines the same service names (a unit test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mirante.errors import UnknownService
from mirante.settings import VARIABLES, Settings


@dataclass(frozen=True)
class Service:
    """One service of the stack.

    Attributes:
        name: the compose service name.
        port: key of ``Settings.ports`` for the URL a user opens.
        path: path appended to that URL (a UI page or the readiness endpoint).
        recipe: the ``images/`` recipe that builds it from Debian packages, if any.
        scrape: the Prometheus jobs it feeds, as (job, port inside the network).
        helpers: internal services it needs (started with it, never listed to users),
            each built from the ``images/`` recipe of its name.
        oneshots: one-shot services that stack.up runs before it, each where the service
            it works on runs (see ``ONESHOT_TARGETS``); compose profile ``oneshot``, never
            listed to users.
    """

    name: str
    port: str
    path: str
    recipe: str | None = None
    scrape: tuple[tuple[str, int], ...] = ()
    helpers: tuple[str, ...] = ()
    oneshots: tuple[str, ...] = ()

    def url(self, settings: Settings) -> str:
        """The URL a user opens for this service."""
        return self.endpoint(settings, self.path)

    def endpoint(self, settings: Settings, path: str) -> str:
        """``path`` on the service's published port, as this machine reaches it."""
        scheme = "postgresql" if self.name == "postgres" else "http"
        return f"{scheme}://{reachable_host(settings)}:{settings.ports[self.port]}{path}"


def reachable_host(settings: Settings) -> str:
    """Where this machine reaches what the stack publishes on ``MIRANTE_BIND``."""
    host = settings.bind if settings.bind not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    return f"[{host}]" if ":" in host else host


SERVICES: tuple[Service, ...] = (
    Service("prometheus", "prometheus", "/", recipe="prometheus"),
    Service("alertmanager", "alertmanager", "/", "alertmanager", (("alertmanager", 9093),)),
    Service("grafana", "grafana", "/", scrape=(("grafana", 3000),)),
    Service("loki", "loki", "/ready", scrape=(("loki", 3100),)),
    Service("tempo", "tempo", "/ready", scrape=(("tempo", 3200),), helpers=("healthprobe",)),
    Service(
        "otel-collector",
        "otlp-http",
        "/",
        scrape=(("otel-collector", 8888), ("otlp-metrics", 8889)),
        helpers=("healthprobe",),
    ),
    Service(
        "node-exporter", "node-exporter", "/metrics", "node-exporter", (("node-exporter", 9100),)
    ),
    Service("postgres", "postgres", "/", recipe="postgres"),
    # Scraped as an observed service (config/services.yaml), like any other one.
    Service("app", "app", "/healthcheck", "app", oneshots=("postgres-roles",)),
)
# Every job Prometheus discovers from a targets file (prometheus/prometheus.yml names them).
SCRAPE_JOBS = tuple(job for s in SERVICES for job, _ in s.scrape)

BY_NAME = {s.name: s for s in SERVICES}
NAMES = tuple(BY_NAME)

# Internal helper services, each built from the images/ recipe of the same name wherever
# the stack runs.
HELPERS = ("healthprobe",)
# Each one-shot (see ``Service.oneshots``), and the service whose image it runs and that it
# works on: the app's login role is made in Postgres, with Postgres's own psql.
ONESHOT_TARGETS = {"postgres-roles": "postgres"}
ONESHOTS = tuple(ONESHOT_TARGETS)
# Compose services that are not the stack's own (they exit once their work is done).
INTERNAL = HELPERS + ONESHOTS


def compose_names(services: Iterable[Service], running: Iterable[str] = ()) -> list[str]:
    """The compose services to name on ``compose up``.

    Each service, preceded by its one-shots whose target is started too or runs already
    (without it, the service starts alone: its dependency on the one-shot is optional).
    A one-shot is named only with the service that waits for it, so compose's ``--wait``
    sees it complete rather than exit.
    """
    services = list(services)
    present = {s.name for s in services} | set(running)
    names = []
    for service in services:
        names += [o for o in service.oneshots if ONESHOT_TARGETS[o] in present]
        names.append(service.name)
    return names


def select(names: Iterable[str] = ()) -> list[Service]:
    """The services named (all of them when none are), in catalogue order.

    Accepts names separated by commas, as ``--services a,b`` passes them.

    Raises:
        UnknownService: listing every unknown name and the known ones.
    """
    wanted = [n.strip() for item in names for n in item.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in BY_NAME]
    if unknown:
        raise UnknownService(unknown, NAMES)
    if not wanted:
        return list(SERVICES)
    return [s for s in SERVICES if s.name in wanted]


def port_variable(port_key: str) -> str:
    """The settings variable that sets one of the ``Settings.ports`` keys."""
    for variable in VARIABLES:
        if variable.path == ("ports", port_key):
            return variable.name
    raise KeyError(port_key)


EXTRA_PORTS = {"otel-collector": ("otlp-grpc",), "tempo": ("tempo-otlp",)}


def published_ports(service: Service) -> Sequence[str]:
    """Keys of every host port a service publishes (the collector and Tempo have two)."""
    return (*EXTRA_PORTS.get(service.name, ()), service.port)
