"""Starting the desktop app: the QApplication, its names, and the main window."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from backend.core.paths import resource

APP_NAME = "AnimateDiff Studio"
window_closed = False  # set once the window's event loop has ended (main.run exits fast then)
ORG_NAME = "AnimateDiff Studio"
ICON = resource("icon.png")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="animatediff-studio [gui]", description="Open the window.")
    parser.add_argument("project", nargs="?", help="a project file to open")
    parser.add_argument("--base-model", help="hub id, diffusers folder or .safetensors file")
    parser.add_argument("--motion-adapter", help="hub id or diffusers folder")
    return parser.parse_args(list(argv))


def has_display() -> bool:
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def get_app(argv: Sequence[str] = ()):
    """The running QApplication, or a new one with our names set before any path lookup."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "animatediff-studio", *argv])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationDisplayName(APP_NAME)
    from PySide6.QtGui import QIcon

    app.setWindowIcon(QIcon(str(ICON)))
    return app


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, a bad argument 2
        return int(exc.code or 0)
    if not has_display():
        print(
            "animatediff-studio: no display to open the window on (DISPLAY is not set); run it in "
            "a desktop session, or use a command such as `generate` (see --help)",
            file=sys.stderr,
        )
        return 1
    from gui.import_hook import speed_up_feature_check

    speed_up_feature_check()  # before the window's modules, and the worker's torch, are imported
    from backend.project.settings import Settings
    from gui.i18n import install
    from gui.main_window import MainWindow

    app = get_app()
    install(Settings.load().language, app)  # before any window, so every text is translated
    window = MainWindow()
    if args.base_model:
        window.models.base.set_text(args.base_model)
    if args.motion_adapter:
        window.models.adapter.set_text(args.motion_adapter)
    window.show()
    if args.project:
        window.open_project(args.project)
    else:
        window.offer_recovery()
    code = app.exec()
    global window_closed
    window_closed = not window.isVisible()
    return code
