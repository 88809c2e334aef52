"""The faster PySide6 feature check answers as PySide6's own does."""

from __future__ import annotations

import sys

import pytest


def test_byte_search_agrees_with_pyside(monkeypatch):
    import PySide6.QtCore  # noqa: F401

    import gui.main_window  # noqa: F401 - modules that do use PySide6
    from gui import import_hook

    feature = sys.modules.get("PySide6.support.feature")
    if getattr(feature, "_mod_uses_pyside", None) is None:
        pytest.skip("this PySide6 has no feature check")
    original = feature._mod_uses_pyside
    original = getattr(original, "original", original)  # the app may have replaced it already
    monkeypatch.setattr(feature, "_mod_uses_pyside", original)
    assert import_hook.speed_up_feature_check()
    fast = feature._mod_uses_pyside
    assert fast is not original
    modules = [m for name, m in sorted(sys.modules.items()) if m is not None
               and (name.startswith(("gui", "backend", "json", "email", "PySide6")) or name in ("os", "inspect"))]
    answers = {m.__name__: fast(m) for m in modules}
    assert answers == {m.__name__: original(m) for m in modules}
    assert answers["gui.main_window"] and not answers["json"]
    assert not import_hook.speed_up_feature_check()  # once is enough
