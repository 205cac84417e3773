"""The plan of ``invoke staging.reset``: snapshot, preview, confirm, delete by label, reapply."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mirante.environments import Environment
from mirante.errors import (
    ManifestError,
    ProtectionRefused,
)
from mirante.plans import Plan, Step
from mirante.remote import diagnose
from mirante.remote.guard import authorise, exact_selector, guarded
from mirante.remote.steps import (
    apply_and_wait,
    crd_steps,
    kube_plan,
    relative,
    render_overlay,
    smoke_step,
    tools_of,
)
from mirante.settings import Settings


def reset_plan(
    settings: Settings,
    env: Environment,
    dry_run: bool,
    confirm: Callable[[list[str]], None],
    seed: Callable[[], str] | None,
    snapshot_db: Callable[[Path], str] | None,
) -> Plan:
    """Snapshot, preview (server-side dry run), confirm, delete by exact label, reapply, seed.

    Raises:
        ProtectionRefused: the environment forbids destructive tasks.
        ManifestError: no reset policy for this environment in environments.yaml.
    """
    authorise(env, "destructive")
    if env.reset is None:
        raise ManifestError(
            f"environments.yaml has no reset policy (reset.kinds, reset.max_objects) for {env.name}"
        )
    guard = guarded(env, dry_run)
    documents = render_overlay(env)
    kubectl, _ = tools_of(env)
    selector = exact_selector("env", env.name)
    kinds = ",".join(env.reset.kinds)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = settings.root / "artifacts" / "backups" / stamp
    scope = ("--namespace", env.app_namespace)
    limit = env.reset.max_objects

    def check_preview(listed: str) -> str:
        names = diagnose.object_names(listed)  # not "No resources found"
        if len(names) > limit:
            raise ProtectionRefused(
                f"the reset would delete {len(names)} objects, more than reset.max_objects "
                f"({limit}); nothing was deleted. Check what {selector} selects in "
                f"{env.app_namespace}"
            )
        confirm(names)
        return f"{len(names)} objects to delete: {', '.join(names) or 'none'}"

    steps = [
        *crd_steps(env, kubectl),
        Step(
            f"snapshot of the objects labelled {selector}",
            kubectl(*scope, "get", kinds, "--selector", selector, "-o", "yaml"),
            save_to=relative(settings, backup / f"{env.name}-objects.yaml"),
        ),
    ]
    if snapshot_db is not None:
        steps.append(
            Step(
                f"dump of the {env.name} database into {backup}",
                action=lambda _: snapshot_db(backup),
            )
        )
    steps += [
        Step(
            "preview: what the delete would remove (server-side dry run)",
            kubectl(
                *scope, "delete", kinds, "--selector", selector, "--dry-run=server", "-o", "name"
            ),
        ),
        Step(f"at most {limit} objects, then confirmation", action=check_preview),
        Step(
            f"delete the objects labelled {selector}",
            kubectl(
                *scope,
                "delete",
                kinds,
                "--selector",
                selector,
                "--wait=true",
                f"--timeout={settings.k8s_timeout:g}s",
            ),
        ),
    ]
    steps += apply_and_wait(settings, env, kubectl, documents)
    notes = [f"snapshot recorded under {backup.relative_to(settings.root)}/"]
    if snapshot_db is None:
        notes.append(f"no database URL for {env.name}: the database is neither dumped nor seeded")
    if seed is not None:
        steps.append(Step(f"seed the {env.name} database", action=lambda _: seed()))
    steps.append(smoke_step(settings, env))
    return kube_plan(settings, f"staging.reset ({env.name})", env, guard, steps, notes)


def staging_reset_plan(
    settings: Settings, env: Environment, dry_run: bool, confirm: Callable[[list[str]], None]
) -> Plan:
    """:func:`reset_plan`, with the staging database dumped first and seeded last.

    Only when ``STAGE_DATABASE_URL`` names that database.
    """
    from mirante.db import databases as db
    from mirante.db import seed

    if not settings.database_urls.get(env.name):
        return reset_plan(settings, env, dry_run, confirm, seed=None, snapshot_db=None)

    def dump(directory: Path) -> str:
        made = db.dump(settings, env.name, directory)
        return f"database dump {made.path} (sha256 {made.sha256[:16]})"

    def seed_env() -> str:
        report = seed.run_seed(settings, env.name)
        return ", ".join(f"{table}: {rows} rows" for table, rows in report.rows.items())

    return reset_plan(settings, env, dry_run, confirm, seed=seed_env, snapshot_db=dump)
