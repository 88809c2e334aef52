"""The main window end to end on the tiny model: generate, preview, cancel, errors, the queue,
closing during a job, shortcuts, drops and restored settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QLabel, QWidget

from tests.gui.conftest import close_and_wait, configure_tiny

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120_000

DESIGN_NAMES = [
    "promptEdit", "negativePromptEdit", "modeCombo", "framesSpin", "widthSpin", "heightSpin",
    "stepsSpin", "guidanceSpin", "seedSpin", "strengthSpin", "generateButton", "cancelButton",
    "progressBar", "timeline", "playButton", "frameSlider", "exportButton",
]


def test_design_object_names_and_accessible_names(window):
    assert window.objectName() == "mainWindow"
    for name in DESIGN_NAMES:
        widget = window.findChild(QWidget, name)
        assert widget is not None, name
        assert widget.accessibleName(), name


def test_every_parameter_has_a_tooltip(window):
    for panel in (window.parameters, window.models, window.prompt):
        for widget in panel.findChildren(QWidget):
            if widget.objectName().endswith(("Spin", "Combo", "Edit", "Check")):
                assert widget.toolTip(), widget.objectName()


def test_generate_end_to_end_with_preview(window, qtbot):
    previews = []
    window.controller.job_preview.connect(lambda job, frames: previews.append(frames.shape))
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    job, result = finished.args
    assert result.frames.shape == (8, 64, 64, 3)
    assert previews and previews[0] == (8, 8, 8, 3)  # latents mapped to RGB, 8x smaller
    assert window.player.frame_count == 8 and not window.player.is_preview
    assert np.array_equal(window.player.frames, result.frames)
    assert "done in" in window.status_label.text()
    assert window.progress.format() == "done"
    assert not window.cancel_button.isEnabled()


def test_models_stay_loaded_between_jobs(window, qtbot):
    for seed in (1, 2):
        window.parameters.seed.setValue(seed)
        with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
            window.generate()
    assert window.controller.worker.cache.loads == 1
    with qtbot.waitSignal(window.controller.unloaded, timeout=TIMEOUT) as unloaded:
        qtbot.mouseClick(window.models.unload_button, Qt.MouseButton.LeftButton)
    assert unloaded.args[0] > 0
    assert "freed" in window.status_label.text()


def test_cancel_mid_run_then_generate_again(window, qtbot):
    window.parameters.steps.setValue(300)
    steps = []
    window.controller.job_progress.connect(lambda job, info: steps.append(info["step"]) if info["phase"] == "denoising" else None)
    window.generate()
    qtbot.waitUntil(lambda: len(steps) >= 1, timeout=TIMEOUT)
    assert window.cancel_button.isEnabled()
    with qtbot.waitSignal(window.controller.job_failed, timeout=TIMEOUT) as failed:
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert failed.args[1] == "cancelled"
    assert max(steps) < 300
    assert "cancelled" in window.status_label.text()
    window.parameters.steps.setValue(2)
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.generate()
    assert window.player.frame_count == 8


def test_bad_model_path_shows_error_and_next_job_works(window, qtbot, demo_models):
    window.models.base.set_text("/no/such/model")
    with qtbot.waitSignal(window.controller.job_failed, timeout=TIMEOUT) as failed:
        window.generate()
    assert failed.args[1] == "input"
    assert window.error_banner.isVisible()
    assert "/no/such/model" in window.error_banner.text() and "no such file" in window.error_banner.text()
    window.models.base.set_text(str(demo_models.base))
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.generate()
    assert not window.error_banner.isVisible()


def test_invalid_form_is_refused_before_queueing(window):
    window.prompt.add_travel(99, "too late")
    window.generate()
    assert window.error_banner.isVisible() and "prompt travel frame" in window.error_banner.text()
    assert window.controller.queue.running is None and not window.controller.queue.pending


def fail_once_in_the_unet(window):
    """A real torch.OutOfMemoryError raised from inside the worker's UNet, once."""
    import torch

    calls = []

    def fail(module, args, output):
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CPU out of memory (raised by the test)")

    window.controller.worker.cache.pipelines()[0].unet.mid_block.register_forward_hook(fail)


def test_out_of_memory_frees_and_the_next_job_works(window, qtbot):
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.generate()  # the models are loaded
    fail_once_in_the_unet(window)
    window.models.memory.setCurrentIndex(1)  # off: no retry, the models are unloaded
    with qtbot.waitSignal(window.controller.job_failed, timeout=TIMEOUT) as failed:
        window.generate()
    assert failed.args[1] == "memory"
    text = window.error_banner.text()
    assert "out of memory" in text and "freed" in text and "lower the frames" in text
    # The window names its own control, not the command line's flag.
    assert "Memory plan: Automatic" in text and "--memory" not in text
    assert window.controller.worker.cache.pipelines() == []
    window.models.memory.setCurrentIndex(0)
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.generate()
    assert not window.error_banner.isVisible()


def test_out_of_memory_retries_by_itself_and_says_so(window, qtbot):
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.generate()
    fail_once_in_the_unet(window)
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.generate()
    plan = window.findChild(QLabel, "memoryPlanLabel")
    assert plan.isVisible() and "memory plan" in plan.text()
    assert "retrying once with" in plan.text()


def test_queued_jobs_run_in_order_and_can_be_reordered(window, qtbot):
    order = []
    window.controller.job_finished.connect(lambda job, result: order.append(result.request.seed))
    window.parameters.steps.setValue(40)
    for seed in (1, 2, 3, 4):
        window.parameters.seed.setValue(seed)
        window.generate()
    assert window.generate_button.text() == "Add to queue"
    pending = [job.request.seed for job in window.controller.queue.pending]
    assert window.controller.queue.running.request.seed == 1 and pending == [2, 3, 4]
    assert window.queue_list.count() == 4  # the running job and three waiting
    # Run seed 4 before seed 3, and drop seed 2.
    window.queue_list.setCurrentRow(3)
    window.queue_panel.move_selected(-1)
    window.queue_list.setCurrentRow(1)
    window.queue_panel.remove_selected()
    assert [job.request.seed for job in window.controller.queue.pending] == [4, 3]
    qtbot.waitUntil(lambda: len(order) == 3, timeout=TIMEOUT)
    assert order == [1, 4, 3]
    assert window.queue_list.count() == 0


def test_close_during_a_job(qtbot, demo_models, tmp_path):
    from gui.main_window import MainWindow

    win = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(win)
    win.show()
    configure_tiny(win, demo_models, steps=500)
    started = []
    win.controller.job_progress.connect(lambda job, info: started.append(info["phase"]))
    win.generate()
    win.generate()  # and one waiting
    qtbot.waitUntil(lambda: "denoising" in started, timeout=TIMEOUT)
    close_and_wait(win)
    assert not win.isVisible() and not win.controller.running
    assert (tmp_path / "settings.json").is_file()


def test_shortcuts_generate_and_cancel(window, qtbot):
    window.parameters.steps.setValue(300)
    window.activateWindow()
    steps = []
    window.controller.job_progress.connect(lambda job, info: steps.append(info["phase"]))
    qtbot.keyClick(window.prompt.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "denoising" in steps, timeout=TIMEOUT)
    with qtbot.waitSignal(window.controller.job_failed, timeout=TIMEOUT) as failed:
        qtbot.keyClick(window.prompt.prompt, Qt.Key.Key_Escape)
    assert failed.args[1] == "cancelled"


def test_dropping_a_video_switches_to_video2video(window, tmp_path):
    clip = tmp_path / "dance.mp4"
    clip.write_bytes(b"")
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(clip))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.parameters.mode.currentData() == "video2video"
    assert window.parameters.input_video.text() == str(clip)
    assert window.parameters.strength.isVisibleTo(window)


def test_video2video_from_the_window(window, qtbot, clip_folder):
    window.parameters.set_input_video(str(clip_folder))
    window.parameters.steps.setValue(4)
    window.parameters.strength.setValue(0.5)
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT) as finished:
        window.generate()
    result = finished.args[1]
    assert result.request.mode == "video2video" and result.frames.shape == (8, 64, 64, 3)


def test_settings_are_restored(qtbot, demo_models, tmp_path):
    from gui.main_window import MainWindow

    first = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(first)
    configure_tiny(first, demo_models)
    first.parameters.guidance.setValue(5.5)
    first.prompt.negative.setPlainText("blurry")
    first.models.loras.add(str(demo_models.motion_lora), 0.6)
    first.resize(1100, 700)
    first.close()
    stored = json.loads((tmp_path / "settings.json").read_text())
    assert stored["last_request"]["guidance"] == 5.5 and stored["schema_version"] == 1
    second = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(second)
    assert second.parameters.guidance.value() == 5.5
    assert second.prompt.negative.toPlainText() == "blurry"
    assert second.prompt.prompt.toPlainText() == "a lighthouse in a storm"
    assert second.models.loras.loras()[0].weight == pytest.approx(0.6)
    assert second.parameters.seed.value() == 7 and not second.parameters.random_seed.isChecked()
    second.close()


def test_corrupt_settings_fall_back_to_defaults(qtbot, tmp_path):
    from gui.main_window import MainWindow

    (tmp_path / "settings.json").write_text("{not json")
    win = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(win)
    assert win.parameters.frames.value() == 16 and win.parameters.steps.value() == 25
    win.close()


def test_demo_model_entry_builds_and_runs(window, qtbot, isolated_dirs):
    from gui.panels import DEMO_LABEL

    window.models.base.set_text(DEMO_LABEL)
    window.models.adapter.set_text(DEMO_LABEL)
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT) as finished:
        window.generate()
    assert finished.args[1].request.model.base_model.startswith(str(isolated_dirs / "data"))
    # The demo entry is always offered in the user's language: never stored as a recent model
    # (a label stored in one language would be a bogus Hub id in another).
    assert window.settings.recent_base_models == [] and window.settings.recent_motion_adapters == []
    # A quality preset keeps the demo pair (a real motion adapter does not fit the demo base).
    p = window.parameters
    p.quality.setCurrentIndex(p.quality.findData("lightning"))
    p.quality.activated.emit(p.quality.currentIndex())
    assert window.models.adapter.text() == DEMO_LABEL and window.models.image_loras.loras() == ()
    assert p.steps.value() == 4 and "demo model keeps" in window.status_label.text()


IMPORT_PROBE = """
import importlib.abc, os, sys, threading, time
os.environ['QT_QPA_PLATFORM'] = 'offscreen'
first_import = {}
class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ('torch', 'diffusers') and name not in first_import:
            first_import[name] = threading.current_thread() is threading.main_thread()
        return None
sys.meta_path.insert(0, Probe())
from gui.app import get_app
from gui.main_window import MainWindow
app = get_app()
window = MainWindow()
window.show()
app.processEvents()
shown_without = 'torch' not in sys.modules or not first_import.get('torch')
ready = []
window.controller.ready.connect(lambda: ready.append(1))
deadline = time.monotonic() + 90
while not ready and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.01)
print(shown_without, bool(ready), first_import.get('torch'), first_import.get('diffusers'))
window.close()
while window.isVisible():
    app.processEvents()
"""


def test_torch_and_diffusers_load_off_the_gui_thread(tmp_path):
    env = dict(__import__("os").environ, ANIMATEDIFF_STUDIO_CONFIG_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", IMPORT_PROBE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    # Shown before torch; then the worker imported torch and diffusers, not the GUI thread.
    assert result.stdout.split() == ["True", "True", "False", "False"]


def test_main_entry_help_and_no_display(monkeypatch, capsys):
    from gui.app import main

    assert main(["--help"]) == 0
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert main([]) == 1
    assert "no display" in capsys.readouterr().err


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 on")
def test_qt_binding_keeps_none_alive(qapp):
    """PySide6 6.12.0 decremented None's refcount on every void call and crashed the player
    within seconds of playback on Python 3.11; pyproject excludes it. This guards the pin."""
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(5000):
        label.setText("x")
    assert sys.getrefcount(None) >= before - 100


def test_messages_are_sentences_and_the_banner_clears_when_the_next_job_starts(window, qtbot, demo_models):
    from gui.main_window import sentence

    assert sentence("not a Hugging Face Hub id") == "not a Hugging Face Hub id."
    assert sentence("done.") == "done." and sentence("") == ""
    window.models.base.set_text("/no/such/model")
    with qtbot.waitSignal(window.controller.job_failed, timeout=TIMEOUT):
        window.generate()
    text = window.error_banner.text()
    assert window.error_banner.isVisible() and text.endswith("Fix it and press Generate again.")
    assert ".." not in text and " Fix" in text and ". Fix" in text
    window.models.base.set_text(str(demo_models.base))
    window.parameters.steps.setValue(300)
    with qtbot.waitSignal(window.controller.job_started, timeout=TIMEOUT):
        window.generate()
    assert not window.error_banner.isVisible()
    with qtbot.waitSignal(window.controller.job_failed, timeout=TIMEOUT):
        window.cancel()


def test_dark_theme_by_default_and_help_dialogs_open(window, qtbot):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    assert window.settings.theme == "dark"
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightness() < 80
    for show, name in ((window.show_shortcuts, "shortcutsDialog"), (window.show_about, "aboutDialog"),
                       (window.show_getting_started, "gettingStartedDialog"), (window.show_readme, "readmeDialog")):
        show()
        assert window.help_dialog.objectName() == name and window.help_dialog.isVisible()
        window.help_dialog.close()
    window.set_theme("system")
    assert window.theme_actions["system"].isChecked() and window.settings.theme == "system"
    window.set_theme("dark")
