"""The plans of ``invoke deploy.service|rollback|history NAME --env ENV``."""

from __future__ import annotations

import re
from collections.abc import Callable

from mirante.environments import Environment
from mirante.errors import (
    ManifestError,
)
from mirante.plans import Plan, Step
from mirante.remote.guard import authorise, guarded
from mirante.remote.steps import deployments, kube_plan, render_overlay, tools_of
from mirante.runner import Command
from mirante.settings import Settings

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


_REVISION = re.compile(r"^[1-9][0-9]{0,8}$")


def deployment_of(env: Environment, name: str) -> str:
    """The Deployment that runs service ``name`` in the environment's overlay."""
    known = deployments(render_overlay(env))
    if name not in known:
        raise ManifestError(
            f"unknown service {name!r} in {env.name}; the overlay deploys: {', '.join(known)}"
        )
    if name not in known[name]:
        raise ManifestError(f"deployment {name} has no container named {name}")
    return name


def image_for(env: Environment, name: str, tag: str) -> str:
    """The image reference of a service at a tag in an environment's registry."""
    if not _TAG.match(tag):
        raise ManifestError(f"invalid image tag {tag!r}: letters, digits, '_', '.', '-' (max 128)")
    image = f"mirante/{name}:{tag}"
    return f"{env.registry}/{image}" if env.registry else image


def deploy_plan(
    settings: Settings,
    env: Environment,
    name: str,
    tag: str,
    dry_run: bool,
    build: Callable[[str], str],
) -> Plan:
    """Build the image, tag and push it (when a registry is set), set it, wait for rollout."""
    ask = authorise(env, "change")
    image = image_for(env, name, tag)
    guard = guarded(env, dry_run)
    deployment = deployment_of(env, name)
    kubectl, _ = tools_of(env)
    scope = ("--namespace", env.app_namespace)
    steps = [Step(f"build the {name} image as {image}", action=lambda _: build(image))]
    notes = []
    if env.registry:
        steps.append(Step(f"push {image}", Command(("docker", "push", image))))
    else:
        notes.append(f"no registry for {env.name} in environments.yaml: {image} is not pushed")
    steps += [
        Step(
            "set the image",
            kubectl(*scope, "set", "image", f"deployment/{deployment}", f"{name}={image}"),
        ),
        Step(
            "record the change cause (shown by deploy.history)",
            kubectl(
                *scope,
                "annotate",
                f"deployment/{deployment}",
                "--overwrite",
                f"kubernetes.io/change-cause=mirante deploy.service {name} {tag}",
            ),
        ),
        Step(
            "rollout", kubectl.rollout_status(env.app_namespace, deployment, settings.k8s_timeout)
        ),
    ]
    return kube_plan(
        settings, f"deploy.service {name} ({env.name}, {tag})", env, guard, steps, notes, ask
    )


def rollback_plan(
    settings: Settings, env: Environment, name: str, revision: str, dry_run: bool
) -> Plan:
    """Roll back with kubectl rollout undo (to a revision, or the previous one), and wait."""
    ask = authorise(env, "change")
    if revision and not _REVISION.match(revision):
        raise ManifestError(f"invalid revision {revision!r}: a positive whole number")
    guard = guarded(env, dry_run)
    deployment = deployment_of(env, name)
    kubectl, _ = tools_of(env)
    to = [f"--to-revision={revision}"] if revision else []
    steps = [
        Step(
            f"roll back to {'revision ' + revision if revision else 'the previous revision'}",
            kubectl(
                "--namespace", env.app_namespace, "rollout", "undo", f"deployment/{deployment}", *to
            ),
        ),
        Step(
            "rollout", kubectl.rollout_status(env.app_namespace, deployment, settings.k8s_timeout)
        ),
    ]
    return kube_plan(settings, f"deploy.rollback {name} ({env.name})", env, guard, steps, ask=ask)


def history_plan(settings: Settings, env: Environment, name: str, dry_run: bool) -> Plan:
    """The plan of ``deploy.history``."""
    guard = guarded(env, dry_run)
    deployment = deployment_of(env, name)
    kubectl, _ = tools_of(env)
    step = Step(
        "revisions",
        kubectl("--namespace", env.app_namespace, "rollout", "history", f"deployment/{deployment}"),
    )
    return kube_plan(settings, f"deploy.history {name} ({env.name})", env, guard, [step])


def deploy_service_plan(
    settings: Settings, env: Environment, name: str, tag: str, dry_run: bool
) -> Plan:
    """:func:`deploy_plan` building the sample app's image from this checkout."""
    from mirante import images
    from mirante.tools.docker import client

    return deploy_plan(
        settings,
        env,
        name,
        tag,
        dry_run,
        build=lambda image: images.build_app_as(settings, client(settings), image),
    )
