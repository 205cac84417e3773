"""The plans of ``invoke k8s.install|diff|status|uninstall ENV`` and of the clusters' flags."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from mirante import loader
from mirante.environments import Environment
from mirante.plans import Plan, Step
from mirante.remote import diagnose, generated
from mirante.remote.generated import releases
from mirante.remote.guard import authorise, exact_selector, guarded
from mirante.remote.steps import (
    alerting_secret_steps,
    apply_and_wait,
    database_step,
    database_variable,
    flags_step,
    grafana_database_steps,
    grafana_secret_step,
    helm_failure,
    kube_plan,
    namespace_step,
    observed_notes,
    relative,
    render_overlay,
    smoke_step,
    storage_notes,
    tools_of,
    values_files,
    volume_steps,
)
from mirante.runner import Command
from mirante.settings import Settings
from mirante.tools import kube
from mirante.tools.kube import Helm, Kubectl


def install_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """Run helm upgrade --install of every release, then the app's overlay and its rollouts."""
    guard = guarded(env, dry_run)
    documents = render_overlay(env)
    kubectl, helm = tools_of(env)
    ns = env.observability_namespace
    volume_checks, storage_class = volume_steps(settings, env, kubectl)
    grafana_checks, grafana_database = grafana_database_steps(settings, env, kubectl)
    steps = [
        *volume_checks,  # checks first: nothing changes on a cluster that lacks them
        *grafana_checks,
        storage_class,
        namespace_step(kubectl, ns),
        grafana_secret_step(env, kubectl),
        *grafana_database,
        *alerting_secret_steps(env, kubectl),
    ]
    steps += [
        Step(
            f"helm release {r.name}",
            helm.upgrade_install(r, ns, values_files(settings, env, r), settings.k8s_timeout),
            on_failure=helm_failure(env, kubectl, r.name, settings.k8s_timeout),
        )
        for r in releases(settings, env)
    ]
    steps += [namespace_step(kubectl, env.app_namespace), flags_step(settings, env, kubectl)]
    database = database_step(settings, env, kubectl)
    notes = []
    if database is not None:
        steps.append(database)
    else:
        notes.append(
            f"no database URL for {env.name} ({database_variable(env.name)}): the app runs "
            "without a database and GET /catalog answers 503"
        )
    steps += apply_and_wait(settings, env, kubectl, documents)
    steps.append(smoke_step(settings, env))
    notes += storage_notes(settings, env) + observed_notes(settings, env)
    return kube_plan(
        settings, f"k8s.install {env.name}", env, guard, steps, notes, ask=authorise(env, "change")
    )


def flags_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """The app's flags ConfigMap refreshed from config/features.yaml (the pods reload it)."""
    guard = guarded(env, dry_run)
    kubectl, _ = tools_of(env)
    steps = [namespace_step(kubectl, env.app_namespace), flags_step(settings, env, kubectl)]
    return kube_plan(
        settings, f"flags of {env.name}", env, guard, steps, ask=authorise(env, "change")
    )


def diff_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """What install would change: helm template | kubectl diff, and kubectl diff -k."""
    guard = guarded(env, dry_run)
    documents = render_overlay(env)
    kubectl, _ = tools_of(env)
    ns = env.observability_namespace
    made = relative(settings, generated.write_storage_class(settings, env))
    steps = [
        Step(
            f"StorageClass {generated.STORAGE_CLASS} (cluster-wide)",
            kubectl("diff", "-f", str(made), ok_codes=(0, 1)),
        )
    ]
    for r in releases(settings, env):
        template = Helm.template(r, ns, values_files(settings, env, r))
        diff = Command(template.argv, kubectl("--namespace", ns, "diff", "-f", "-").argv, (0, 1))
        steps += diff_or_new(kubectl, ns, diff, functools.partial(_rendered, template))
    overlay = kubectl("diff", "-k", str(relative(settings, env.overlay)), ok_codes=(0, 1))
    steps += diff_or_new(kubectl, env.app_namespace, overlay, lambda: _names(documents))
    return kube_plan(
        settings, f"k8s.diff {env.name}", env, guard, steps, observed_notes(settings, env)
    )


def diff_or_new(
    kubectl: Kubectl, namespace: str, diff: Command, objects: Callable[[], list[str]]
) -> list[Step]:
    """``diff``, or every object listed as new where the namespace does not exist yet.

    ``kubectl diff`` fails on a fresh cluster (``namespaces "<ns>" not found``): exactly
    where "what would install change" matters most.
    """

    def run_diff(listed: str) -> str:
        if not diagnose.object_names(listed):
            made = objects()
            return f"namespace {namespace} does not exist: all {len(made)} objects are new\n" + (
                "\n".join(f"+ {name}" for name in made)
            )
        return kube.run_kube(diff).stdout or "no differences"

    return [
        Step(
            f"does namespace {namespace} exist",
            kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name"),
        ),
        Step(f"{diff.shown()}  (or every object as new, without the namespace)", action=run_diff),
    ]


def _rendered(template: Command) -> list[str]:
    return _names(d for d in loader.safe_load_all(kube.run_kube(template).stdout) if d)


def _names(documents: Iterable[dict[str, Any]]) -> list[str]:
    return [f"{d.get('kind', '?')}/{d.get('metadata', {}).get('name', '?')}" for d in documents]


def status_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """The plan of ``k8s.status``."""
    guard = guarded(env, dry_run)
    kubectl, helm = tools_of(env)
    steps = [
        Step(
            f"release {r.name}", helm("status", r.name, "--namespace", env.observability_namespace)
        )
        for r in releases(settings, env)
    ]
    steps.append(
        Step(
            "the app",
            kubectl(
                "--namespace",
                env.app_namespace,
                "get",
                "deployments,pods,services",
                "--selector",
                exact_selector("env", env.name),
                "-o",
                "wide",
            ),
        )
    )
    return kube_plan(settings, f"k8s.status {env.name}", env, guard, steps)


def uninstall_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """The app's overlay deleted, then every release uninstalled in reverse order."""
    ask = authorise(env, "destructive")
    guard = guarded(env, dry_run)
    render_overlay(env)
    kubectl, helm = tools_of(env)
    timeout = f"{settings.k8s_timeout:g}s"
    steps = [
        Step(
            "the app's overlay",
            kubectl(
                "delete",
                "-k",
                str(relative(settings, env.overlay)),
                "--ignore-not-found",
                "--wait=true",
                f"--timeout={timeout}",
            ),
        )
    ]
    steps += [
        Step(
            f"helm release {r.name}",
            helm(
                "uninstall",
                r.name,
                "--namespace",
                env.observability_namespace,
                "--wait",
                "--timeout",
                timeout,
            ),
        )
        for r in reversed(releases(settings, env))
    ]
    return kube_plan(settings, f"k8s.uninstall {env.name}", env, guard, steps, ask=ask)
