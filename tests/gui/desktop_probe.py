"""Opens the main window as the app does, on the display Qt was started with (a real X server
with a window manager, in test_desktop_fit.py), waits until the window manager has framed it,
prints the frame's and the screen's geometry as JSON and closes the window as a user would (which
saves its geometry). Run in its own process: each run is one start of the app."""

from __future__ import annotations

import json
import time

from closing import close_like_a_user_and_exit  # tests/gui/closing.py, beside this script
from PySide6.QtWidgets import QStatusBar

from backend.project.settings import Settings
from gui import i18n
from gui.app import get_app
from gui.main_window import MainWindow
from gui.window_fit import frame_margins

FRAMED_WITHIN_S = 10.0  # the window manager frames a window within this; then the test fails


def rect(r) -> list[int]:
    return [r.x(), r.y(), r.width(), r.height()]


def main() -> None:
    app = get_app()
    language = i18n.install(Settings.load().language, app)  # as the app does: LANG or the setting
    window = MainWindow()
    window.show()
    deadline = time.monotonic() + FRAMED_WITHIN_S
    while not any(frame_margins(window)) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    # Whatever the window does on being framed is done once its geometry stops changing.
    last = None
    while time.monotonic() < deadline:
        app.processEvents()
        now = (rect(window.frameGeometry()), rect(window.geometry()))
        if now == last:
            break
        last = now
        time.sleep(0.05)
    status = window.findChild(QStatusBar)
    top_left = status.mapToGlobal(status.rect().topLeft())
    print(json.dumps({
        "available": rect(window.screen().availableGeometry()),
        "frame": rect(window.frameGeometry()),
        "client": rect(window.geometry()),
        "framed": any(frame_margins(window)),
        "language": language,
        "title": window.windowTitle(),
        "status_bar": [top_left.x(), top_left.y(), status.width(), status.height()],
    }), flush=True)
    close_like_a_user_and_exit(app, window)


if __name__ == "__main__":
    main()
