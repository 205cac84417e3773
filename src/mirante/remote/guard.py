"""The guard of every remote task: the kube context, the protection, the selectors.

Nothing talks to a cluster before :func:`guarded` passed: the kubeconfig's current context
must be the one ``config/environments.yaml`` names, pointing at its API server. The
environment's protection decides what needs a confirmation (:func:`authorise`), and a
label selector can only ever be an exact ``key=value`` (:func:`exact_selector`).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from mirante.environments import Environment
from mirante.errors import GuardRefused, ManifestError, ProtectionRefused
from mirante.plans import Guard
from mirante.tools.kube import Kubectl, run_kube, tool_version

Kind = Literal["read", "change", "destructive"]
_LABEL_PART = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def check_context(env: Environment, kubeconfig: dict[str, Any] | None = None) -> Guard:
    """Compare the kubeconfig (``kubectl config view``, local) with the environment.

    Refused when the current context is another one, or when the expected context points at
    another API server. ``unchecked`` when there is no current context at all (no
    kubeconfig): a dry run may still print its plan; a real run refuses.
    """
    if kubeconfig is None:
        kubeconfig = json.loads(run_kube(Kubectl.config_view(), timeout=30).stdout or "{}")
    current = kubeconfig.get("current-context") or ""
    contexts = {c["name"]: c.get("context") or {} for c in kubeconfig.get("contexts") or []}
    servers = {
        c["name"]: (c.get("cluster") or {}).get("server", "")
        for c in kubeconfig.get("clusters") or []
    }
    use = f"`kubectl config use-context {env.context}`"
    if not current:
        return Guard(
            "unchecked",
            f"no current kube context; {env.name} needs context {env.context!r} "
            f"({env.api_server}) in your kubeconfig, then {use}",
        )
    if current != env.context:
        return Guard(
            "refused",
            f"the current kube context is {current!r} but environments.yaml expects "
            f"{env.context!r} for {env.name}; run {use} if that is what you meant",
        )
    server = servers.get(contexts.get(current, {}).get("cluster", ""), "")
    if server.rstrip("/") != env.api_server.rstrip("/"):
        return Guard(
            "refused",
            f"context {current!r} points at {server or 'no server'} but environments.yaml "
            f"expects {env.api_server} for {env.name}; fix the kubeconfig or environments.yaml",
        )
    return Guard("ok", f"context {current!r} at {server}")


def guarded(env: Environment, dry_run: bool) -> Guard:
    """The guard, refusing at once unless it passed (or, for a dry run, is merely unchecked)."""
    tool_version("kubectl")
    guard = check_context(env)
    if guard.status == "refused" or (guard.status == "unchecked" and not dry_run):
        raise GuardRefused(guard.detail)
    return guard


def authorise(env: Environment, kind: Kind) -> bool:
    """Whether the task needs a confirmation in ``env``.

    Raises:
        ProtectionRefused: a destructive task in an environment with ``no-destructive``.
    """
    if kind == "read":
        return False
    if kind == "destructive":
        if env.protection == "no-destructive":
            raise ProtectionRefused(
                f"{env.name} is protected (no-destructive in environments.yaml): destructive "
                "tasks are refused there outright"
            )
        return True
    return env.protection != "none"


def exact_selector(key: str, value: str) -> str:
    """An equality selector ``key=value``; anything wider (empty, ``!=``, sets) is impossible.

    Raises:
        ManifestError: when either side is not a plain label key or value.
    """
    if not (_LABEL_PART.match(key) and _LABEL_PART.match(value)):
        raise ManifestError(
            f"refusing label selector {key!r}={value!r}: only an exact key=value match of "
            "plain label names is allowed"
        )
    return f"{key}={value}"
