"""The timeline player: thumbnails, play/pause, stepping, loop modes, in/out range, keys,
copy/save frame and exporting a range from the dialog."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from backend.media.reader import probe, read_frames
from backend.project.settings import Settings
from gui.player import LOOP_MODES, TimelinePlayer, frame_at


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def numbered(count: int, width: int = 48, height: int = 32) -> np.ndarray:
    return np.stack([np.full((height, width, 3), (10 * i) % 256, dtype=np.uint8) for i in range(count)])


@pytest.fixture()
def player(qtbot):
    widget = TimelinePlayer()
    qtbot.addWidget(widget)
    widget.resize(640, 480)
    widget.show()
    widget.clock = FakeClock()
    widget.set_frames(numbered(10), fps=8)
    return widget


def advance(player: TimelinePlayer, seconds: float) -> None:
    player.clock.now += seconds
    player._tick()


def test_n_frames_give_n_thumbnails(player):
    assert len(player.strip.thumbnails) == 10
    assert player.frame_slider.maximum() == 9
    player.set_frames(numbered(23), fps=12)
    assert len(player.strip.thumbnails) == 23 and player.fps == 12
    assert player.counter.text().startswith("1 / 23")


def test_play_advances_on_the_clock_and_pause_stops(player):
    player.play()
    assert player.playing and player.play_button.isChecked()
    advance(player, 0.124)
    assert player.current == 0
    advance(player, 0.002)  # 0.126 s at 8 fps: frame 1
    assert player.current == 1
    advance(player, 0.5)  # 0.626 s: frame 5, frames 2-4 skipped rather than slowing down
    assert player.current == 5
    player.pause()
    assert not player.playing
    advance(player, 1.0)
    assert player.current == 5


def test_loop_wraps(player):
    player.play()
    advance(player, 10 / 8 + 0.01)  # one full pass: back at frame 0
    assert player.current == 0 and player.playing


def test_once_stops_at_the_end(player):
    player.set_loop_mode("once")
    player.play()
    advance(player, 3.0)
    assert player.current == 9 and not player.playing


def test_pingpong(player):
    player.set_loop_mode("pingpong")
    player.play()
    seen = []
    for _ in range(20):
        advance(player, 1 / 8)
        seen.append(player.current)
    assert seen[:12] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 7, 6]


@pytest.mark.parametrize("mode", LOOP_MODES)
def test_frame_at_stays_in_range(mode):
    for position in range(100):
        index, _ = frame_at(position, 3, 7, mode)
        assert 3 <= index <= 7


def test_step_and_ends(player):
    player.next()
    player.next()
    assert player.current == 2
    player.previous()
    assert player.current == 1
    player.last()
    assert player.current == 9
    player.next()  # wraps to the start of the range
    assert player.current == 0
    player.previous()
    assert player.current == 9
    player.first()
    assert player.current == 0


def test_in_out_range_limits_playback_and_stepping(player):
    player.seek(3)
    player.set_in_point()
    player.seek(6)
    player.set_out_point()
    assert (player.in_point, player.out_point) == (3, 6)
    assert (player.strip.in_point, player.strip.out_point) == (3, 6)
    assert player.range_frames().shape[0] == 4
    player.first()
    player.play()
    seen = set()
    for _ in range(16):
        advance(player, 1 / 8)
        seen.add(player.current)
    assert seen == {3, 4, 5, 6}
    player.pause()
    player.seek(6)
    player.next()
    assert player.current == 3


def test_keys(player, qtbot):
    player.setFocus()
    qtbot.keyClick(player, Qt.Key.Key_Right)
    qtbot.keyClick(player, Qt.Key.Key_Right)
    assert player.current == 2
    qtbot.keyClick(player, Qt.Key.Key_Left)
    assert player.current == 1
    qtbot.keyClick(player, Qt.Key.Key_End)
    assert player.current == 9
    qtbot.keyClick(player, Qt.Key.Key_Home)
    assert player.current == 0
    qtbot.keyClick(player, Qt.Key.Key_Right)
    qtbot.keyClick(player, Qt.Key.Key_I)
    qtbot.keyClick(player, Qt.Key.Key_End)
    qtbot.keyClick(player, Qt.Key.Key_Left)
    qtbot.keyClick(player, Qt.Key.Key_O)
    assert (player.in_point, player.out_point) == (1, 8)
    qtbot.keyClick(player, Qt.Key.Key_L)
    assert player.loop_mode == "pingpong"
    qtbot.keyClick(player, Qt.Key.Key_L)
    assert player.loop_mode == "once"
    qtbot.keyClick(player, Qt.Key.Key_Space)
    assert player.playing
    qtbot.keyClick(player, Qt.Key.Key_Space)
    assert not player.playing


def test_slider_and_thumbnail_click_seek(player, qtbot):
    player.frame_slider.setValue(7)
    assert player.current == 7 and player.strip.current == 7
    rect = player.strip.cell_rect(4)
    qtbot.mouseClick(player.strip, Qt.MouseButton.LeftButton, pos=rect.center())
    assert player.current == 4


def test_preview_then_final_frames(player):
    preview = numbered(10, 6, 4)
    player.seek(5)
    player.set_frames(preview, preview=True)
    assert player.is_preview and player.current == 5 and not player.export_button.isEnabled()
    # The decoded frames replace the preview under the playhead.
    player.set_frames(numbered(10))
    assert not player.is_preview and player.current == 5 and player.export_button.isEnabled()
    # A new take starts from its first frame.
    player.set_frames(numbered(10))
    assert player.current == 0


def test_copy_and_save_frame(player, tmp_path):
    player.seek(3)
    assert player.copy_frame()
    image = QGuiApplication.clipboard().image()
    assert (image.width(), image.height()) == (48, 32)
    assert image.pixelColor(0, 0).red() == 30
    saved = player.save_frame(str(tmp_path / "still"))
    assert saved.name == "still.png"
    assert np.array_equal(np.asarray(Image.open(saved)), player.frames[3])


def test_memory_is_the_raw_frames(player):
    frames = numbered(64, 256, 256)
    player.set_frames(frames, fps=8)
    assert np.shares_memory(player.frames, frames)  # no copy of the clip
    thumbs = sum(t.nbytes for t in player.strip.thumbnails)
    assert thumbs < 0.05 * frames.nbytes


@pytest.mark.parametrize("kind,suffix", [("gif", ".gif"), ("mp4", ".mp4"), ("folder", "")])
def test_export_dialog_writes_the_range(player, qtbot, tmp_path, kind, suffix):
    from gui.export_dialog import ExportDialog

    player.set_in_point(2)
    player.set_out_point(7)
    settings = Settings()
    dialog = ExportDialog(None, player, None, settings)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData(kind))
    dialog.path.setText(str(tmp_path / f"range{suffix}"))
    dialog.fps.setValue(12)
    with qtbot.waitSignal(dialog.bar.valueChanged, timeout=30000, check_params_cb=lambda v: v == dialog.bar.maximum()):
        dialog.start()
        dialog.wait()
    qtbot.waitUntil(lambda: hasattr(dialog, "written"), timeout=30000)
    target = tmp_path / f"range{suffix}"
    frames = read_frames(target)
    assert len(frames) == 6
    assert [round(f.mean() / 10) for f in frames] == [2, 3, 4, 5, 6, 7]
    if kind != "folder":
        assert probe(target).fps == pytest.approx(12, rel=0.02)
    assert settings.export["format"] == kind and settings.export["folder"] == str(tmp_path)


def test_export_dialog_scales_and_remembers(player, qtbot, tmp_path):
    from gui.export_dialog import ExportDialog

    settings = Settings(export={"format": "webp", "size": "2x", "folder": str(tmp_path)})
    dialog = ExportDialog(None, player, None, settings)
    qtbot.addWidget(dialog)
    assert dialog.format.currentData() == "webp" and dialog.size_choice.currentData() == "2x"
    assert dialog.path.text() == str(tmp_path / "animation.webp")
    # The greyed size fields show what "2x" makes, not the original size.
    assert (dialog.custom_width.value(), dialog.custom_height.value()) == (96, 64)
    dialog.start()
    dialog.wait()
    qtbot.waitUntil(lambda: hasattr(dialog, "written"), timeout=30000)
    assert read_frames(tmp_path / "animation.webp").shape == (10, 64, 96, 3)
    # After an export the button reads Close; a second export makes it Cancel again.
    assert dialog.cancel_button.text() == "Close"
    dialog.path.setText(str(tmp_path / "second.webp"))
    dialog.start()
    assert dialog.cancel_button.text() == "Cancel"
    dialog.wait()
    qtbot.waitUntil(lambda: (tmp_path / "second.webp").exists(), timeout=30000)


def test_export_failure_is_shown(player, qtbot, tmp_path):
    from gui.export_dialog import ExportDialog

    dialog = ExportDialog(None, player, None, Settings())
    qtbot.addWidget(dialog)
    dialog.path.setText(str(tmp_path / "missing-folder" / "x.gif"))
    dialog.start()
    dialog.wait()
    qtbot.waitUntil(lambda: "does not exist" in dialog.message.text(), timeout=30000)
    assert dialog.message.text().endswith(".")
    assert dialog.export_button.isEnabled()


def test_export_runs_on_a_worker_thread(player, qtbot, tmp_path, monkeypatch):
    """The dialog stays responsive while the writer works: the writer runs in the export
    QThread, not the GUI thread, and an unexpected error comes back as a sentence."""
    import threading

    import backend.media.writer
    from gui.export_dialog import ExportDialog

    release, writer_threads = threading.Event(), []
    real_write = backend.media.writer.write_clip

    def slow_write(frames, path, *args, **kwargs):
        writer_threads.append(threading.get_ident())
        assert release.wait(30)
        if path.name == "broken.gif":
            raise RuntimeError("the disk went away")
        return real_write(frames, path, *args, **kwargs)

    monkeypatch.setattr(backend.media.writer, "write_clip", slow_write)
    dialog = ExportDialog(None, player, None, Settings())
    qtbot.addWidget(dialog)
    dialog.path.setText(str(tmp_path / "slow.gif"))
    dialog.start()
    try:
        qtbot.waitUntil(lambda: bool(writer_threads), timeout=10000)
        assert writer_threads[0] != threading.get_ident()
        assert dialog.job.running and not dialog.export_button.isEnabled()
        ticks = []
        qtbot.waitUntil(lambda: ticks.append(1) or len(ticks) > 3, timeout=2000)  # GUI thread runs
    finally:
        release.set()
    qtbot.waitUntil(lambda: hasattr(dialog, "written"), timeout=30000)
    assert (tmp_path / "slow.gif").is_file()
    dialog.wait()
    assert not dialog.job.running

    dialog.path.setText(str(tmp_path / "broken.gif"))
    dialog.start()
    qtbot.waitUntil(lambda: "disk went away" in dialog.message.text(), timeout=30000)
    assert dialog.message.text() == "The export failed: RuntimeError: the disk went away."
    assert not (tmp_path / "broken.gif").exists()


def test_thumbnails_keep_their_shape():
    from PySide6.QtCore import QRect

    from gui.player import fit_thumbnail

    # A square thumbnail in a wide cell: drawn square and centred, not stretched.
    target, source = fit_thumbnail(QRect(100, 4, 80, 40), 40, 40)
    assert (target.width(), target.height(), target.left()) == (40, 40, 120) and source == QRect(0, 0, 40, 40)
    # A wide thumbnail in a narrow cell: its middle part at the cell's shape.
    target, source = fit_thumbnail(QRect(0, 4, 20, 40), 70, 40)
    assert target == QRect(0, 4, 20, 40) and source == QRect(25, 0, 20, 40)
