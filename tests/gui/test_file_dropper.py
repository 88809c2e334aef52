"""A saved project's recovery copy is deleted off the GUI thread (deleting a few hundred MB
takes the file system about 0.1 s): renamed away at once, deleted on a thread, swept at the next
start if a killed process left it, and gone before a closing window says it closed normally.

As in test_responsive.py, the checks are on structure: the deletion is held at a gate on its
thread until a timer on the GUI thread has ticked."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QWidget

from backend.core.request import GenerationRequest
from backend.project.settings import Settings
from gui.project_controller import ProjectController, recovery_dir
from gui.project_writer import DROPPED_PREFIX
from tests.gui.test_responsive import GATE_S, TIMEOUT, heartbeat


@pytest.fixture
def controller(qtbot, isolated_dirs):
    parent = QWidget()
    qtbot.addWidget(parent)
    projects = ProjectController(parent, Settings.load(isolated_dirs / "settings.json"))
    yield projects
    projects.autosave_timer.stop()
    projects.writer.wait()
    projects.dropper.wait()


@pytest.fixture
def unlink_gate(monkeypatch):
    """Every deletion of a renamed-away file records its thread, then waits at the gate."""
    gate, threads = threading.Event(), []
    real = Path.unlink

    def unlink(path, *args, **kwargs):
        if path.name.startswith(DROPPED_PREFIX):
            threads.append(threading.current_thread())
            gate.wait(GATE_S)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    yield gate, threads
    gate.set()


def dropped_files() -> list[Path]:
    return list(recovery_dir().glob(f"{DROPPED_PREFIX}*"))


def test_a_save_deletes_the_recovery_copy_off_the_gui_thread(controller, qtbot, tmp_path, unlink_gate):
    gate, threads = unlink_gate
    for seed in range(2):
        controller.project.add_take(np.full((4, 32, 48, 3), 40 * seed, np.uint8),
                                    GenerationRequest(prompt="x", seed=seed))
    controller.autosave_now()
    assert controller.recovery_path.is_file()
    with qtbot.waitSignal(controller.saved, timeout=TIMEOUT):
        controller.save_to(tmp_path / "saved.adsproj")
    # Gone from its name at once (the next autosave may write it again), deleted meanwhile.
    assert not controller.recovery_path.exists() and len(dropped_files()) == 1
    qtbot.waitUntil(lambda: bool(threads), timeout=TIMEOUT)
    beats = heartbeat(controller)
    qtbot.waitUntil(lambda: beats[0] >= 3, timeout=TIMEOUT)  # the GUI thread runs meanwhile
    gate.set()
    qtbot.waitUntil(lambda: not dropped_files(), timeout=TIMEOUT)
    assert threading.main_thread() not in threads


def test_a_file_a_killed_process_left_is_swept_at_the_next_start(controller, qtbot):
    recovery_dir().mkdir(parents=True)
    left = recovery_dir() / f"{DROPPED_PREFIX}0123-autosave-{'a' * 32}.adsproj"
    left.write_bytes(b"x" * 1024)
    assert controller.offer_recovery() is False  # not taken for a crashed window's takes
    qtbot.waitUntil(lambda: not left.exists(), timeout=TIMEOUT)


def test_closing_waits_until_the_dropped_copy_is_deleted(controller, qtbot, tmp_path):
    controller.project.add_take(np.zeros((4, 32, 48, 3), np.uint8), GenerationRequest(prompt="x", seed=1))
    controller.autosave_now()
    with qtbot.waitSignal(controller.saved, timeout=TIMEOUT):
        controller.save_to(tmp_path / "saved.adsproj")
    closed = []
    controller.shutdown(lambda: closed.append(dropped_files()))
    qtbot.waitUntil(lambda: bool(closed), timeout=TIMEOUT)
    assert closed == [[]] and not controller.recovery_path.exists()
