"""`invoke backup`: back the stack's data up, list and verify the sets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante import settings as settings_mod

if TYPE_CHECKING:
    from mirante.backup import restore as restore_mod

from mirante.files import human_size as size
from mirante.tasks._cli import (
    confirm,
    exits_cleanly,
    load_settings,
    show_notes,
    split_names,
    table,
    tell,
)


@task(
    default=True,
    help={
        "services": "comma-separated services (default: every stateful service with a volume)",
        "dest": "backup directory (default: MIRANTE_BACKUP_DIR)",
    },
    iterable=["services"],
)
@exits_cleanly
def create(c: Context, services: list[str] | None = None, dest: str = "") -> None:
    """Back up the stack's data into a new set."""
    from mirante import backup

    # --dest is MIRANTE_BACKUP_DIR for this run (from where the command runs, as paths are).
    config = load_settings(
        {"MIRANTE_BACKUP_DIR": ("dest", str(Path(dest).absolute()) if dest else "")}
    )
    made = backup.create(config, split_names(services or []), elsewhere=bool(dest), waiting=tell)
    table(
        f"backup set {made.name} ({made.seconds:.1f} s)",
        ("service", "method", "file", "size", "sha256"),
        [(a.service, a.method, a.file, size(a.size), a.sha256[:16]) for a in made.archives],
    )
    show_notes(config, made.notes)
    print(f"written to {made.path}")


@task(name="list")
@exits_cleanly
def list_(c: Context) -> None:
    """List the backup sets: date, services, size, verified."""
    from mirante import backup

    sets, damaged = backup.scan(settings_mod.load())
    if not sets and not damaged:
        print("no backup sets yet; `invoke backup` makes one")
        return
    verified = {True: "yes", False: "NO (failed)", None: "not yet"}
    rows = [(s.name, ", ".join(s.services), size(s.size), verified[s.verified]) for s in sets]
    rows += [(d.name, "-", "-", f"DAMAGED: {d.reason}") for d in damaged]
    table("backup sets", ("set", "services", "size", "verified"), sorted(rows))
    if damaged:
        print(
            f"{len(damaged)} damaged set(s) are never verified, restored or pruned; "
            "look at them and remove them by hand when they are not needed"
        )


@task(help={"name": "the set to verify, or `latest`"}, positional=["name"])
@exits_cleanly
def verify(c: Context, name: str) -> None:
    """Re-read every archive of a set and check its sha256 and zstd checksums."""
    from mirante import backup

    checked, checks = backup.verify(settings_mod.load(), "" if name == "latest" else name)
    table(
        f"verify {checked.name}",
        ("file", "result", "detail"),
        [(k.file, "ok" if k.ok else "FAILED", k.detail) for k in checks],
    )
    bad = [k for k in checks if not k.ok]
    if bad:
        raise Exit(
            f"error: {checked.name}: {len(bad)} file(s) failed verification: "
            + ", ".join(k.file for k in bad),
            code=1,
        )


@task(
    help={
        "name": "the set to restore, or `latest`",
        "services": "comma-separated services to restore (default: every service in the set)",
        "yes": "do not ask for confirmation",
        "dry_run": "verify the set and print the plan, change nothing",
    },
    positional=["name"],
    iterable=["services"],
)
@exits_cleanly
def restore(
    c: Context,
    name: str,
    services: list[str] | None = None,
    yes: bool = False,
    dry_run: bool = False,
) -> None:
    """Restore a verified set: into fresh storage first, then swapped in."""
    from mirante.backup import restore as restore_mod

    def show_and_ask(plan: restore_mod.RestorePlan) -> None:
        _show_plan(plan)
        confirm(
            f"Replace the current data of {', '.join(sorted({s.service for s in plan.steps}))} "
            f"with set {plan.backup_set.name}?",
            yes,
        )

    config = settings_mod.load()
    done = restore_mod.restore(
        config,
        "" if name == "latest" else name,
        split_names(services or []),
        dry_run=dry_run,
        confirm=show_and_ask,
        waiting=tell,
    )
    if dry_run:
        _show_plan(done)
        print("dry run: the set verified; nothing was changed")
        return
    restored = ", ".join(sorted({s.service for s in done.steps}))
    show_notes(config, done.notes)
    print(f"restored {restored} from {done.backup_set.name}")


def _show_plan(plan: restore_mod.RestorePlan) -> None:
    table(
        f"restore plan for set {plan.backup_set.name} (verified)",
        ("service", "archive", "steps"),
        [(s.service, s.archive, "; ".join(s.actions)) for s in plan.steps],
    )


@task(
    help={
        "keep_last": "keep the newest N sets (default: MIRANTE_BACKUP_KEEP_LAST)",
        "keep_days": "keep sets younger than D days (default: MIRANTE_BACKUP_KEEP_DAYS)",
        "yes": "delete; without it prune only lists what it would do",
    }
)
@exits_cleanly
def prune(c: Context, keep_last: str = "", keep_days: str = "", yes: bool = False) -> None:
    """List which sets a keep policy keeps and why; delete the others with --yes."""
    from mirante.backup import retention

    config = load_settings(
        {
            "MIRANTE_BACKUP_KEEP_LAST": ("keep-last", keep_last),
            "MIRANTE_BACKUP_KEEP_DAYS": ("keep-days", keep_days),
        }
    )
    decisions = retention.prune(config, delete=yes)
    if not decisions:
        print("no backup sets; nothing to prune")
        return
    table(
        "backup.prune" + ("" if yes else " (dry run)"),
        ("set", "size", "decision", "reason"),
        [
            (
                d.backup_set.name,
                size(d.backup_set.size),
                "keep" if d.keep else ("deleted" if yes else "delete"),
                d.reason,
            )
            for d in decisions
        ],
    )
    gone = [d for d in decisions if not d.keep]
    freed = size(sum(d.backup_set.size for d in gone))
    if yes:
        print(f"deleted {len(gone)} set(s), {freed}")
    else:
        print(f"would delete {len(gone)} set(s), {freed}; run with --yes to delete them")


namespace = Collection("backup", create, list_, verify, restore, prune)
