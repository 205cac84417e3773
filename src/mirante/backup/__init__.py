"""Backups of the stack's data: one set per run, consistent per service, verifiable.

A set is a directory under the backup directory named by its UTC start time. While it is
written it is ``<name>.partial``; it gets its final name only once every archive and the
``manifest.json`` are on disk (fsynced), so a failure or a kill at any step leaves no
final-named set. Per service:

- Prometheus: a TSDB snapshot through the admin API, archived, then deleted;
- Postgres: ``pg_dump -Fc`` of each database (checked with ``pg_restore --list``) and
  ``pg_dumpall --globals-only``;
- Alertmanager, Grafana, Loki, Tempo: stopped while their volume is archived, started again
  afterwards even when archiving fails.

Volume archives are tar + multi-threaded zstd, made by a helper container next to the
volume. Files are mode 0600. One file lock serialises create / restore / prune.

The package: ``sets`` (the model, manifest, listing, lock), ``create``, ``verify``,
``metrics``, ``restore`` and ``retention`` (import those two as modules); ``volumes``
(the helper container and the swap scripts) and ``journal`` (what an interrupted backup
or restore left, and its repair), on which create and restore depend.
"""

from __future__ import annotations

from mirante.backup.create import create
from mirante.backup.metrics import metrics_path, write_metrics
from mirante.backup.sets import (
    BACKED_UP,
    LOCK,
    MANIFEST,
    SET_NAME,
    STOPPED_WHILE_ARCHIVED,
    VERIFIED,
    Archive,
    BackupSet,
    Damaged,
    DamagedSet,
    archive_path,
    list_sets,
    locked,
    parse_manifest,
    read_set,
    resolve_set,
    scan,
    volume_name,
    wanted_services,
)
from mirante.backup.verify import ArchiveCheck, verify
from mirante.backup.volumes import helper

__all__ = [
    "BACKED_UP",
    "LOCK",
    "MANIFEST",
    "SET_NAME",
    "STOPPED_WHILE_ARCHIVED",
    "VERIFIED",
    "Archive",
    "ArchiveCheck",
    "BackupSet",
    "Damaged",
    "DamagedSet",
    "archive_path",
    "create",
    "helper",
    "list_sets",
    "locked",
    "metrics_path",
    "parse_manifest",
    "read_set",
    "resolve_set",
    "scan",
    "verify",
    "volume_name",
    "wanted_services",
    "write_metrics",
]
