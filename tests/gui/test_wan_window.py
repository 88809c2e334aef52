"""Wan in the window, on the tiny Wan demo models (built once per session): choosing one changes
the form (what does not apply is off, with the family's reason; Frames steps 4k+1; native
sizes; the card's fps and guidance; a Start image field where the model can use one), switching
back restores the AnimateDiff form as it was, and text- and image-to-video jobs give the plain
diffusers pipeline's frames, kept as takes that re-run alike from a saved project."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QWidget

from backend.families.registry import family_named
from tests.backend import wan_reference
from tests.gui.conftest import close_and_wait

TIMEOUT = 120_000
WAN = family_named("wan")


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """Every demo model the window offers, built once with the product's own code."""
    from backend.models.wan_demo_model import write_demo_set

    root = tmp_path_factory.mktemp("demo-set")
    write_demo_set(root)
    return str(root)


@pytest.fixture()
def wan_window(qtbot, demo_root, tmp_path, monkeypatch):
    from gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "demo_model_root", lambda self: demo_root)
    win = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(win)
    win.show()
    win.models.device.setCurrentText("cpu")
    win.models.dtype.setCurrentIndex(win.models.dtype.findData("float32"))
    win.parameters.random_seed.setChecked(False)
    win.parameters.seed.setValue(7)
    win.prompt.prompt.setPlainText("a lighthouse in a storm")
    yield win
    close_and_wait(win)


def choose(window, qtbot, text: str, family: str) -> None:
    window.models.base.set_text(text)
    qtbot.waitUntil(lambda: window.family_form.family.name == family, timeout=TIMEOUT)


def wan_label(shape: str) -> str:
    from gui.demo_entries import WAN_DEMO_LABELS

    return WAN_DEMO_LABELS[shape]


def test_the_demo_entry_offers_both_families(wan_window):
    from gui.demo_entries import DEMO_LABEL

    combo = wan_window.models.base.combo
    entries = [combo.itemText(i) for i in range(combo.count())]
    assert DEMO_LABEL in entries and wan_label("2.1") in entries and wan_label("2.2-ti2v") in entries


def test_choosing_wan_changes_the_form_and_switching_back_restores_it(wan_window, qtbot):
    from gui.demo_entries import DEMO_LABEL

    w, p = wan_window, wan_window.parameters
    choose(w, qtbot, DEMO_LABEL, "animatediff")
    # The user's own AnimateDiff settings, none of them defaults.
    p.frames.setValue(12)
    p.width_spin.setValue(96)
    p.fps.setValue(10)
    p.guidance.setValue(6.5)
    p.scheduler.setCurrentIndex(p.scheduler.findData("euler"))
    p.clip_skip.setValue(2)
    p.free_init.setValue(1)
    before = w.family_form.snapshot()
    clip_tip = p.clip_skip.toolTip()

    choose(w, qtbot, wan_label("2.2-ti2v"), "wan")
    defaults = WAN.defaults(w.family_form.configs)
    assert (p.frames.value(), p.width_spin.value(), p.fps.value(), p.guidance.value()) == (
        defaults.frames, defaults.width, defaults.fps, defaults.guidance)
    assert p.scheduler.currentData() == "model_default"
    # What does not apply is off, each with the family's own reason.
    for widget, path in ((p.clip_skip, "clip_skip"), (p.free_init, "free_init_iters"),
                         (p.freeu, "freeu"), (w.models.loras, "model.motion_loras"),
                         (w.prompt.travel_box, "prompt_travel"), (p.quality, "preset")):
        assert not widget.isEnabled(), path
        assert WAN.unsupported[path] in widget.toolTip(), path
    assert not w.models.adapter.isVisibleTo(w)  # Wan makes its own motion
    items = p.scheduler.model()
    assert not items.item(p.scheduler.findData("ddim")).isEnabled()
    assert items.item(p.scheduler.findData("unipc_flow")).isEnabled()
    # Frames steps through 4k+1 and a typed count snaps to the nearest.
    assert (p.frames.minimum(), p.frames.singleStep()) == (5, 4)
    p.frames.setValue(p.frames.minimum())
    p.frames.stepBy(1)
    assert p.frames.value() == 9
    p.frames.setValue(12)
    assert p.frames.value() == 13
    assert w.family_form.sizes.isVisibleTo(w) and not p.aspect.isVisibleTo(w)
    assert w.family_form.sizes.currentData() == f"{defaults.width}x{defaults.height}"
    # This model starts from an image; the 2.1 shape does not, and runs video to video.
    start = w.findChild(QWidget, "startImageEdit")
    assert start.isVisibleTo(w) and start.accessibleName()
    assert not p.mode.model().item(p.mode.findData("video2video")).isEnabled()
    choose(w, qtbot, wan_label("2.1"), "wan")
    qtbot.waitUntil(lambda: not start.isVisibleTo(w), timeout=TIMEOUT)
    assert p.mode.model().item(p.mode.findData("video2video")).isEnabled()

    choose(w, qtbot, DEMO_LABEL, "animatediff")
    assert w.family_form.snapshot() == before
    assert p.clip_skip.value() == 2 and p.free_init.value() == 1
    assert p.clip_skip.isEnabled() and p.clip_skip.toolTip() == clip_tip
    assert w.models.adapter.isVisibleTo(w) and w.models.adapter.text() == DEMO_LABEL
    assert (p.frames.minimum(), p.frames.singleStep()) == (1, 1)
    assert not start.isVisibleTo(w)


def test_the_family_is_found_off_the_window_thread(wan_window, qtbot, monkeypatch):
    """The model's files are read on another thread: the window never waits on a disk."""
    import threading

    import gui.family_form as family_form

    threads = []
    real = family_form.detect

    def spy(location):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(location)

    monkeypatch.setattr(family_form, "detect", spy)
    choose(wan_window, qtbot, wan_label("2.1"), "wan")
    assert threads and not any(threads)


def test_text_and_image_to_video_in_the_window_rerun_from_the_project(wan_window, qtbot,
                                                                      demo_root, clip_folder,
                                                                      tmp_path):
    from PIL import Image

    w, p = wan_window, wan_window.parameters
    choose(w, qtbot, wan_label("2.2-ti2v"), "wan")
    p.frames.setValue(5)
    p.steps.setValue(2)
    with qtbot.waitSignal(w.controller.job_finished, timeout=TIMEOUT) as finished:
        w.generate()
    text_take = w.project.takes[-1]
    request = finished.args[1].request
    plain = dict(prompt=request.prompt, negative_prompt=None, height=64, width=64,
                 num_inference_steps=2, guidance_scale=request.guidance, num_frames=5)
    folder = f"{demo_root}/wan-2.2-ti2v"
    np.testing.assert_array_equal(finished.args[1].frames,
                                  wan_reference.text2video(folder, 7, **plain))
    assert text_take.family == "wan" and request.start_image is None

    # Image to video: an image dropped on the Start image field.
    image = tmp_path / "start.png"
    Image.open(sorted(clip_folder.iterdir())[3]).save(image)
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(image))])
    edit = w.family_form.start_image.edit
    edit.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, data,
                              Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
    assert edit.text() == str(image)
    with qtbot.waitSignal(w.controller.job_finished, timeout=TIMEOUT) as finished:
        w.generate()
    result = finished.args[1]
    assert result.request.run_mode == "image2video" and result.request.start_image_sha256
    np.testing.assert_array_equal(result.frames, wan_reference.image2video(
        folder, Image.open(image).convert("RGB"), 7, **plain))
    image_take = w.project.takes[-1]
    assert image_take.inputs == {"start_image": [1, 64, 64]}

    # Saved, the image gone, reopened: Re-run gives the same frames from the project alone.
    path = tmp_path / "wan.adsproj"
    w.project.save(path)
    image.unlink()
    assert w.open_project(str(path))
    take = w.project.takes[-1]
    assert take.family == "wan"
    with qtbot.waitSignal(w.controller.job_finished, timeout=TIMEOUT) as finished:
        w.takes.rerunRequested.emit(take)
    np.testing.assert_array_equal(finished.args[1].frames, result.frames)
    # Vary seed: the same settings and image, another seed.
    with qtbot.waitSignal(w.controller.job_finished, timeout=TIMEOUT) as finished:
        w.takes.varySeedRequested.emit(take)
    assert finished.args[1].request.seed != 7
    assert finished.args[1].request.run_mode == "image2video"


def test_showing_a_wan_take_keeps_its_values_and_switches_the_form(wan_window, qtbot):
    from backend.core.request import GenerationRequest, ModelSpec
    from gui.demo_entries import DEMO_LABEL

    w, p = wan_window, wan_window.parameters
    choose(w, qtbot, DEMO_LABEL, "animatediff")
    p.frames.setValue(12)
    request = GenerationRequest(prompt="x", frames=13, width=96, height=64, steps=3, fps=12,
                                guidance=4.0, seed=3, scheduler="unipc_flow",
                                model=ModelSpec(base_model=f"{w.demo_model_root()}/wan-2.1",
                                                device="cpu"))
    w.apply_request(request)
    qtbot.waitUntil(lambda: w.family_form.family.name == "wan", timeout=TIMEOUT)
    assert w.models.base.text() == wan_label("2.1")
    assert (p.frames.value(), p.width_spin.value(), p.fps.value(), p.guidance.value(),
            p.scheduler.currentData()) == (13, 96, 12, 4.0, "unipc_flow")
    assert w.request_from_form().frames == 13
    choose(w, qtbot, DEMO_LABEL, "animatediff")
    assert p.frames.value() == 12  # the AnimateDiff form as it was before the take was shown


def test_the_wan_form_is_chinese_in_chinese(qapp, wan_window, qtbot):
    """Every text the Wan form shows, tooltips of what does not apply included, is translated."""
    from PySide6.QtCore import QLocale

    from gui import i18n
    from tests.gui.test_translations import untranslated

    assert i18n.install("system", qapp, locale=QLocale("zh_CN")) == "zh_CN"
    try:
        from gui.main_window import MainWindow

        window = MainWindow(settings_path=None)
        qtbot.addWidget(window)
        window.show()
        choose(window, qtbot, wan_label("2.2-ti2v"), "wan")
        for section in window.sections.values():
            section.set_open(True)
        assert "不适用于" in window.parameters.clip_skip.toolTip()
        slipped = untranslated(window, {"English", "demo", "Tiny"})
        close_and_wait(window)
    finally:
        i18n.install("en", qapp)
    assert slipped == [], "\n".join(slipped)
