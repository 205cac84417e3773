"""The import graph, read from the source: layers from the tree, no cycle, no private name.

The layer of a module is where it lives:

- a module at the top of ``mirante/`` is ground (settings, errors, files, waits, loader,
  environments, services (what compose defines), the runner, the plan engine);
- ``mirante/tools/`` holds the tool wrappers (docker, kubectl and helm, terraform, promtool);
- ``mirante/tasks/`` is the task layer, the only one that uses invoke;
- every other package is a domain topic (stack, images, backup, db, gates, ...).

A module may import its own layer and the layers below it, never one above. Imports
inside functions count too (a lazy import is still a dependency). No module imports one
that imports it back, however long the way round (importing ``a.b`` runs package ``a``
first, so that counts as importing ``a``); and none reaches for another module's
private (``_``) names. Only :mod:`mirante.runner` starts programs (tests/unit/test_runner.py).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO, parsed

SRC = REPO / "src" / "mirante"
LAYERS = {"ground": 0, "tool wrappers": 1, "domain": 2, "tasks": 3}


def module_name(path: Path, src: Path = SRC) -> str:
    rel = path.relative_to(src.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str, src: Path = SRC) -> str:
    """``mirante.x.y`` -> its layer, from where its file is."""
    parts = module.split(".")[1:]
    if not parts or (len(parts) == 1 and (src / f"{parts[0]}.py").is_file()):
        return "ground"
    return {"tasks": "tasks", "tools": "tool wrappers"}.get(parts[0], "domain")


def modules(src: Path = SRC) -> dict[str, Path]:
    return {module_name(p, src): p for p in sorted(src.rglob("*.py"))}


@functools.cache
def _raw_imports(path: Path) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    """(line, module, names) of every ``from mirante...``, ``import mirante...`` or invoke."""
    found = []
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if root == "invoke":
                found.append((node.lineno, "invoke", ()))
            elif root == "mirante":
                found.append((node.lineno, node.module, tuple(a.name for a in node.names)))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in ("mirante", "invoke"):
                    found.append((node.lineno, "invoke" if root == "invoke" else alias.name, ()))
    return tuple(found)


def imports(path: Path, known: dict[str, Path]) -> Iterator[tuple[int, str, str]]:
    """(line, module, name) of every mirante import of a file, at any depth.

    ``from mirante.a import b`` is module ``mirante.a.b`` when that is a module, else
    module ``mirante.a`` and name ``b``; invoke counts as the module ``invoke``.
    """
    for line, module, names in _raw_imports(path):
        if not names:
            yield line, module, ""
        for name in names:
            full = f"{module}.{name}"
            yield (line, full, "") if full in known else (line, module, name)


def graph(src: Path = SRC) -> dict[str, set[str]]:
    """Each module and the mirante modules importing it runs.

    Importing ``mirante.a.b`` runs ``mirante/a/__init__.py`` first: a module depends on
    the packages above what it imports too, except on the packages it is itself inside.
    """
    known = modules(src)
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        found = set()
        for _, module, _ in imports(path, known):
            parts = module.split(".")
            for end in range(2, len(parts) + 1):
                above = ".".join(parts[:end])
                if above in known and not name.startswith(above + "."):
                    found.add(above)
        edges[name] = found - {name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def private_uses(path: Path, known: dict[str, Path]) -> list[str]:
    """``from mirante.x import _y`` and ``x._y`` for an imported mirante module ``x``."""
    said = [f"line {line}: {m}.{n}" for line, m, n in imports(path, known) if n.startswith("_")]
    aliases: dict[str, str] = {}
    tree = parsed(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mirante"):
            for alias in node.names:
                if f"{node.module}.{alias.name}" in known:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            said.append(f"line {node.lineno}: {aliases[node.value.id]}.{node.attr}")
    return said


MODULES = modules()


@pytest.mark.parametrize("path", MODULES.values(), ids=list(MODULES))
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    own = layer_of(module_name(path))
    upward = []
    for line, module, _ in imports(path, MODULES):
        if module == "invoke":
            if own != "tasks":
                upward.append(f"line {line}: invoke (only the task layer uses invoke)")
        elif LAYERS[layer_of(module)] > LAYERS[own]:
            upward.append(f"line {line}: {module} ({layer_of(module)})")
    assert upward == [], f"{module_name(path)} ({own}) imports upward: {upward}"


def test_the_top_level_holds_only_ground_and_shared_pieces() -> None:
    top = sorted(p.stem for p in SRC.glob("*.py") if p.stem != "__init__")
    assert top == [
        "environments", "errors", "files", "loader", "plans", "runner", "services", "settings",
        "waits",
    ]  # fmt: skip


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_no_module_imports_another_modules_private_name() -> None:
    found = {name: said for name, path in MODULES.items() if (said := private_uses(path, MODULES))}
    assert found == {}


def test_the_rules_see_lazy_imports_cycles_and_private_names(tmp_path: Path) -> None:
    """Each rule finds what it is for, in a small tree made here."""
    src = tmp_path / "mirante"
    (src / "tools").mkdir(parents=True)
    (src / "stack").mkdir()
    for init in (src, src / "tools", src / "stack"):
        (init / "__init__.py").write_text("")
    (src / "errors.py").write_text("")
    (src / "tools" / "docker.py").write_text(
        "from mirante.errors import ToolError\n"
        "def fallback():\n"
        "    from mirante import stack\n"
        "    from invoke.exceptions import Exit\n"
    )
    (src / "stack" / "up.py").write_text(
        "from mirante.tools import docker\nfrom mirante.stack.down import _secret\n"
    )
    (src / "stack" / "down.py").write_text(
        "from mirante.stack import up\n_secret = 1\ndef f():\n    return up._hidden\n"
    )
    (src / "images").mkdir()
    (src / "images" / "__init__.py").write_text("from mirante.stack import catalog\n")
    (src / "stack" / "catalog.py").write_text("")
    (src / "stack" / "__init__.py").write_text("from mirante import images\n")
    known = modules(src)
    seen = list(imports(src / "tools" / "docker.py", known))
    assert seen == [(1, "mirante.errors", "ToolError"), (3, "mirante.stack", ""), (4, "invoke", "")]
    assert [layer_of(m, src) for m in ("mirante.errors", "mirante.tools.docker")] == [
        "ground", "tool wrappers"
    ]  # fmt: skip
    assert layer_of("mirante.stack.up", src) == "domain"
    assert layer_of("mirante.tasks.stack", src) == "tasks"
    assert cycles(graph(src)) == [
        ["mirante.images", "mirante.stack"],  # images imports stack.catalog: stack runs first
        ["mirante.stack.down", "mirante.stack.up"],
    ]
    assert private_uses(src / "stack" / "up.py", known) == ["line 2: mirante.stack.down._secret"]
    assert private_uses(src / "stack" / "down.py", known) == ["line 4: mirante.stack.up._hidden"]
