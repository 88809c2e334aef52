"""Finishing in the window: a take's menu and the Finish dialog make a NEW take linked to its
parent (interpolated, upscaled), on the worker thread with progress and cancel; the export
dialog applies both on the way out. Tiny random-weight IFNet and spandrel models are saved to
disk once; the references are the backend's own calls on the same files (proven against the
upstream IFNet and spandrel's call in tests/backend/test_finishing.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from safetensors.torch import save_file

from backend.finishing.interpolate import interpolate_frames, load_ifnet
from backend.finishing.upscale import load_upscaler, upscale_frames
from tests.backend.test_finishing import clip, compact, random_ifnet
from tests.gui.test_translations import chinese  # noqa: F401 - fixture

TIMEOUT = 120_000


@pytest.fixture(scope="session")
def finishing_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finishing-models")
    rife = folder / "flownet.safetensors"
    save_file({k: v.contiguous() for k, v in random_ifnet().state_dict().items()}, rife)
    upscaler = folder / "compact_x2.safetensors"
    save_file({k: v.contiguous() for k, v in compact(2).state_dict().items()}, upscaler)
    return SimpleNamespace(rife=rife, upscaler=upscaler)


def add_take(window, count: int = 4):
    frames = clip(count)
    request = window.request_from_form().replace(fps=8, seed=7)
    take = window.project.add_take(frames, request, name="Take 1")
    window.takes.select(take)
    return take, frames


def menu_action(window, take, text: str):
    """The take's right-click menu, opened on its item; the action whose text starts so."""
    takes = window.takes
    row = window.project.takes.index(take)
    point = takes.list.visualItemRect(takes.list.item(row)).center()
    takes.list.customContextMenuRequested.emit(point)
    menu = takes.context_menu
    assert menu.objectName() == "takeContextMenu" and menu.accessibleName()
    action = next(a for a in menu.actions() if a.text().startswith(text))
    menu.close()
    return action


def finish(window, qtbot, dialog):
    with qtbot.waitSignal(window.controller.finishing_done, timeout=TIMEOUT):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    return window.project.takes[-1]


def test_interpolate_x2_from_the_menu_makes_a_new_take_linked_to_its_parent(window, qtbot, finishing_models):
    parent, frames = add_take(window)
    menu_action(window, parent, "Interpolate ×2").trigger()
    dialog = window.finish_dialog
    assert dialog.isVisible() and dialog.objectName() == "finishDialog"
    assert dialog.fields.interpolate.currentData() == 2 and not dialog.fields.upscale.isChecked()
    dialog.fields.interpolation_model.set_model(str(finishing_models.rife))
    take = finish(window, qtbot, dialog)
    assert not dialog.isVisible()
    expected = interpolate_frames(frames, load_ifnet(finishing_models.rife), 2)
    assert take is not parent and take.parent == parent.id and take.name == "Take 2"
    assert np.array_equal(window.project.frames(take), expected)
    assert np.array_equal(window.project.frames(parent), frames)  # never overwritten
    assert take.frame_count == 7 and take.fps == 16 and parent.fps == 8
    item = window.takes.list.item(1)
    assert item.text().startswith("Take 2 ← Take 1") and "×2" in item.text()
    assert "Made from Take 1" in item.toolTip() and "flownet.safetensors" in item.toolTip()
    assert window.player.frame_count == 7 and window.player.fps == 16  # shown and playing
    assert window.player.playing
    export = window.export_clip()  # named after the finished take, recording how it was made
    assert "take2" in export.path.text() and export.recorded == take.finishing
    export.reject()


def test_upscale_a_finished_take_chains_the_record(window, qtbot, finishing_models):
    parent, frames = add_take(window, 3)
    window.takes.finishRequested.emit(parent, {"interpolate": 2})
    window.finish_dialog.fields.interpolation_model.set_model(str(finishing_models.rife))
    middle = finish(window, qtbot, window.finish_dialog)
    menu_action(window, middle, "Upscale").trigger()
    dialog = window.finish_dialog
    assert dialog.fields.upscale.isChecked() and dialog.fields.interpolate.currentData() is None
    dialog.fields.upscale_model.set_model(str(finishing_models.upscaler))
    take = finish(window, qtbot, dialog)
    expected = upscale_frames(window.project.frames(middle), load_upscaler(finishing_models.upscaler))
    assert np.array_equal(window.project.frames(take), expected) and take.size == (128, 128)
    assert take.parent == middle.id and [s["step"] for s in take.finishing] == ["interpolate", "upscale"]
    assert take.fps == 16
    assert window.takes.list.item(2).text().startswith("Take 3 ← Take 2")


def test_cancel_stops_the_job_and_makes_no_take(window, qtbot, finishing_models):
    parent, _ = add_take(window, 12)
    window.takes.finishRequested.emit(parent, {"interpolate": 4})
    dialog = window.finish_dialog
    dialog.fields.interpolation_model.set_model(str(finishing_models.rife))
    cancelled = []

    def cancel_at_first_pair(job_id, info):  # in the worker thread: deterministic timing
        if info.get("phase") == "interpolating" and info.get("step") == 1 and not cancelled:
            cancelled.append(job_id)
            window.controller.cancel_current()

    window.controller.worker.progress.connect(cancel_at_first_pair, Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(window.controller.job_failed, timeout=TIMEOUT) as failed:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    window.controller.worker.progress.disconnect(cancel_at_first_pair)
    assert failed.args[1] == "cancelled" and cancelled
    assert len(window.project.takes) == 1 and dialog.isVisible()
    assert dialog.message.text() == "Cancelled; no take was made." and dialog.start_button.isEnabled()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)  # now it closes
    assert not dialog.isVisible()


def test_the_wrong_weights_are_said_in_the_dialog(window, qtbot, finishing_models):
    parent, _ = add_take(window)
    window.takes.finishRequested.emit(parent, {"interpolate": 2})
    dialog = window.finish_dialog
    dialog.fields.interpolation_model.set_model(str(finishing_models.upscaler))
    with qtbot.waitSignal(window.controller.job_failed, timeout=TIMEOUT):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert "RIFE v4.25/v4.26 IFNet" in dialog.message.text()
    assert len(window.project.takes) == 1


def test_export_interpolates_and_upscales_on_the_way_out(window, qtbot, finishing_models, tmp_path):
    from backend.media.metadata import read_metadata
    from backend.media.reader import probe, read_frames

    parent, frames = add_take(window)
    dialog = window.export_clip()
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("webp"))
    dialog.path.setText(str(tmp_path / "out.webp"))
    dialog.finishing.preset(2, True)
    dialog.finishing.interpolation_model.set_model(str(finishing_models.rife))
    dialog.finishing.upscale_model.set_model(str(finishing_models.upscaler))
    dialog.start()
    with qtbot.waitSignal(dialog.job.finished, timeout=TIMEOUT):
        pass
    dialog.wait()
    written = read_frames(tmp_path / "out.webp")
    expected = upscale_frames(interpolate_frames(frames, load_ifnet(finishing_models.rife), 2),
                              load_upscaler(finishing_models.upscaler))
    assert np.array_equal(written, expected)
    assert probe(tmp_path / "out.webp").fps == pytest.approx(16, rel=0.05)
    assert [s["step"] for s in read_metadata(tmp_path / "out.webp")["finishing"]] == ["interpolate", "upscale"]
    assert len(window.project.takes) == 1  # the take itself stays as it is


def test_every_new_widget_is_named(window, finishing_models):
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QProgressBar, QWidget

    parent, _ = add_take(window)
    window.takes.finishRequested.emit(parent, {})
    dialog = window.finish_dialog
    missing = [f"{type(w).__name__} {w.objectName()!r}"
               for w in dialog.findChildren(QWidget)
               if isinstance(w, (QAbstractButton, QComboBox, QProgressBar))
               if w.isVisibleTo(dialog) and not (w.objectName() and w.accessibleName())]
    assert missing == []
    dialog.reject()
    window.finish_action.trigger()  # Generate › Finish the selected take…
    assert window.finish_dialog is not dialog and window.finish_dialog.isVisible()
    window.finish_dialog.reject()


def test_the_finish_dialog_and_menu_are_chinese(qtbot, chinese, window, finishing_models):  # noqa: F811
    from tests.gui.test_translations import menu_texts, untranslated, untranslated_words

    take = window.project.add_take(clip(3), window.request_from_form().replace(fps=8), name="镜头 1")
    window.takes.select(take)
    window.takes.finishRequested.emit(take, {"interpolate": 2})
    dialog = window.finish_dialog
    slipped = untranslated(dialog) + untranslated(window.takes)
    point = window.takes.list.visualItemRect(window.takes.list.item(0)).center()
    window.takes.list.customContextMenuRequested.emit(point)
    slipped += [t for t in menu_texts(window.takes.context_menu) if untranslated_words(t)]
    window.takes.context_menu.close()
    dialog.reject()
    assert slipped == [], "\n".join(slipped)
