"""Issue 20: the window keeps its promises: it refuses what cannot fit, keeps each take's own
view, and never changes what the user did not ask to change."""

from __future__ import annotations

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
