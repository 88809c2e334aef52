"""The Guidance section and the lanes under the player, in the real window on the tiny models:
a control from a clip previewed in its lane, a keyframe image dropped on a frame, dragged and
deleted, a prompt-travel marker moved, Shift+drop of a video, a pose control previewed with the
tiny pose models, and a controlled clip generated."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from backend.core.guidance import ControlSpec
from tests.backend.test_guided_reference import guided_files  # noqa: F401 - session fixture
from tests.backend.test_pose_preprocessor import tiny_pose_cache  # noqa: F401 - module fixture
from tests.gui.test_window import TIMEOUT


def drop(widget, path, x: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(x, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, modifiers)
    widget.dropEvent(event)


def frame_x(lanes, frame: int) -> int:
    return lanes.cell(frame, 1).center().x()


@pytest.fixture()
def guided_window(window, guided_files, clip_folder):  # noqa: F811
    window.sections["guidance"].set_open(True)
    window.guidance.add_control(ControlSpec(str(guided_files.controlnet), str(clip_folder), "canny"))
    return window


def test_control_lane_previews_before_generating(guided_window, clip_frames, qtbot):
    lanes = guided_window.lanes
    assert lanes.objectName() == "guidanceLanes" and lanes.accessibleName()
    with qtbot.waitSignal(lanes.previewReady, timeout=60_000):
        assert lanes.preview_control()
    assert len(lanes.thumbnails) == len(clip_frames)


def test_control_preview_runs_off_the_gui_thread(guided_window, qtbot, monkeypatch):
    """A preprocessor may download its model first: the window keeps serving events meanwhile,
    and a failure arrives as a message."""
    import threading

    from backend.core.errors import InputError
    from backend.models import preprocessors

    release, threads = threading.Event(), []

    def slow(*_args, **_kwargs):
        threads.append(threading.current_thread())
        assert release.wait(60)
        raise InputError("preprocess=depth needs its model, which cannot be downloaded now")

    monkeypatch.setattr(preprocessors, "preprocessed_frames", slow)
    lanes = guided_window.lanes
    assert lanes.preview_control()  # returns while the preprocessor is still working
    qtbot.waitUntil(lambda: bool(threads))
    assert threads[0] is not threading.main_thread()
    assert not guided_window.guidance.preview_button.isEnabled()  # one preview at a time
    with qtbot.waitSignal(lanes.previewFailed, timeout=60_000) as failed:
        release.set()
    assert "cannot be downloaded" in failed.args[0]
    assert guided_window.guidance.preview_button.isEnabled()
    assert "cannot be downloaded" in guided_window.status_label.text()


def test_pose_control_is_offered_and_previewed(window, guided_files, clip_folder, clip_frames,  # noqa: F811
                                              tiny_pose_cache, monkeypatch, tmp_path, qtbot):  # noqa: F811
    from huggingface_hub import constants
    from PySide6.QtWidgets import QComboBox

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tiny_pose_cache))
    monkeypatch.setenv("ANIMATEDIFF_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    window.sections["guidance"].set_open(True)
    window.guidance.add_control(ControlSpec(str(guided_files.controlnet), str(clip_folder), "pose"))
    combo = window.guidance.findChild(QComboBox, "controlPreprocessCombo0")
    assert combo.findData("pose") >= 0 and combo.currentData() == "pose"
    assert window.request_from_form().controls[0].preprocess == "pose"
    with qtbot.waitSignal(window.lanes.previewReady, timeout=60_000):
        assert window.lanes.preview_control()
    assert len(window.lanes.thumbnails) == len(clip_frames)


def test_keyframe_drop_drag_delete(guided_window, qtbot, clip_folder):
    lanes, guidance = guided_window.lanes, guided_window.guidance
    image = sorted(clip_folder.iterdir())[0]
    drop(lanes, image, frame_x(lanes, 3))
    assert [(k.frame, k.image) for k in guidance.keyframe_list()] == [(3, str(image))]
    y = lanes.cell(3, 1).center().y()
    qtbot.mousePress(lanes, Qt.MouseButton.LeftButton, pos=QPoint(frame_x(lanes, 3), y))
    qtbot.mouseRelease(lanes, Qt.MouseButton.LeftButton, pos=QPoint(frame_x(lanes, 6), y))
    assert [k.frame for k in guidance.keyframe_list()] == [6]
    lanes.setFocus()
    qtbot.keyClick(lanes, Qt.Key.Key_Delete)
    assert guidance.keyframe_list() == []


def test_prompt_travel_marker_moves(guided_window, qtbot):
    lanes, prompt = guided_window.lanes, guided_window.prompt
    prompt.set_travel({2: "a red sky"})
    y = lanes.cell(2, 2).center().y()
    qtbot.mousePress(lanes, Qt.MouseButton.LeftButton, pos=QPoint(frame_x(lanes, 2), y))
    qtbot.mouseRelease(lanes, Qt.MouseButton.LeftButton, pos=QPoint(frame_x(lanes, 5), y))
    assert prompt.travel_prompts() == {5: "a red sky"}


def test_shift_drop_makes_the_control_source(window, tmp_path, clip_folder):
    drop(window, clip_folder, 10, Qt.KeyboardModifier.ShiftModifier)
    assert window.guidance.read()["controls"][0].source == str(clip_folder)
    assert window.parameters.read().get("input_video") in (None, "")


def test_generate_a_controlled_clip(guided_window, qtbot, clip_frames):
    request = guided_window.request_from_form()
    assert request.controls[0].preprocess == "canny"
    with qtbot.waitSignal(guided_window.controller.job_finished, timeout=TIMEOUT) as finished:
        guided_window.generate()
    _job, result = finished.args
    assert result.frames.shape == (len(clip_frames), 64, 64, 3)
    take = guided_window.project.takes[-1]
    assert take.inputs["control_0"][0] == len(clip_frames)
    edges = np.asarray(Image.fromarray(result.inputs["control_0"][0]))
    assert edges.shape == clip_frames[0].shape
