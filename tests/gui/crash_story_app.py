"""A real window process for the crash-story test (tests/gui/test_crash_story.py).

`generate BASE ADAPTER`: make one take on the tiny model, autosave, print a JSON line, then keep
running until killed. `restore`: offer the recovery (answered Yes, the moment the question came
noted on the system's monotonic clock), wait for the autosave of the
restored takes, print a JSON line with the frames' hashes, then keep running until killed.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def report(window, **extra) -> None:
    hashes = [hashlib.sha256(window.project.frames(t).tobytes()).hexdigest() for t in window.project.takes]
    print(json.dumps({"takes": hashes, "recovery": str(window.recovery_path), **extra}), flush=True)


def main() -> None:
    from gui.app import get_app
    from gui.main_window import MainWindow
    from gui.project_controller import ProjectController

    asked: list[float] = []

    def ask_restore(self, path) -> bool:
        asked.append(time.monotonic())  # CLOCK_MONOTONIC: one clock for every process here
        return True

    ProjectController.ask_restore = ask_restore
    app = get_app()
    window = MainWindow(settings_path=Path(sys.argv[2 if sys.argv[1] == "restore" else 4]))
    window.show()
    if sys.argv[1] == "generate":
        base, adapter = sys.argv[2], sys.argv[3]
        window.models.base.set_text(base)
        window.models.adapter.set_text(adapter)
        window.models.device.setCurrentText("cpu")
        p = window.parameters
        p.width_spin.setValue(64)
        p.height_spin.setValue(64)
        p.frames.setValue(8)
        p.steps.setValue(2)
        p.random_seed.setChecked(False)
        p.seed.setValue(4242)
        window.prompt.prompt.setPlainText("a lighthouse in a storm")

        def finished(job, result) -> None:
            window.autosave_now()
            report(window)

        window.controller.job_finished.connect(finished)
        window.generate()
    else:
        restored = window.offer_recovery()
        window.projects.wait_writes()
        report(window, restored=restored, dirty=window.project.dirty,
               asked_at=asked[0] if asked else None)
    app.exec()


if __name__ == "__main__":
    main()
