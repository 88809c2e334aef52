"""Issue 20: the window keeps its promises: it refuses what cannot fit, keeps each take's own
view, and never changes what the user did not ask to change."""

from __future__ import annotations

import numpy as np
import pytest


def test_a_job_that_cannot_fit_is_refused_with_the_command_lines_sentence(window, capsys, tmp_path,
                                                                         monkeypatch):
    from backend.cli.commands import main as cli_main
    from backend.core.limits import available_memory

    frames, side = 1024, 2048
    if frames * side * side * 15 < available_memory():
        pytest.skip("this machine has room for 1024 frames of 2048x2048")
    code = cli_main(["generate", "--prompt", "x", "--frames", str(frames), "--width", str(side),
                     "--height", str(side), "--output", str(tmp_path / "out.mp4")])
    assert code == 2
    said = capsys.readouterr().err.strip().splitlines()[-1]
    sentence = said.split("generate: ", 1)[1].split(" free")[0]  # the free figure moves
    p = window.parameters
    p.frames.setValue(frames)
    p.width_spin.setValue(side)
    p.height_spin.setValue(side)
    started = []  # had it started, it would grow until the kernel killed the test run
    monkeypatch.setattr(window.controller, "enqueue", started.append)
    window.generate()
    assert not started
    assert window.error_banner.isVisible() and sentence in window.error_banner.text()


def add_takes(window, count: int = 2, frames: int = 16):
    from backend.core.request import GenerationRequest

    clip = np.zeros((frames, 64, 64, 3), np.uint8)
    return [window.project.add_take(clip, GenerationRequest(prompt=f"take {n}", seed=40 + n, frames=frames))
            for n in range(count)]


def test_in_out_points_and_zoom_belong_to_the_take_shown(window):
    first, second = add_takes(window)
    window.takes.refresh()
    window.show_take(first)
    player = window.player
    player.set_in_point(4)
    player.set_out_point(10)
    player.zoom_combo.setCurrentIndex(2)
    assert len(player.range_frames()) == 7
    # A new job's preview, then its finished clip: the take it makes has its whole range.
    preview = np.zeros((16, 64, 64, 3), np.uint8)
    player.set_frames(preview, 8, preview=True)
    player.set_frames(preview, 8, request=first.request)
    assert (player.in_point, player.out_point) == (0, 15) and player.zoom_combo.currentData() == "fit"
    window.show_take(first)
    player.set_in_point(4)
    player.set_out_point(10)
    window.show_take(second)
    assert len(player.range_frames()) == 16


def test_looking_at_a_take_keeps_random_seed_as_it_was(window):
    take = add_takes(window, 1)[0]
    window.parameters.random_seed.setChecked(True)
    window.show_take(take)
    assert window.parameters.random_seed.isChecked()
    assert window.parameters.seed.value() == take.request.seed  # its settings are shown
    assert window.request_from_form().seed != take.request.seed or take.request.seed == 0


def test_exports_are_named_by_take_and_seed_and_ask_before_overwriting(window, qtbot, tmp_path,
                                                                      monkeypatch):
    from gui.export_dialog import ExportDialog

    first, second = add_takes(window)
    window.takes.refresh()
    window.settings.export = {"folder": str(tmp_path), "format": "gif"}

    def export(take):
        window.show_take(take)
        dialog = window.export_clip()
        dialog.format.setCurrentIndex(dialog.format.findData("gif"))
        return dialog

    written = []
    for take in (first, second):
        dialog = export(take)
        dialog.start()
        dialog.wait()
        qtbot.waitUntil(lambda d=dialog: hasattr(d, "written"), timeout=30000)
        written.append(dialog._target())
        dialog.close()
    assert [p.name for p in written] == [f"Untitled-take1-seed{first.request.seed}.gif",
                                         f"Untitled-take2-seed{second.request.seed}.gif"]
    before = written[0].read_bytes()
    asked = []
    monkeypatch.setattr(ExportDialog, "ask_overwrite", lambda self, target: asked.append(target) or False)
    dialog = export(first)
    dialog.start()
    assert asked == [written[0]] and dialog.job is None and written[0].read_bytes() == before
    dialog.close()
