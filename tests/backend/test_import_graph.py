"""The shape of our code: no import cycle between any two of our modules (imports inside
functions count: grimp reads them all), no private name imported from another module of ours,
and no module over 700 lines. import-linter (pyproject.toml) keeps the stages in order."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("backend", "gui", "installer")
LONGEST = 700


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module: each one is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph(*packages: str) -> dict[str, set[str]]:
    built = grimp.build_graph(*packages)
    return {
        module: {m for m in built.find_modules_directly_imported_by(module) if m in built.modules}
        for module in built.modules
    }


def test_the_cycle_finder_finds_a_cycle_through_an_import_inside_a_function(tmp_path, monkeypatch):
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import cyclic.b\n")
    (package / "b.py").write_text("def later():\n    from cyclic import a\n")
    (package / "c.py").write_text("import cyclic.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert strongly_connected(import_graph("cyclic")) == [["cyclic.a", "cyclic.b"]]


def test_no_import_cycles():
    assert strongly_connected(import_graph(*PACKAGES)) == []


def our_files():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_no_private_name_is_imported_from_another_module():
    found = []
    for path in our_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] not in PACKAGES:
                    continue
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{path.relative_to(ROOT)}: {node.module}.{alias.name}")
    assert found == []


def test_no_module_is_over_700_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in our_files()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > LONGEST
    }
    assert long == {}


def test_the_command_line_loads_no_torch_before_it_needs_it():
    """Bad input and offline answers come in well under a second: importing the command line
    loads neither torch nor diffusers (each costs seconds); a job loads them when it runs."""
    import subprocess
    import sys

    code = ("import sys, backend.cli.commands; "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_every_package_is_installed():
    """A package missing from pyproject's list works in a checkout and fails in an install (the
    launcher's: "No module named backend.families")."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
                 ["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts)
             for top in ("backend", "gui") for init in (ROOT / top).rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)
