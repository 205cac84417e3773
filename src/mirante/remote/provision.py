"""The plan of ``invoke provision --profile k8s``: the dev overlay on its cluster."""

from __future__ import annotations

from mirante.environments import Environment
from mirante.plans import Plan
from mirante.remote.guard import authorise, guarded
from mirante.remote.steps import apply_and_wait, crd_steps, kube_plan, render_overlay, tools_of
from mirante.settings import Settings


def provision_k8s_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """The dev overlay applied and waited on (after rendering and checking it)."""
    guard = guarded(env, dry_run)
    documents = render_overlay(env)
    kubectl, _ = tools_of(env)
    steps = [*crd_steps(env, kubectl), *apply_and_wait(settings, env, kubectl, documents)]
    ask = authorise(env, "change")
    return kube_plan(settings, f"provision --profile k8s ({env.name})", env, guard, steps, ask=ask)
