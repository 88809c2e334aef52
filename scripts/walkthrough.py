"""The issue-20 walk-through, driven: run on a desktop (Xvfb with a window manager, see
/work/shared/scripts/desktop.sh) to take the screenshots a user would see.

    python scripts/walkthrough.py OUT_FOLDER [--lang zh_CN]

In a fresh config and data folder: start; a job too large for memory (refused); two takes of
the tiny demo model, each with its own in/out points; two exports; Save as; reopen. Each step
prints one JSON line (the frame against the screen, the title, the status) and saves
OUT_FOLDER/NN-step.png (`import -window root`). Restarts are checked by tests/gui/desktop_probe.py
(tests/gui/test_desktop_fit.py)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--lang", default="en")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="walk-"))
    os.environ["ANIMATEDIFF_STUDIO_CONFIG_DIR"] = str(home / "config")
    os.environ["ANIMATEDIFF_STUDIO_DATA_DIR"] = str(home / "data")

    from PySide6.QtCore import QLocale
    from PySide6.QtWidgets import QFileDialog

    from gui import i18n
    from gui.app import get_app
    from gui.main_window import MainWindow
    from gui.window_fit import frame_margins

    app = get_app()
    i18n.install(args.lang if args.lang != "en" else "en", app, locale=QLocale(args.lang))
    window = MainWindow()
    window.show()
    step = [0]

    def wait(condition, seconds: float = 120.0) -> bool:
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.02)
        return condition()

    def settle(seconds: float = 0.6) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)

    def shot(name: str) -> None:
        settle()
        step[0] += 1
        path = out / f"{step[0]:02d}-{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], check=True)
        frame, area = window.frameGeometry(), window.screen().availableGeometry()
        print(json.dumps({"shot": path.name, "frame": [frame.x(), frame.y(), frame.width(), frame.height()],
                          "inside": area.contains(frame), "title": window.windowTitle(),
                          "status": window.status_label.text(),
                          "error": window.error_banner.text() if window.error_banner.isVisible() else ""},
                         ensure_ascii=False), flush=True)

    wait(lambda: any(frame_margins(window)), 10)
    wait(lambda: window.controller.worker is not None and getattr(window.controller.worker, "cache", None) is not None, 60)
    shot("start")

    p = window.parameters
    p.frames.setValue(1024)
    p.width_spin.setValue(2048)
    p.height_spin.setValue(2048)
    window.generate()
    shot("too-large-refused")

    from gui.panels import demo_label

    window.models.base.set_text(demo_label())
    window.models.adapter.set_text(demo_label())
    p.frames.setValue(16)
    p.width_spin.setValue(96)
    p.height_spin.setValue(96)
    p.steps.setValue(2)
    window.prompt.prompt.setPlainText("a lighthouse in a storm, waves")
    for number, (start, end) in enumerate(((3, 9), (5, 12)), 1):
        takes = len(window.project.takes)
        window.generate()
        if not wait(lambda t=takes: len(window.project.takes) > t, 300):
            shot(f"take{number}-failed")
            return 1
        settle(1.0)
        window.player.pause()
        window.player.set_in_point(start)
        window.player.set_out_point(end)
        shot(f"take{number}-in-out")

    exports = home / "exports"
    exports.mkdir()
    window.settings.export["folder"] = str(exports)
    for take in window.project.takes:
        window.takes.select(take)
        settle(0.3)
        window.player.set_in_point(2)
        window.player.set_out_point(9)
        dialog = window.export_clip()
        shot(f"export-{take.name.replace(' ', '')}")
        dialog.start()
        wait(lambda d=dialog: not d.job or not d.job.running, 60)
        settle(0.5)
        dialog.close()
    print(json.dumps({"exported": sorted(p.name for p in exports.iterdir())}), flush=True)

    target = home / "fox-final.adsproj"
    QFileDialog.getSaveFileName = staticmethod(lambda *a, **k: (str(target), ""))
    window.save_project_as()
    wait(lambda: not window.projects.saving and target.exists(), 60)
    shot("saved-as")
    window.new_project()
    settle()
    window.open_project(str(target))
    settle(1.0)
    shot("reopened")
    window.close()
    wait(lambda: not window.isVisible(), 60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
