"""No attribute of our Qt classes hides a Qt method: `self.size = QComboBox()` on a dialog makes
`dialog.size()` fail, and Qt's own code that calls it from Python breaks in odd places."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

from PySide6.QtCore import QObject

GUI = Path(__file__).resolve().parents[2] / "gui"

KNOWN: set[tuple[str, str]] = set()  # (class, attribute) pairs allowed to hide a Qt method


def shadowing_attributes() -> list[str]:
    found = []
    for path in sorted(GUI.glob("*.py")):
        module = importlib.import_module(f"gui.{path.stem}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            cls = getattr(module, node.name, None) if isinstance(node, ast.ClassDef) else None
            if not (inspect.isclass(cls) and issubclass(cls, QObject)):
                continue
            qt_bases = [base for base in cls.__mro__ if base.__module__.startswith("PySide6")]
            for sub in ast.walk(node):
                if (isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store)
                        and isinstance(sub.value, ast.Name) and sub.value.id == "self"
                        and (node.name, sub.attr) not in KNOWN
                        and any(callable(getattr(base, sub.attr, None)) for base in qt_bases)):
                    found.append(f"{path.name}:{sub.lineno} {node.name}.{sub.attr}")
    return found


def test_no_attribute_hides_a_qt_method(qapp):
    assert shadowing_attributes() == []
