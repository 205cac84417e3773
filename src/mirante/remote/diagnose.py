"""What kubectl's output says, in one line: object lists, stuck rollouts, helm's waits.

Pure functions over kubectl's text and JSON, so that each case (Pending with no node,
ImagePullBackOff, CrashLoopBackOff, a hook Job still running) has a unit test with the
output a real API server gives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# What `kubectl ... -o name` prints per object: kind[.group]/name.
_OBJECT_NAME = re.compile(r"^[a-z0-9]+(\.[a-z0-9.-]+)?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def object_names(listed: str) -> list[str]:
    """The objects of ``kubectl ... -o name`` output.

    Messages such as "No resources found" are not objects.
    """
    return [line.strip() for line in listed.splitlines() if _OBJECT_NAME.match(line.strip())]


def pod_state(pod: Mapping[str, Any]) -> str:
    """Why a pod is not ready, in a few words: its phase and its containers' reasons."""
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Unknown")
    reasons = []
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            message = str(waiting.get("message") or "").strip().splitlines()
            reasons.append(waiting["reason"] + (f" ({message[0][:160]})" if message else ""))
        elif terminated and terminated.get("reason"):
            reasons.append(f"{terminated['reason']} (exit code {terminated.get('exitCode')})")
    if phase == "Pending" and not reasons:
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                reasons.append(f"not scheduled: {str(condition.get('message', '')).strip()[:160]}")
    return phase + (f", {'; '.join(reasons)}" if reasons else "")


def last_events(events: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The last event of each involved object, by its name."""
    found: dict[str, tuple[str, str]] = {}
    for event in events:
        name = str((event.get("involvedObject") or {}).get("name", ""))
        when = str(event.get("lastTimestamp") or event.get("eventTime") or "")
        text = f"{event.get('reason', '')}: {str(event.get('message', '')).strip()[:160]}"
        if name and (name not in found or when >= found[name][0]):
            found[name] = (when, text)
    return {name: text for name, (_, text) in found.items()}


def rollout_stuck(
    deployment: Mapping[str, Any],
    pods: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
    rollback: str,
) -> str:
    """Why a rollout did not finish: ready and desired replicas, each unready pod's state.

    ``rollback`` is the command that undoes it, named at the end.
    """
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    latest = last_events(events)
    unready = []
    for pod in pods:
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            continue
        name = str((pod.get("metadata") or {}).get("name", "?"))
        event = f"; last event {latest[name]}" if name in latest else ""
        unready.append(f"{name} {pod_state(pod)}{event}")
    pods_text = (
        f": {' | '.join(unready)}"
        if unready
        else ": no pod is unready (the new ones were not created)"
    )
    return f"{ready}/{desired} ready, {updated} updated{pods_text}. To go back: {rollback}"


def helm_waited(
    jobs: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]], release: str
) -> str:
    """What helm was still waiting on: unfinished hook Jobs first, then unready pods."""
    waiting = []
    for job in jobs:
        status = job.get("status") or {}
        if not status.get("succeeded") and not status.get("completionTime"):
            meta = job.get("metadata") or {}
            hook = (meta.get("annotations") or {}).get("helm.sh/hook", "")
            kind = f"the {hook} hook Job" if hook else "the Job"
            waiting.append(f"{kind} {meta.get('name', '?')} (not complete)")
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase")
        conditions = (pod.get("status") or {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        if phase != "Succeeded" and not ready:
            waiting.append(f"pod {(pod.get('metadata') or {}).get('name', '?')} {pod_state(pod)}")
    if not waiting:
        return f"helm gave up on release {release}, but nothing is waiting any more: run it again"
    return (
        f"release {release} was waiting on "
        + " | ".join(waiting[:6])
        + (f" (and {len(waiting) - 6} more)" if len(waiting) > 6 else "")
    )


# What kubectl and helm print when the API server cannot be reached at all, or refuses
# the caller: neither is about the command that was run.
_UNREACHABLE = re.compile(
    r"Unable to connect to the server|dial tcp|i/o timeout|no such host|connection refused|"
    r"TLS handshake timeout|context deadline exceeded \(Client\.Timeout",
)
_UNAUTHORISED = re.compile(
    r"Unauthorized|You must be logged in to the server|provide credentials|"
    r"is forbidden: User \"[^\"]*\" cannot",
)


def api_problem(stderr: str) -> str:
    """``unreachable``, ``unauthorised`` or ``""``: why a command never reached the API."""
    if _UNREACHABLE.search(stderr):
        return "unreachable"
    if _UNAUTHORISED.search(stderr):
        return "unauthorised"
    return ""
