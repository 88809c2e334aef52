"""Every package the program imports is declared in pyproject.toml, so a fresh install has it
(psutil was once imported but arrived only through accelerate)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]
OURS = {"backend", "gui", "main", "installer"}


def imported_modules() -> dict[str, str]:
    """Top-level module name -> first file importing it, for backend/, gui/ and main.py."""
    found: dict[str, str] = {}
    files = [ROOT / "main.py", *sorted((ROOT / "backend").rglob("*.py")), *sorted((ROOT / "gui").rglob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def declared() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names = set()
    requirements = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        requirements += extra  # a feature's extra (e.g. build tools) declares its imports too
    for requirement in requirements:
        names.add(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_every_imported_package_is_declared():
    stdlib = set(sys.stdlib_module_names)
    distributions = importlib.metadata.packages_distributions()
    wanted = declared()
    missing = []
    for module, where in sorted(imported_modules().items()):
        if module in stdlib or module in OURS or module == "__future__":
            continue
        owners = {d.lower().replace("_", "-") for d in distributions.get(module, [])}
        if not owners & wanted:
            missing.append(f"{module} (imported in {where}; from {sorted(owners) or 'nothing installed'})")
    assert not missing, "imported but not declared in pyproject.toml: " + ", ".join(missing)
