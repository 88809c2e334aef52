"""Projects in the window: takes appear as they are made, save/open, re-run, vary seed,
rename, favourite, delete and undo, compare, autosave and crash recovery, opening from argv."""

from __future__ import annotations

import shutil

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from backend.project.project_file import Project

TIMEOUT = 120_000


def generate(window, qtbot, seed: int) -> None:
    window.parameters.seed.setValue(seed)
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.generate()


def test_takes_are_kept_saved_and_reopened(window, qtbot, tmp_path):
    generate(window, qtbot, 1)
    generate(window, qtbot, 2)
    assert window.takes.list.count() == 2
    assert window.windowTitle().startswith("Untitled*")
    with qtbot.waitSignal(window.projects.saved, timeout=TIMEOUT):
        assert window.projects.save_to(tmp_path / "storm.adsproj")
        # Named after its file before the write (issue 20), which runs on its own thread.
        assert window.windowTitle().startswith("storm* (saving…)")
    assert window.windowTitle().startswith("storm —")
    frames_two = window.project.frames(window.project.takes[1])

    window.new_project()
    assert window.takes.list.count() == 0 and window.player.frame_count == 0
    assert window.open_project(str(tmp_path / "storm.adsproj"))
    assert window.takes.list.count() == 2
    first = window.project.takes[0]
    window.takes.select(first)
    assert window.parameters.seed.value() == 1
    assert window.player.frame_count == 8
    window.takes.select(window.project.takes[1])
    assert np.array_equal(window.player.frames, frames_two)
    assert str(tmp_path / "storm.adsproj") in window.settings.recent_projects


def test_rerun_and_vary_seed(window, qtbot):
    generate(window, qtbot, 3)
    take = window.project.takes[0]
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.takes.rerunRequested.emit(take)
    assert np.array_equal(window.project.frames(window.project.takes[1]), window.project.frames(take))
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.takes.varySeedRequested.emit(take)
    varied = window.project.takes[2]
    assert varied.request.seed != take.request.seed
    assert varied.request.replace(seed=take.request.seed) == take.request



def test_vary_seed_on_a_reopened_project_shows_the_new_take(window, qtbot, tmp_path):
    generate(window, qtbot, 3)
    with qtbot.waitSignal(window.projects.saved, timeout=TIMEOUT):
        window.projects.save_to(tmp_path / "one.adsproj")
    window.open_project(str(tmp_path / "one.adsproj"))  # a project with takes: nothing to follow
    take = window.project.takes[0]
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.takes.varySeedRequested.emit(take)
    varied = window.project.takes[1]
    assert np.array_equal(window.player.frames, window.project.frames(varied))


def test_rename_favourite_delete_undo(window, qtbot):
    generate(window, qtbot, 4)
    generate(window, qtbot, 5)
    first, second = window.project.takes
    window.takes.rename(first, "keeper")
    window.takes.toggle_favourite(first)
    window.takes.edit_notes(first, "smooth camera, keep")
    assert first.name == "keeper" and first.favourite and first.notes == "smooth camera, keep"
    assert "smooth camera" in window.takes.list.item(0).toolTip()
    assert window.takes.list.item(0).text().startswith("★ keeper")
    window.takes.delete(second)
    assert [t.name for t in window.project.takes] == ["keeper"]
    window.takes.undo_delete()
    assert [t.id for t in window.project.takes] == [first.id, second.id]


def test_compare_two_takes_in_sync(window, qtbot):
    generate(window, qtbot, 6)
    generate(window, qtbot, 7)
    a, b = window.project.takes
    window.compare_takes(a, b)
    dialog = window.compare_dialog
    qtbot.addWidget(dialog)
    dialog.left.seek(5)
    assert dialog.right.current == 5
    dialog.left.next()
    assert dialog.right.current == 6
    dialog.close()


def test_autosave_and_recovery_after_a_crash(window, qtbot, demo_models, tmp_path):
    from gui.main_window import MainWindow

    generate(window, qtbot, 8)
    frames = window.project.frames(window.project.takes[0]).copy()
    window.autosave_now()
    assert window.recovery_path.is_file()
    # A crashed window leaves its recovery file behind, its lock released by the OS.
    crashed = window.recovery_path.with_name("autosave-" + "d" * 32 + ".adsproj")
    shutil.copy(window.recovery_path, crashed)
    other = MainWindow(settings_path=tmp_path / "other.json")
    qtbot.addWidget(other)
    try:
        assert other.offer_recovery()
        assert len(other.project.takes) == 1 and other.project.dirty
        take = other.project.takes[0]
        assert take.request.seed == 8
        assert not crashed.exists()
        # The frames came back, and are safe in the new window's own recovery file at once.
        other.projects.wait_writes()
        assert other.recovery_path.is_file()
        assert np.array_equal(other.project.frames(take), frames)
        saved = Project.open(other.recovery_path)
        assert np.array_equal(saved.frames(saved.takes[0]), frames)
    finally:
        other.close()


def test_running_windows_recovery_file_is_not_offered(window, qtbot, tmp_path):
    from gui.main_window import MainWindow

    generate(window, qtbot, 8)
    window.autosave_now()
    other = MainWindow(settings_path=tmp_path / "other.json")
    qtbot.addWidget(other)
    try:
        assert not other.offer_recovery()  # the first window holds its lock: it is alive
        assert window.recovery_path.is_file()
    finally:
        other.close()


def test_autosave_runs_only_when_something_changed(window, qtbot):
    generate(window, qtbot, 8)
    window.autosave_now()
    first = window.recovery_path.stat().st_mtime_ns
    window.autosave_now()
    assert window.recovery_path.stat().st_mtime_ns == first
    window.project.takes[0].name = "renamed"
    window.project.touch()
    window.autosave_now()
    assert window.recovery_path.stat().st_mtime_ns != first
    assert Project.open(window.recovery_path).takes[0].name == "renamed"


def test_open_damaged_project_shows_error_and_keeps_work(window, qtbot, tmp_path):
    generate(window, qtbot, 9)
    bad = tmp_path / "bad.adsproj"
    bad.write_bytes(b"PK\x03\x04 broken")
    window.project.dirty = False  # nothing to ask about
    assert not window.open_project(str(bad))
    assert "damaged or truncated" in window.error_banner.text()
    assert len(window.project.takes) == 1 and bad.read_bytes() == b"PK\x03\x04 broken"


def test_main_opens_a_project_from_the_command_line(qtbot, tmp_path):
    from gui.app import main

    project = Project("cli")
    project.add_take(np.zeros((3, 16, 16, 3), np.uint8), __import__("backend.core.request").core.request.GenerationRequest(prompt="x", seed=1))
    path = project.save(tmp_path / "cli.adsproj")
    seen = {}

    def check_and_close() -> None:
        for widget in QApplication.topLevelWidgets():
            if widget.objectName() == "mainWindow" and widget.isVisible():
                seen["takes"] = len(widget.project.takes)
                seen["title"] = widget.windowTitle()
                widget.close()

    QTimer.singleShot(1500, check_and_close)
    assert main([str(path)]) == 0
    assert seen["takes"] == 1 and seen["title"].startswith("cli")


def test_export_after_select_generate_cancel_carries_that_takes_frames_and_settings(window, qtbot, tmp_path):
    from backend.media.metadata import read_metadata
    from backend.media.reader import read_frames

    generate(window, qtbot, 1)
    generate(window, qtbot, 2)
    chosen = window.project.takes[0]
    window.takes.select(chosen)
    window.parameters.steps.setValue(300)
    with qtbot.waitSignal(window.controller.job_preview, timeout=TIMEOUT):
        window.generate()
    assert window.player.is_preview
    with qtbot.waitSignal(window.controller.job_failed, timeout=TIMEOUT):
        window.cancel()
    assert not window.player.is_preview
    assert window.player.clip_request == chosen.request
    assert np.array_equal(window.player.frames, window.project.frames(chosen))
    dialog = window.export_clip()
    dialog.format.setCurrentIndex(dialog.format.findData("folder"))
    dialog.path.setText(str(tmp_path / "exported"))
    dialog.start()
    dialog.wait()
    qtbot.waitUntil(lambda: hasattr(dialog, "written"), timeout=30000)
    dialog.close()
    assert np.array_equal(read_frames(tmp_path / "exported"), window.project.frames(chosen))
    assert read_metadata(tmp_path / "exported" / "frame_00000.png")["request"]["seed"] == 1


def test_preview_never_replaces_a_take_picked_during_a_job(window, qtbot):
    generate(window, qtbot, 1)
    take = window.project.takes[0]
    window.parameters.steps.setValue(300)
    with qtbot.waitSignal(window.controller.job_preview, timeout=TIMEOUT):
        window.generate()
    window.takes.select(take)
    assert not window.player.is_preview
    with qtbot.waitSignal(window.controller.job_preview, timeout=TIMEOUT):
        pass  # another preview arrives...
    assert not window.player.is_preview  # ...and the player still shows the take
    assert window.player.clip_request == take.request
    with qtbot.waitSignal(window.controller.job_failed, timeout=TIMEOUT):
        window.cancel()


def test_take_made_on_the_command_line_with_the_top_seed_loads_into_the_window(window, tmp_path):
    from backend.core.request import GenerationRequest
    from backend.project.project_file import append_take

    request = GenerationRequest(prompt="x", width=64, height=64, frames=2, seed=2**32 - 1)
    append_take(tmp_path / "cli.adsproj", np.zeros((2, 64, 64, 3), np.uint8), request)
    assert window.open_project(str(tmp_path / "cli.adsproj"))
    window.takes.select(window.project.takes[0])
    assert window.parameters.seed.value() == 2**32 - 1
    window.parameters.random_seed.setChecked(False)
    assert window.request_from_form().seed == 2**32 - 1
