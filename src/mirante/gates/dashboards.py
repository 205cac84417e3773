"""Grafana dashboards as data: load them, list their queries, lint them.

Dashboards live in ``grafana/dashboards/<folder>/*.json``; datasources are provisioned
under fixed uids in ``grafana/provisioning/datasources/``. Panels must name their
datasource by uid (never by name) and carry at least one query. Every dashboard has an
``env`` variable, and every Prometheus query selects it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mirante import loader
from mirante.observe import promql

# Values that stand in for dashboard variables when a query is sent to Prometheus as is
# (the compose stack's series carry env="local").
VARIABLE_VALUES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$env": "local",
}
# Every Prometheus query selects the environment chosen in the dashboard's `env` variable:
# the compose stack's series carry env="local", each cluster's its own.
ENV_MATCHER = 'env=~"$env"'


@dataclass(frozen=True)
class Query:
    """One panel query of a dashboard, with where it is."""

    dashboard: str
    panel: str
    datasource: str  # datasource uid
    expr: str


def dashboard_files(root: Path) -> list[Path]:
    """The committed dashboard JSON files, sorted."""
    return sorted((root / "grafana" / "dashboards").rglob("*.json"))


def provisioned_uids(root: Path) -> dict[str, str]:
    """Datasource uid -> type, from the provisioning files."""
    uids: dict[str, str] = {}
    for path in sorted((root / "grafana" / "provisioning" / "datasources").glob("*.yml")):
        for source in loader.safe_load(path.read_text()).get("datasources", []):
            uids[source["uid"]] = source["type"]
    return uids


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included; rows themselves are not panels."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries(dashboard: dict[str, Any]) -> Iterator[Query]:
    """Every query of a dashboard's panels, with its panel and datasource uid."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            source = target.get("datasource") or panel.get("datasource") or {}
            uid = source.get("uid", "") if isinstance(source, dict) else ""
            yield Query(dashboard["title"], panel.get("title", ""), uid, target.get("expr", ""))


def concrete(expr: str, variables: dict[str, str]) -> str:
    """The query with Grafana's variables replaced, ready for the Prometheus API."""
    for name, value in {**VARIABLE_VALUES, **variables}.items():
        expr = expr.replace(name, value)
    return expr


def lint(root: Path) -> list[str]:
    """Problems found in the dashboards, one line each (empty when there are none)."""
    problems: list[str] = []
    known = provisioned_uids(root)
    uids: dict[str, Path] = {}
    titles: dict[str, Path] = {}
    for path in dashboard_files(root):
        name = path.relative_to(root).as_posix()
        try:
            dashboard = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            problems.append(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno})")
            continue
        for key, seen in (("uid", uids), ("title", titles)):
            value = dashboard.get(key)
            if not value:
                problems.append(f"{name}: has no {key}")
            elif value in seen:
                problems.append(f"{name}: {key} {value!r} is also used by {seen[value].name}")
            else:
                seen[value] = path
        for panel in panels(dashboard):
            title = panel.get("title", "(untitled)")
            targets = [t for t in panel.get("targets", []) if t.get("expr")]
            if not targets:
                problems.append(f"{name}: panel {title!r} has no query")
            for source in [
                panel.get("datasource"),
                *(t.get("datasource") for t in panel.get("targets", [])),
            ]:
                if source is None:
                    continue
                if not isinstance(source, dict) or source.get("uid") not in known:
                    problems.append(
                        f"{name}: panel {title!r} names datasource {source!r}; use one of the "
                        f"provisioned uids {sorted(known)}"
                    )
        variables = (dashboard.get("templating") or {}).get("list") or []
        if not any(v.get("name") == "env" for v in variables):
            problems.append(f"{name}: has no `env` variable (label_values(up, env))")
        for query in queries(dashboard):
            if known.get(query.datasource) != "prometheus":
                continue
            missing = [s for _, _, s, m in promql.selectors(query.expr) if ENV_MATCHER not in m]
            if missing:
                problems.append(
                    f"{name}: panel {query.panel!r} selects {', '.join(sorted(set(missing)))} "
                    f"without {ENV_MATCHER}"
                )
        text = path.read_text()
        if re.search(r'"datasource"\s*:\s*"', text):
            problems.append(f"{name}: a datasource is given by name; refer to it by uid")
    return problems
