"""`invoke backup`: back the stack's data up, list and verify the sets."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from mirante import settings as settings_mod
from mirante.tasks._cli import exits_cleanly, split_names, table


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


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

    made = backup.create(
        settings_mod.load(), split_names(services or []), Path(dest) if dest else None
    )
    table(
        f"backup set {made.name} ({made.seconds:.1f} s)",
        ("service", "method", "file", "size", "sha256"),
        [(a.service, a.method, a.file, _size(a.size), a.sha256[:16]) for a in made.archives],
    )
    print(f"written to {made.path}")


@task(name="list")
@exits_cleanly
def list_(c: Context) -> None:
    """List the backup sets: date, services, size, verified."""
    from mirante import backup

    sets = backup.list_sets(settings_mod.load())
    if not sets:
        print("no backup sets yet; `invoke backup` makes one")
        return
    verified = {True: "yes", False: "NO (failed)", None: "not yet"}
    table(
        "backup sets",
        ("set", "services", "size", "verified"),
        [(s.name, ", ".join(s.services), _size(s.size), verified[s.verified]) for s in sets],
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


namespace = Collection("backup", create, list_, verify)
