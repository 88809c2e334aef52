"""Takes the README screenshots under a real X server (run with xvfb-run), one set per run:

    xvfb-run -s "-screen 0 1280x800x24" python scripts/screenshot.py OUTDIR main
        main-window.png (mid-generation, live preview) and player.png (a finished clip)
    xvfb-run -s "-screen 0 1024x700x24" python scripts/screenshot.py OUTDIR small
        small-screen.png (the window fitted to a 1024x700 screen, mid-generation)
    xvfb-run -s "-screen 0 1280x800x24" python scripts/screenshot.py OUTDIR advanced
        advanced.png (the Advanced sections open)
    LANG=zh_CN.UTF-8 xvfb-run -s "-screen 0 1280x800x24" python scripts/screenshot.py OUTDIR chinese
        chinese.png (the window in Simplified Chinese, mid-generation)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "resources" / "screenshots")
    shot = sys.argv[2] if len(sys.argv) > 2 else "main"
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    os.environ["ANIMATEDIFF_STUDIO_CONFIG_DIR"] = str(tmp / "config")
    os.environ["ANIMATEDIFF_STUDIO_DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QScrollArea

    from gui.app import get_app
    from gui.i18n import install
    from gui.main_window import MainWindow
    from gui.panels import demo_label

    app = get_app()
    install("system", app)  # as the app does: LANG=zh_CN.UTF-8 gives the Chinese window
    window = MainWindow()  # it fits itself to the screen
    window.show()
    screen = window.screen().geometry()
    window.models.base.set_text(demo_label())
    window.models.adapter.set_text(demo_label())
    window.models.device.setCurrentText("cpu")
    p = window.parameters
    p.width_spin.setValue(256)
    p.height_spin.setValue(256)
    p.frames.setValue(16)
    p.steps.setValue(int(os.environ.get("SCREENSHOT_STEPS", "40")))
    p.random_seed.setChecked(False)
    p.seed.setValue(42)
    window.prompt.prompt.setPlainText(
        "masterpiece, best quality, sunset, orange sky, warm lighting, fishing boats, ocean waves"
    )
    window.prompt.negative.setPlainText("bad quality, worse quality")
    state = {"previews": 0, "shot": False}

    def snap(name: str) -> None:
        app.processEvents()
        crop = f"{screen.width()}x{screen.height()}+0+0"
        subprocess.run(["import", "-window", "root", "-crop", crop, str(out / name)], check=True)
        print("saved", out / name)

    mid_name = {"main": "main-window.png", "small": "small-screen.png", "chinese": "chinese.png"}

    def quit_() -> None:
        window.project.dirty = False  # no save prompt for the demo take
        window.close()
        app.quit()

    if shot == "advanced":
        for key in ("sampling", "motion"):
            window.sections[key].set_open(True)
        scroll = window.findChild(QScrollArea, "inputPanels")
        QTimer.singleShot(800, lambda: scroll.verticalScrollBar().setValue(
            window.sections["sampling"].y() - 8))
        QTimer.singleShot(1500, lambda: (snap("advanced.png"), quit_()))
        app.exec()
        return 0

    def on_preview(job, frames) -> None:
        state["previews"] += 1
        if state["previews"] == 12 and not state["shot"]:
            state["shot"] = True
            QTimer.singleShot(300, lambda: snap(mid_name[shot]))

    def on_finished(job, result) -> None:
        if shot != "main":
            quit_()
            return
        window.player.pause()
        window.player.seek(9)
        QTimer.singleShot(500, lambda: (snap("player.png"), quit_()))

    window.controller.job_preview.connect(on_preview)
    window.controller.job_finished.connect(on_finished)
    window.controller.job_failed.connect(lambda job, kind, message: (print(message), app.quit()))
    QTimer.singleShot(500, window.generate)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
