"""The project's own files agree with each other: the linters' pins, the layout the README draws."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.helpers import REPO

SRC = REPO / "src" / "mirante"


def test_nox_and_pre_commit_run_the_same_pinned_ruff() -> None:
    lint = tomllib.loads((REPO / "pyproject.toml").read_text())["dependency-groups"]["lint"]
    (pin,) = [r for r in lint if r.startswith("ruff")]
    hooks = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"]
    (ruff,) = [h for h in hooks if h["repo"].endswith("/ruff-pre-commit")]
    assert pin == f"ruff=={ruff['rev'].removeprefix('v')}"
    assert re.search(r'^nox\.needs_version = "', (REPO / "noxfile.py").read_text(), re.M)


def test_the_readme_layout_names_every_package_and_module() -> None:
    """Each package and each top-level module of src/mirante is in the README's Layout."""
    layout = (REPO / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    packages = sorted(p.parent.name for p in SRC.glob("*/__init__.py"))
    modules = sorted(p.stem for p in SRC.glob("*.py") if p.stem != "__init__")
    absent = [f"{n}/" for n in packages if f"{n}/" not in layout]
    absent += [n for n in modules if not re.search(rf"\b{n}\b", layout)]
    for package in packages:
        for module in sorted((SRC / package).glob("*.py")):
            if module.stem != "__init__" and not re.search(rf"\b{module.stem}\b", layout):
                absent.append(f"{package}/{module.stem}")
    assert absent == []


def test_each_package_docstring_names_its_modules() -> None:
    """A package's docstring, where it lists its modules, lists all of them."""
    stale = []
    for init in sorted(SRC.glob("*/__init__.py")):
        doc = init.read_text().split('"""')[1] if init.read_text().startswith('"""') else ""
        listed = set(re.findall(r"^- ``(\w+)``", doc, re.M))
        if not listed:
            continue
        present = {p.stem for p in init.parent.glob("*.py") if p.stem != "__init__"}
        if listed != present:
            stale.append(f"{init.parent.name}: lists {sorted(listed)}, has {sorted(present)}")
    assert stale == []
