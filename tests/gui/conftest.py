"""GUI test fixtures: offscreen Qt, settings and data folders of the test's own, a window wired
to the tiny demo model, and a check that no top-level window is left open."""

from __future__ import annotations

import os

import pytest

from tests.hub_server import FakeHub

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def no_modal_questions(monkeypatch):
    """Modal questions would block a test: unsaved work is discarded unless a test says so."""
    from gui.project_controller import ProjectController

    monkeypatch.setattr(ProjectController, "ask_unsaved", lambda self: "discard")
    monkeypatch.setattr(ProjectController, "ask_restore", lambda self, path: True)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMATEDIFF_STUDIO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ANIMATEDIFF_STUDIO_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp):
    yield
    from PySide6.QtWidgets import QApplication

    qapp.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w.objectName() == "mainWindow"]
    for window in leaked:
        close_and_wait(window)
    settle()
    assert not leaked, "a test left a main window open"


def configure_tiny(window, models, steps: int = 2, frames: int = 8) -> None:
    window.models.base.set_text(str(models.base))
    window.models.adapter.set_text(str(models.motion_adapter))
    window.models.device.setCurrentText("cpu")
    p = window.parameters
    p.width_spin.setValue(64)
    p.height_spin.setValue(64)
    p.frames.setValue(frames)
    p.steps.setValue(steps)
    p.random_seed.setChecked(False)
    p.seed.setValue(7)
    window.prompt.prompt.setPlainText("a lighthouse in a storm")


@pytest.fixture()
def window(qtbot, demo_models, tmp_path):
    from gui.main_window import MainWindow

    win = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(win)
    win.show()
    configure_tiny(win, demo_models)
    yield win
    close_and_wait(win)
    assert not win.isVisible() and not win.controller.running
    settle()


def close_and_wait(window, timeout: float = 60.0) -> None:
    """Close a main window and wait until it has closed: closing never blocks the window, so
    it ends once the worker has stopped and any project write is done."""
    import time

    from PySide6.QtCore import QCoreApplication, QEventLoop

    window.close()
    deadline = time.monotonic() + timeout
    while window.isVisible() and time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def settle() -> None:
    """Run deferred deletes and collect cycles now, between tests, not at a random point in
    the next test while its worker thread is busy."""
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    gc.collect()


# The Hub stand-in on 127.0.0.1 serving the demo model under Hub ids (tests/hub_server.py).
ZOOM = "guoyww/animatediff-motion-lora-zoom-in"
EPIC = "emilianJR/epiCRealism"


@pytest.fixture
def hub(demo_models, tmp_path, monkeypatch):
    from huggingface_hub import constants

    server = FakeHub(
        {
            "demo/base": demo_models.base,
            "demo/adapter": demo_models.motion_adapter,
            ZOOM: demo_models.motion_lora,
            EPIC: demo_models.base,
        }
    ).start()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    yield server
    server.stop()


@pytest.fixture
def asked(monkeypatch):
    questions = []

    def answer(parent, text):
        questions.append(text)
        return True

    monkeypatch.setattr("gui.models_window.ask_download", answer)
    return questions


def use_hub_models(window) -> None:
    window.models.base.set_text("demo/base")
    window.models.adapter.set_text("demo/adapter")
