"""``backup.prune``: which sets a keep policy keeps, with the reason for each, then deletion.

A set is kept when it is among the newest ``keep_last`` sets, or younger than ``keep_days``,
or the newest verified set holding one of its services (the last good backup of a service is
never deleted). Only directories holding a mirante manifest are ever considered, and a
policy that on its own would keep nothing is refused.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mirante import backup
from mirante.errors import PolicyRefused
from mirante.files import fsync_dir
from mirante.settings import Settings


@dataclass
class Decision:
    """Whether one set is kept or pruned, and why."""

    backup_set: backup.BackupSet
    keep: bool
    reason: str


def decide(
    sets: Sequence[backup.BackupSet], keep_last: int, keep_days: float, now: datetime
) -> list[Decision]:
    """Keep or delete each set (oldest first), with the reason.

    Raises:
        PolicyRefused: when the policy alone keeps none of the sets.
    """
    ordered = sorted(sets, key=lambda s: s.name)
    newest_first = list(reversed(ordered))
    recent = {s.name for s in newest_first[:keep_last]}
    cutoff = now - timedelta(days=keep_days)
    young = {s.name for s in ordered if s.created_at >= cutoff}
    if ordered and not recent | young:
        raise PolicyRefused(
            f"keeping the newest {keep_last} and those younger than {keep_days:g} days would "
            f"delete all {len(ordered)} sets; keep at least one (e.g. --keep-last 1)"
        )
    last_good: dict[str, str] = {}
    for candidate in newest_first:
        if candidate.verified:
            for service in candidate.services:
                last_good.setdefault(service, candidate.name)
    decisions = []
    for candidate in ordered:
        rank = newest_first.index(candidate) + 1
        age = (now - candidate.created_at).total_seconds() / 86400
        protects = sorted(s for s, name in last_good.items() if name == candidate.name)
        if candidate.name in recent:
            decision = Decision(candidate, True, f"among the newest {keep_last} (#{rank})")
        elif candidate.name in young:
            decision = Decision(
                candidate, True, f"{age:.1f} days old, younger than {keep_days:g} days"
            )
        elif protects:
            decision = Decision(candidate, True, f"newest verified backup of {', '.join(protects)}")
        else:
            decision = Decision(
                candidate,
                False,
                f"#{rank} newest and {age:.1f} days old (keeping {keep_last}, {keep_days:g} days)",
            )
        decisions.append(decision)
    return decisions


def prune(
    settings: Settings,
    keep_last: int | None = None,
    keep_days: float | None = None,
    delete: bool = False,
    now: datetime | None = None,
) -> list[Decision]:
    """Decide under the backup lock; delete the sets to delete only when ``delete``.

    A set is deleted manifest first, so an interrupted deletion never leaves something that
    looks like a complete set.

    Raises:
        PolicyRefused, LockBusy.
    """
    last = settings.backup.keep_last if keep_last is None else keep_last
    days = settings.backup.keep_days if keep_days is None else keep_days
    if last < 0 or days < 0:
        raise PolicyRefused(
            f"--keep-last and --keep-days must be 0 or more (got {last:g} and {days:g})"
        )
    with backup.locked(settings):
        decisions = decide(backup.list_sets(settings), last, days, now or datetime.now(UTC))
        if delete:
            for decision in decisions:
                if not decision.keep:
                    path = decision.backup_set.path
                    (path / backup.MANIFEST).unlink()
                    fsync_dir(path)
                    shutil.rmtree(path)
            backup.write_metrics(settings)
    return decisions
