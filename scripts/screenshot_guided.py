"""The guided-clip walk-through under a real X server, on the demo models and a tiny random
ControlNet: a control from a clip, its lane previewed, a keyframe image dropped on a frame, then
a controlled clip generated.

    xvfb-run -s "-screen 0 1280x800x24" python scripts/screenshot_guided.py OUTDIR large
    xvfb-run -s "-screen 0 1024x700x24" python scripts/screenshot_guided.py OUTDIR small

Writes guided-lanes-<size>.png (the Guidance section and the lanes, before generating) and
guided-done-<size>.png (the finished controlled clip).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def clip(folder: Path, frames: int = 16, size: int = 256) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size]
    for index in range(frames):
        disc = ((xx - 60 - index * 8) ** 2 + (yy - size // 2) ** 2) < 40**2
        frame = np.stack([xx, yy, np.full_like(xx, 96)], -1).astype(np.uint8)
        frame[disc] = (250, 220, 40)
        Image.fromarray(frame).save(folder / f"frame_{index:05d}.png")
    return folder


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "resources" / "screenshots")
    size = sys.argv[2] if len(sys.argv) > 2 else "large"
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    os.environ["ANIMATEDIFF_STUDIO_CONFIG_DIR"] = str(tmp / "config")
    os.environ["ANIMATEDIFF_STUDIO_DATA_DIR"] = str(tmp / "data")
    os.environ["ANIMATEDIFF_STUDIO_CACHE_DIR"] = str(tmp / "cache")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QScrollArea

    from backend.core.guidance import ControlSpec
    from gui.app import get_app
    from gui.i18n import install
    from gui.main_window import MainWindow
    from gui.panels import demo_label
    from tests.backend.guided_files import write_controlnet

    source = clip(tmp / "clip")
    controlnet = write_controlnet(tmp / "controlnet", seed=11)
    app = get_app()
    install("system", app)
    window = MainWindow()
    window.show()
    screen = window.screen().geometry()
    window.models.base.set_text(demo_label())
    window.models.adapter.set_text(demo_label())
    window.models.device.setCurrentText("cpu")
    p = window.parameters
    p.width_spin.setValue(256)
    p.height_spin.setValue(256)
    p.steps.setValue(int(os.environ.get("SCREENSHOT_STEPS", "12")))
    p.random_seed.setChecked(False)
    p.seed.setValue(42)
    window.prompt.prompt.setPlainText("a golden ball rolling on a beach, sunset")
    window.prompt.set_travel({10: "a golden ball rolling on a beach, night"})
    window.sections["guidance"].set_open(True)
    window.guidance.add_control(ControlSpec(str(controlnet), str(source), "canny", 0.8))
    previewed: list[bool] = []
    window.lanes.previewReady.connect(lambda: previewed.append(True))
    window.lanes.preview_control()

    def snap(name: str) -> None:
        app.processEvents()
        crop = f"{screen.width()}x{screen.height()}+0+0"
        subprocess.run(["import", "-window", "root", "-crop", crop, str(out / name)], check=True)
        print("saved", out / name)

    def drop_keyframe() -> None:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(source / "frame_00000.png"))])
        x = window.lanes.cell(4, 1).center().x()
        window.lanes.dropEvent(QDropEvent(QPointF(x, 30), Qt.DropAction.CopyAction, mime,
                                          Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
        scroll = window.findChild(QScrollArea, "inputPanels")
        scroll.verticalScrollBar().setValue(window.sections["guidance"].y() - 8)

    def generate() -> None:
        window.guidance.set_keyframes([])  # keyframes are SparseCtrl's; this clip uses the control
        window.generate()

    def quit_() -> None:
        window.project.dirty = False
        window.close()
        app.quit()

    def on_finished(job, result) -> None:
        window.player.pause()
        window.player.seek(9)
        QTimer.singleShot(500, lambda: (snap(f"guided-done-{size}.png"), quit_()))

    window.controller.job_finished.connect(on_finished)
    window.controller.job_failed.connect(lambda job, kind, message: (print(message), app.quit()))
    def when_previewed() -> None:  # the preview runs on a thread of its own
        if not previewed:
            QTimer.singleShot(200, when_previewed)
            return
        drop_keyframe()
        QTimer.singleShot(800, lambda: (snap(f"guided-lanes-{size}.png"), generate()))

    QTimer.singleShot(600, when_previewed)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
