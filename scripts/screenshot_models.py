"""Screenshots of the Models window under a real X server (run with xvfb-run): the catalog with
one model downloaded and another downloading, and the local-folders tab. The Hub is the test
stand-in (tests/hub_server.py) serving the tiny demo model under catalog ids.

    xvfb-run -s "-screen 0 1280x800x24" python scripts/screenshot_models.py OUTDIR
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
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    os.environ["ANIMATEDIFF_STUDIO_CONFIG_DIR"] = str(tmp / "config")
    os.environ["ANIMATEDIFF_STUDIO_DATA_DIR"] = str(tmp / "data")
    os.environ["HF_HUB_CACHE"] = str(tmp / "hf-cache")
    os.environ["HF_HUB_OFFLINE"] = "0"
    from PySide6.QtCore import QTimer

    from backend.hub import downloads
    from backend.hub.catalog import find_entry
    from backend.models.demo_model import write_demo_model
    from gui.app import get_app
    from gui.main_window import MainWindow
    from tests.hub_server import FakeHub

    models = write_demo_model(tmp / "models" / "AnimateDiff")
    hub = FakeHub(
        {
            "guoyww/animatediff-motion-adapter-v1-5-2": models.motion_adapter,
            "guoyww/animatediff-motion-lora-zoom-in": models.motion_lora,
            "guoyww/animatediff-motion-lora-pan-left": models.motion_lora,
            "emilianJR/epiCRealism": models.base,
        },
        rate=600_000,
    ).start()
    os.environ["HF_ENDPOINT"] = hub.endpoint
    hub.rate = None
    for model_id in (
        "guoyww/animatediff-motion-lora-zoom-in",
        "guoyww/animatediff-motion-lora-pan-left",
    ):
        downloads.download([find_entry(model_id).ref])
    hub.rate = 600_000

    app = get_app()
    window = MainWindow()
    window.setGeometry(0, 0, 1280, 800)
    window.show()
    window.show_models_window()
    dialog = window.models_window
    dialog.setGeometry(150, 80, 980, 620)

    def snap(name: str) -> None:
        app.processEvents()
        subprocess.run(
            ["import", "-window", "root", "-crop", "1280x800+0+0", str(out / name)], check=True
        )
        print("saved", out / name)

    def start_download() -> None:
        dialog.select("emilianJR/epiCRealism")
        dialog.download_button.click()
        QTimer.singleShot(3500, catalog_shot)

    def catalog_shot() -> None:
        snap("models-window.png")
        dialog.cancel_download()
        QTimer.singleShot(1500, local_tab)

    def local_tab() -> None:
        dialog.add_folder(str(tmp / "models"))
        QTimer.singleShot(500, local_shot)

    def local_shot() -> None:
        snap("models-window-local.png")
        dialog.close()
        QTimer.singleShot(300, job_download)

    def job_download() -> None:
        # A job whose models are not downloaded: the window asks (answered yes here), then the
        # progress bar shows the download before the job runs.
        import gui.models_window

        gui.models_window.ask_download = lambda parent, text: True
        window.models.base.set_text("emilianJR/epiCRealism")
        window.models.adapter.set_text("guoyww/animatediff-motion-adapter-v1-5-2")
        window.prompt.prompt.setPlainText("a lighthouse in a storm, waves, dramatic sky")
        window.generate_button.click()
        QTimer.singleShot(4000, job_shot)

    def job_shot() -> None:
        snap("main-window-downloading.png")
        window.cancel()
        QTimer.singleShot(1500, finish)

    def finish() -> None:
        window.close()
        hub.stop()
        app.quit()

    QTimer.singleShot(1000, start_download)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
