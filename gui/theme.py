"""The window's look: a dark Fusion palette by default (like the creative tools people use),
or the platform's own colours."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

THEMES = ("dark", "system")


def dark_palette() -> QPalette:
    palette = QPalette()
    roles = QPalette.ColorRole
    base, window, text, mid = QColor(30, 31, 36), QColor(42, 43, 49), QColor(228, 228, 232), QColor(58, 60, 68)
    for role, color in (
        (roles.Window, window), (roles.WindowText, text), (roles.Base, base),
        (roles.AlternateBase, QColor(36, 37, 42)), (roles.ToolTipBase, QColor(52, 54, 62)),
        (roles.ToolTipText, text), (roles.PlaceholderText, QColor(140, 142, 150)), (roles.Text, text),
        (roles.Button, mid), (roles.ButtonText, text), (roles.BrightText, QColor(255, 90, 90)),
        (roles.Light, QColor(80, 82, 92)), (roles.Midlight, QColor(66, 68, 76)), (roles.Mid, mid),
        (roles.Dark, QColor(24, 25, 29)), (roles.Shadow, QColor(10, 10, 12)),
        (roles.Highlight, QColor(74, 132, 222)), (roles.HighlightedText, QColor(255, 255, 255)),
        (roles.Link, QColor(110, 168, 255)), (roles.LinkVisited, QColor(170, 140, 255)),
    ):
        palette.setColor(role, color)
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        palette.setColor(disabled, role, QColor(120, 122, 130))
    palette.setColor(disabled, roles.Base, QColor(36, 37, 42))
    palette.setColor(disabled, roles.Button, QColor(48, 49, 56))
    return palette


_system: dict[str, object] = {}


def apply_theme(name: str, app: QApplication | None = None) -> str:
    """Apply `name` (dark or system); an unknown name is dark. Returns the theme applied."""
    app = app or QApplication.instance()
    if app is None:
        return name
    if not _system:  # remember the platform's own look once, to go back to it
        _system["style"] = app.style().name()
        _system["palette"] = QPalette(app.palette())
    if name == "system":
        app.setStyle(QStyleFactory.create(str(_system["style"])) or app.style())
        app.setPalette(_system["palette"])
        return name
    app.setStyle(QStyleFactory.create("Fusion"))
    app.setPalette(dark_palette())
    return "dark"
