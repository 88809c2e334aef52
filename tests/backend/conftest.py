"""Backend tests run with PySide6 unimportable, proving backend/ never needs Qt.

Run them on their own (`pytest tests/backend -p no:pytest-qt`, as .ci/run does). When they are
collected in one session with the GUI tests, Qt is already loaded and the block is skipped.
"""

from __future__ import annotations

import importlib.abc
import sys

import pytest

BLOCKED = ("PySide6", "shiboken6", "PyQt5", "PyQt6")


class QtBlocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in BLOCKED:
            raise ImportError(f"{fullname} is blocked: backend/ must not import Qt")
        return None


QT_ALREADY_LOADED = any(name.split(".")[0] in BLOCKED for name in sys.modules)
if not QT_ALREADY_LOADED:
    sys.meta_path.insert(0, QtBlocker())


@pytest.fixture(scope="session")
def cache():
    """One pipeline cache for the session, as the app's worker keeps one."""
    from backend.models.loading import PipelineCache

    return PipelineCache()
