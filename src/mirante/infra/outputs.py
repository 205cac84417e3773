"""Terraform's outputs that the Kubernetes layer reads, kept under ``.mirante/infra/``.

``invoke infra.output ENV`` writes ``.mirante/infra/<env>.json``; the generated helm values
of that environment (Loki's and Tempo's buckets, region and IRSA roles) then come from it
instead of ``config/environments.yaml``: the two layers cannot drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mirante.errors import InfraError
from mirante.files import atomic_write

OUTPUTS_DIR = Path(".mirante") / "infra"
# What the Kubernetes layer reads; every environment's outputs.tf must declare them.
K8S_READS = (
    "region",
    "buckets",
    "irsa_role_arns",
    "cluster_name",
    "cluster_endpoint",
    "volumes_kms_key_arn",
)


def path(root: Path, env: str) -> Path:
    """Where ``env``'s outputs are kept."""
    return root / OUTPUTS_DIR / f"{env}.json"


def parse(text: str, env: str) -> dict[str, Any]:
    """``terraform output -json`` as {name: value}, with every output the k8s layer reads.

    Raises:
        InfraError: not JSON, or an output missing (the state has not been applied yet).
    """
    try:
        document = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise InfraError(f"{env}: terraform output is not JSON: {exc}") from None
    values = {name: (body or {}).get("value") for name, body in document.items()}
    missing = [name for name in K8S_READS if values.get(name) is None]
    if missing:
        raise InfraError(
            f"{env}: the state has no output {', '.join(missing)}: run `invoke infra.apply "
            f"{env}` first"
        )
    return values


def write(root: Path, env: str, values: dict[str, Any]) -> Path:
    """Keep ``env``'s outputs for the generated values; the file's path."""
    target = path(root, env)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, json.dumps(values, indent=2, sort_keys=True) + "\n")
    return target


def read(root: Path, env: str) -> dict[str, Any] | None:
    """``env``'s kept outputs, or None when ``infra.output`` has not written them.

    Raises:
        InfraError: the file is there but unreadable.
    """
    found = path(root, env)
    if not found.is_file():
        return None
    try:
        values: dict[str, Any] = json.loads(found.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InfraError(f"{found}: {exc}; run `invoke infra.output {env}` again") from None
    return values
