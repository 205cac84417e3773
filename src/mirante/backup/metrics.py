"""Backup age and size as metrics: a textfile node-exporter reads (BackupTooOld alerts on it)."""

from __future__ import annotations

from pathlib import Path

from mirante.backup.sets import list_sets
from mirante.settings import Settings

METRICS_FILE = "mirante_backup.prom"


def metrics_path(settings: Settings) -> Path:
    """Where node-exporter's textfile collector reads the backup metrics."""
    return settings.state_dir / "textfile" / METRICS_FILE


def write_metrics(settings: Settings) -> Path:
    """Per service: time, duration and size of its newest backup; the number of sets.

    The label is ``component``: node-exporter's scrape target already carries ``service``.

    Derived from the sets on disk, so create and prune both simply rewrite it. The file is
    written atomically (the client writes a temporary file and renames it).
    """
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    last = Gauge(
        "mirante_backup_last_success_timestamp_seconds",
        "Unix time of the newest complete backup set holding the service.",
        ["component"],
        registry=registry,
    )
    duration = Gauge(
        "mirante_backup_duration_seconds",
        "Seconds the service's part of its newest backup took.",
        ["component"],
        registry=registry,
    )
    size = Gauge(
        "mirante_backup_size_bytes",
        "Bytes of the service's archives in its newest backup set.",
        ["component"],
        registry=registry,
    )
    verified = Gauge(
        "mirante_backup_verified",
        "1 when the service's newest set passed backup.verify, 0 when it failed, -1 not yet.",
        ["component"],
        registry=registry,
    )
    count = Gauge("mirante_backup_sets", "Complete backup sets on disk.", registry=registry)
    sets = list_sets(settings)
    count.set(len(sets))
    done: set[str] = set()
    for backup_set in reversed(sets):
        for service in backup_set.services:
            if service in done:
                continue
            done.add(service)
            archives = [a for a in backup_set.archives if a.service == service]
            last.labels(service).set(backup_set.created_at.timestamp())
            duration.labels(service).set(max(a.seconds for a in archives))
            size.labels(service).set(sum(a.size for a in archives))
            verified.labels(service).set(
                -1 if backup_set.verified is None else int(backup_set.verified)
            )
    path = metrics_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    path.chmod(0o644)  # read by node-exporter's user inside its container
    return path
