"""The layer rule, read from the imports: tasks -> domain -> tool wrappers -> ground.

A module may import its own layer and the layers below it, never one above. Imports
inside functions count too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "mirante"
GROUND = {
    "settings", "errors", "files", "waits", "expand", "loader", "runner", "environments",
    "infra.outputs",
}  # fmt: skip
TOOL_WRAPPERS = {"docker", "promtools", "remote.kube", "infra.terraform"}
LAYERS = {"ground": 0, "tool wrappers": 1, "domain": 2, "tasks": 3}


def layer_of(module: str) -> str:
    """``mirante.x.y`` -> its layer name."""
    name = module.removeprefix("mirante.")
    if name == "tasks" or name.startswith("tasks."):
        return "tasks"
    if name in GROUND:
        return "ground"
    if name in TOOL_WRAPPERS:
        return "tool wrappers"
    return "domain"


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every mirante import in a file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mirante"):
            if node.module == "mirante":
                found += [(node.lineno, f"mirante.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "invoke":
            found.append((node.lineno, "invoke"))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name)
                for a in node.names
                if a.name.startswith("mirante.") or a.name.split(".")[0] == "invoke"
            ]
    return found


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    own = layer_of(module_name(path))
    upward = []
    for line, module in imported(path):
        if module == "invoke" or module.startswith("invoke."):
            if own != "tasks":
                upward.append(f"line {line}: invoke (only the task layer uses invoke)")
            continue
        if LAYERS[layer_of(module)] > LAYERS[own]:
            upward.append(f"line {line}: {module} ({layer_of(module)})")
    assert upward == [], f"{module_name(path)} ({own}) imports upward: {upward}"


def test_the_rule_sees_a_lazy_import_and_invoke(tmp_path: Path) -> None:
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(
        "from mirante.errors import ToolError\n"
        "def fallback():\n"
        "    from mirante import images, services\n"
        "    from invoke.exceptions import Exit\n"
    )
    assert imported(wrapper) == [
        (1, "mirante.errors"),
        (3, "mirante.images"),
        (3, "mirante.services"),
        (4, "invoke"),
    ]
    assert [layer_of(m) for _, m in imported(wrapper)[:3]] == ["ground", "domain", "domain"]
    assert layer_of("mirante.tasks.stack") == "tasks"
    assert layer_of("mirante.gates.static") == "domain"
    assert layer_of("mirante.remote.kube") == "tool wrappers"
    assert layer_of("mirante.environments") == "ground"
    assert layer_of("mirante.remote.k8s") == "domain"
