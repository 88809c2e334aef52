"""The window never waits on disk or network: saves, autosaves, thumbnails and the Hub question
run off the GUI thread, closing never blocks, and no window code calls another object's private
members.

The checks are on structure, not on wall time: the disk or network work is held at a gate on
its own thread until a timer on the GUI thread has ticked, which can only happen if the GUI
thread is free meanwhile (done on the GUI thread, the test would wait at the gate instead).
How long the GUI thread stalls is measured by benchmarks/gui_responsiveness.py."""

from __future__ import annotations

import ast
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from backend.core.request import GenerationRequest
from backend.project.project_file import Project
from tests.gui.conftest import close_and_wait, use_hub_models

TIMEOUT = 120_000
GATE_S = 60.0


def add_takes(window, count: int) -> None:
    for seed in range(count):
        frames = np.full((4, 32, 48, 3), seed * 40, np.uint8)
        frames[:, :, : seed + 1] = 255
        window.project.add_take(frames, GenerationRequest(prompt=f"take {seed}", seed=seed))
    window.takes.refresh()


def heartbeat(owner) -> list[int]:
    """A 5 ms timer on the GUI thread; the list holds how often it has ticked."""
    beats = [0]
    timer = QTimer(owner)
    timer.setInterval(5)
    timer.timeout.connect(lambda: beats.__setitem__(0, beats[0] + 1))
    timer.start()
    return beats


@pytest.fixture
def png_gate(monkeypatch):
    """Every PNG encode records its thread, then waits at the gate until the test opens it."""
    gate, threads = threading.Event(), []
    real = Image.Image.save

    def save(image, *args, **kwargs):
        threads.append(threading.current_thread())
        gate.wait(GATE_S)
        return real(image, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    yield gate, threads
    gate.set()  # a failed test never leaves a write held


def gui_runs_while_held(qtbot, window, threads, gate) -> None:
    """Wait until the write is held at the gate and the GUI thread has ticked meanwhile."""
    qtbot.waitUntil(lambda: bool(threads), timeout=TIMEOUT)
    beats = heartbeat(window)
    qtbot.waitUntil(lambda: beats[0] >= 3, timeout=TIMEOUT)
    gate.set()


def test_a_save_encodes_on_its_own_thread_with_progress(window, qtbot, tmp_path, png_gate):
    gate, threads = png_gate
    add_takes(window, 3)
    progress = []
    window.projects.save_progress.connect(lambda done, total: progress.append((done, total)))
    path = tmp_path / "busy.adsproj"
    with qtbot.waitSignal(window.projects.saved, timeout=TIMEOUT):
        window.projects.save_to(path)
        assert "(saving…)" in window.windowTitle()
        assert window.save_status.bar.isVisible()
        gui_runs_while_held(qtbot, window, threads, gate)
    assert threads and threading.main_thread() not in threads
    assert progress[-1] == (3, 3) and not window.save_status.bar.isVisible()
    assert window.windowTitle().startswith("busy —")
    saved = Project.open(path)
    for ours, theirs in zip(window.project.takes, saved.takes, strict=True):
        assert np.array_equal(saved.frames(theirs), window.project.frames(ours))


def test_an_autosave_encodes_on_its_own_thread(window, qtbot, png_gate):
    gate, threads = png_gate
    add_takes(window, 2)
    window.autosave()
    assert window.projects.autosaving
    gui_runs_while_held(qtbot, window, threads, gate)
    qtbot.waitUntil(lambda: not window.projects.autosaving, timeout=TIMEOUT)
    assert threading.main_thread() not in threads
    assert len(Project.open(window.recovery_path).takes) == 2


def test_a_save_during_an_autosave_follows_it_without_waiting(window, qtbot, tmp_path, png_gate):
    gate, threads = png_gate
    add_takes(window, 2)
    window.autosave()
    path = tmp_path / "after.adsproj"
    assert window.projects.save_to(path)  # queued behind the autosave, returns at once
    assert window.projects.autosaving and not path.exists()
    with qtbot.waitSignal(window.projects.saved, timeout=TIMEOUT):
        gui_runs_while_held(qtbot, window, threads, gate)
    assert len(Project.open(path).takes) == 2 and not window.project.dirty
    assert not window.recovery_path.exists()  # saved: the recovery copy is no longer needed


def test_quitting_waits_for_the_save_and_says_so(qtbot, demo_models, tmp_path, png_gate):
    from gui.main_window import MainWindow

    gate, threads = png_gate
    win = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(win)
    win.show()
    add_takes(win, 2)
    path = tmp_path / "last.adsproj"
    win.projects.save_to(path)
    qtbot.waitUntil(lambda: bool(threads), timeout=TIMEOUT)
    win.close()
    assert win.isVisible() and "project is written" in win.status_label.text()
    gate.set()
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=TIMEOUT)
    assert len(Project.open(path).takes) == 2
    assert not win.controller.running and not win.recovery_path.exists()


def test_the_takes_strip_decodes_no_frame_on_the_gui_thread(window, qtbot, tmp_path, monkeypatch):
    project = Project("strip")
    for seed in range(3):
        project.add_take(np.full((4, 32, 48, 3), 60 * seed, np.uint8), GenerationRequest(prompt="x", seed=seed))
    path = project.save(tmp_path / "strip.adsproj")
    window.project.dirty = False
    assert window.open_project(str(path))  # the player reads the selected take: not the strip
    decoders = []
    real_open = Image.open

    def spy_open(*args, **kwargs):
        decoders.append(threading.current_thread())
        return real_open(*args, **kwargs)

    monkeypatch.setattr(Image, "open", spy_open)
    items = window.takes.list
    window.takes.thumbnails.keep_only(set())  # as if none were made yet
    for _ in range(3):
        window.takes.refresh()
    qtbot.waitUntil(lambda: all(not items.item(i).icon().isNull() for i in range(3)), timeout=TIMEOUT)
    assert decoders and threading.main_thread() not in decoders
    made = len(decoders)
    window.takes.refresh()
    assert all(not items.item(i).icon().isNull() for i in range(3))  # kept: shown at once
    assert len(decoders) == made


@pytest.fixture
def quick_deadline(monkeypatch):
    monkeypatch.setattr("gui.download_check.PLAN_DEADLINE_S", 0.5)


def test_a_hub_that_never_answers_is_said_within_the_deadline(window, qtbot, hub, asked, quick_deadline):
    hub.stall = True  # accepts the connection, never answers
    use_hub_models(window)
    beats = heartbeat(window)
    window.generate_button.click()
    assert window.download_check is not None and not window.error_banner.isVisible()
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=TIMEOUT)
    assert "did not answer within 0.5 s" in window.error_banner.text()
    assert beats[0] > 0 and asked == [] and window.controller.queue.running is None


def test_a_hung_name_lookup_hangs_nothing(window, qtbot, hub, asked, quick_deadline, monkeypatch):
    """A DNS lookup has no timeout of its own: one that never returns stops nothing."""
    looked_up, release = threading.Event(), threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "hub.invalid":
            looked_up.set()
            release.wait(GATE_S)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid")
    use_hub_models(window)
    window.generate_button.click()
    qtbot.waitUntil(looked_up.is_set, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=TIMEOUT)
    message = window.error_banner.text()
    assert "did not answer" in message and window.download_check is None
    release.set()  # the lookup fails late: its answer is dropped
    check = threading.enumerate()
    qtbot.waitUntil(lambda: not any(t.name == "download-plan" and t.is_alive() for t in check),
                    timeout=TIMEOUT)
    QApplication.processEvents()  # the late answer, queued as the thread ended
    assert window.error_banner.text() == message and window.controller.queue.running is None


def test_closing_an_idle_window_stops_the_worker(window, qtbot):
    qtbot.waitUntil(lambda: window.status_label.text().startswith("Ready"), timeout=TIMEOUT)
    close_and_wait(window)
    assert not window.isVisible() and not window.controller.running


def test_closing_while_models_load_says_what_the_worker_is_doing(window, qtbot):
    """Loading models cannot be interrupted: after a second the window says so, and closes
    when it ends (the job is cancelled at its first step)."""
    release = threading.Event()

    def hold(_job_id, info) -> None:  # in the worker thread, while it reports "loading"
        if info["phase"] == "loading":
            release.wait(GATE_S)

    window.controller.worker.progress.connect(hold, Qt.ConnectionType.DirectConnection)
    phases = []
    window.controller.job_progress.connect(lambda job, info: phases.append(info["phase"]))
    window.generate()
    qtbot.waitUntil(lambda: "loading" in phases, timeout=TIMEOUT)
    window.close()
    assert window.isVisible()
    qtbot.waitUntil(lambda: "Still loading models" in window.status_label.text(), timeout=TIMEOUT)
    release.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=TIMEOUT)
    assert not window.controller.running


def test_window_code_uses_no_private_member_of_another_object():
    """`x._name` only on self or cls in gui/: other objects are used through public names."""
    found = []
    for path in sorted(Path(__file__).resolve().parents[2].joinpath("gui").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    assert found == []
