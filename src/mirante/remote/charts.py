"""What the pinned kube-prometheus-stack brings of its own rules, read once from the chart.

The chart ships about 60 recording rules and 130 alerts (``defaultRules``). Some of them
record or alert on what mirante's own rules already do: a recording rule under the same
name with another formula draws two lines per node, and an alert on the same metric under
another name notifies twice. The charts cannot be fetched where the gates run, so the
facts are kept in ``k8s/helm/chart-rules.yaml`` (each name, its group, severity and the
metrics it reads), made by :func:`facts_of` from the chart rendered with its defaults;
``tests/k8s/test_render.py`` checks the file against the real chart and prints it anew when
the pin moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mirante import loader
from mirante.errors import ManifestError
from mirante.observe import promql

FACTS_FILE = Path("k8s") / "helm" / "chart-rules.yaml"
CHART = "kube-prometheus-stack"


@dataclass(frozen=True)
class ChartAlert:
    """One alert name of the chart: its group, severities and the metrics it reads."""

    name: str
    group: str
    severities: tuple[str, ...]
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class ChartRules:
    """The chart's rules at one version, and the alerts mirante keeps beside its own."""

    version: str
    records: Mapping[str, str]  # record name -> its group
    alerts: Mapping[str, ChartAlert]
    # A chart alert that reads a metric mirante's rules read too, kept on purpose: why.
    kept: Mapping[str, str] = field(default_factory=dict)


def facts_of(documents: Iterable[Mapping[str, Any]], version: str) -> dict[str, Any]:
    """The facts file's content, from the chart rendered with its default values."""
    records: dict[str, str] = {}
    alerts: dict[str, dict[str, Any]] = {}
    for doc in documents:
        if doc.get("kind") != "PrometheusRule":
            continue
        for group in (doc.get("spec") or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                if "record" in rule:
                    records[str(rule["record"])] = str(group["name"])
                    continue
                entry = alerts.setdefault(
                    str(rule["alert"]),
                    {"group": str(group["name"]), "severities": [], "metrics": []},
                )
                severity = str((rule.get("labels") or {}).get("severity", "none"))
                if severity not in entry["severities"]:
                    entry["severities"].append(severity)
                names = set(entry["metrics"]) | promql.metric_names(str(rule["expr"]))
                entry["metrics"] = sorted(names)
    return {
        "chart": CHART,
        "version": version,
        "records": dict(sorted(records.items())),
        "alerts": dict(sorted(alerts.items())),
    }


def load(root: Path) -> ChartRules:
    """The committed facts (``k8s/helm/chart-rules.yaml``).

    Raises:
        ManifestError: the file is missing or not of the expected shape.
    """
    path = root / FACTS_FILE
    try:
        document = loader.safe_load(path.read_text())
        alerts = {
            str(name): ChartAlert(
                str(name),
                str(body["group"]),
                tuple(str(s) for s in body["severities"]),
                tuple(str(m) for m in body["metrics"]),
            )
            for name, body in document["alerts"].items()
        }
        return ChartRules(
            version=str(document["version"]),
            records={str(k): str(v) for k, v in document["records"].items()},
            alerts=alerts,
            kept={str(k): str(v) for k, v in (document.get("kept_beside_mirante") or {}).items()},
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"cannot read {FACTS_FILE}: {exc}") from None
