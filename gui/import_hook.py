"""A faster answer to PySide6's per-import question.

PySide6 hooks `__import__`: the first time each module is imported after PySide6, it asks
whether the module's source mentions "PySide6" (to apply `from __feature__ import ...`), by
`inspect.getsource`, which reads the file through linecache. When the worker thread imports
torch and diffusers (over 3000 modules) that took 0.7 s of the 6 s import on a quiet machine
here (up to 2.7 s under load), in Python, holding the interpreter lock while the window has
just shown. Searching the file's bytes gives the same answer in a tenth of the time
(benchmarks/import_stall.py).
"""

from __future__ import annotations

import sys
from importlib.machinery import SourceFileLoader

# PySide6's internal function, patched by name: a PySide6 without it is left alone.
CHECK_NAME = "_mod_uses_pyside"


def speed_up_feature_check() -> bool:
    """Replace PySide6's source check with a byte search; False when this PySide6 has no such
    check (then nothing changes)."""
    import PySide6.QtCore  # noqa: F401 - loads PySide6's feature module

    feature = sys.modules.get("PySide6.support.feature")
    original = getattr(feature, CHECK_NAME, None)
    if original is None or getattr(original, "fast", False):
        return False

    def uses_pyside(module) -> bool:
        path = getattr(module, "__file__", None)
        loader = getattr(getattr(module, "__spec__", None), "loader", None)
        if not (isinstance(loader, SourceFileLoader) and isinstance(path, str) and path.endswith(".py")):
            return original(module)  # a package without a file, a zip import, a .pyc
        try:
            with open(path, "rb") as handle:
                return b"PySide6" in handle.read()
        except OSError:
            return False  # what inspect.getsource's OSError gives

    uses_pyside.fast = True
    uses_pyside.original = original
    setattr(feature, CHECK_NAME, uses_pyside)
    return True
