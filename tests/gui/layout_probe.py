"""Builds the main window (and the compare window) on the screen Qt was started with and prints
the geometry of the widgets people need, as JSON. Run in its own process by test_layout.py,
because a screen's size is fixed when Qt starts (offscreen:configfile=...)."""

from __future__ import annotations

import json
import sys

import numpy as np
from closing import close_like_a_user_and_exit  # tests/gui/closing.py, beside this script
from PySide6.QtWidgets import QApplication, QWidget

from backend.core.request import GenerationRequest
from gui.main_window import MainWindow

NAMES = ("frameSlider", "generateButton", "promptEdit", "playButton", "exportButton",
         "cancelButton", "seedSpin", "framesSpin", "durationSecondsSpin", "aspectCombo", "frameCounter")


def box(widget: QWidget, window: QWidget) -> dict:
    top_left = widget.mapTo(window, widget.rect().topLeft())
    return {"x": top_left.x(), "y": top_left.y(), "w": widget.width(), "h": widget.height(),
            "visible": widget.isVisible() and not widget.visibleRegion().isEmpty()}


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    sections = sys.argv[1].split(",") if len(sys.argv) > 1 and sys.argv[1] else []
    window = MainWindow()
    for key in sections:
        window.sections[key].set_open(True)
    window.show()
    app.processEvents()
    frames = np.zeros((4, 64, 64, 3), np.uint8)
    first = window.project.add_take(frames, GenerationRequest(prompt="a long prompt " * 20, seed=1))
    second = window.project.add_take(frames, GenerationRequest(prompt="another prompt", seed=2))
    window.compare_takes(first, second)
    compare = window.compare_dialog
    app.processEvents()
    screen = window.screen().availableGeometry()
    column = window.findChild(QWidget, "inputColumn")
    report = {
        "screen": [screen.width(), screen.height()],
        "window": [window.frameGeometry().x(), window.frameGeometry().y(),
                   window.frameGeometry().width(), window.frameGeometry().height()],
        "column": [column.width(), column.minimumSizeHint().width()],
        "widgets": {},
        "compare": {"window": [compare.frameGeometry().width(), compare.frameGeometry().height()],
                    "slider": box(compare.left.frame_slider, compare)},
    }
    for name in NAMES:
        widget = window.findChild(QWidget, name)
        report["widgets"][name] = box(widget, window) if widget is not None else None
    print(json.dumps(report))
    compare.close()
    window.project.dirty = False
    close_like_a_user_and_exit(app, window)


if __name__ == "__main__":
    main()
