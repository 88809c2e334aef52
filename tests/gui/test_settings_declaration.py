"""The form's widgets say what each setting's one declaration says (backend/core/request.py
SETTINGS): range or choices, default, tooltip, accessible name and objectName."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from backend.core.request import SETTINGS, GenerationRequest

FORM = [s for s in SETTINGS.values() if s.widget or s.switch or s.part_widgets]


@pytest.fixture()
def fresh_window(qtbot, tmp_path):
    """A window as a first start shows it (the shared fixture sets up the tiny model)."""
    from gui.main_window import MainWindow

    win = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(win)
    yield win
    win.close()


def _find(window, name: str, kind=QWidget):
    widget = window.findChild(kind, name)
    assert widget is not None, f"no widget named {name}"
    return widget


def _check_spin(box, setting, value) -> None:
    low, high = setting.range
    if setting.above_low:
        low += 10**-setting.decimals
    if setting.off_text:
        low -= 1
        assert box.specialValueText(), setting.name
    assert (box.minimum(), box.maximum()) == pytest.approx((low, high)), setting.name
    assert box.singleStep() == (setting.multiple_of or setting.step), setting.name
    assert box.value() == pytest.approx(box.minimum() if value is None else value), setting.name


@pytest.mark.parametrize("setting", FORM, ids=[s.name for s in FORM])
def test_form_widget_follows_the_declaration(fresh_window, setting):
    if setting.widget:
        widget = _find(fresh_window, setting.widget)
        assert widget.accessibleName() == setting.label
        assert widget.toolTip() == setting.help
        shown = setting.default if setting.default is not None else setting.shown
        if isinstance(widget, QAbstractSpinBox):
            _check_spin(widget, setting, shown)
        elif isinstance(widget, QCheckBox):
            assert widget.isChecked() == setting.default
        elif isinstance(widget, QComboBox) and setting.choices:
            # Every choice once, greyed out or not (a family greys out what its models cannot
            # use); the Quality box's "Custom" repeats a preset's data and only says the values
            # differ.
            datas = [widget.itemData(i) for i in range(widget.count())]
            assert list(dict.fromkeys(datas)) == list(setting.choices)
            assert widget.currentData() == setting.default
        elif isinstance(widget, QComboBox):
            assert widget.currentText() == setting.default
        elif isinstance(widget, (QLineEdit, QPlainTextEdit)):
            text = widget.text() if isinstance(widget, QLineEdit) else widget.toPlainText()
            assert text == (setting.default or "")
    if setting.switch:
        switch = _find(fresh_window, setting.switch, QCheckBox)
        assert switch.accessibleName() == setting.switch_label
        assert switch.toolTip() == setting.help
        assert switch.isChecked() == (setting.default is not None)
    parts = zip(setting.part_widgets, setting.parts, setting.shown if setting.parts else (), strict=True)
    for name, part, value in parts:
        box = _find(fresh_window, name, QAbstractSpinBox)
        assert box.accessibleName() == f"{setting.label} {part}"
        assert box.toolTip().startswith(f"{setting.label} {part}")
        _check_spin(box, setting, value)


def test_a_fresh_form_makes_the_declared_defaults(fresh_window):
    fresh_window.prompt.prompt.setPlainText("x")
    request = fresh_window.request_from_form()
    assert request.replace(seed=None) == GenerationRequest(prompt="x").with_absolute_paths()


def test_the_form_shows_back_what_it_is_given(fresh_window):
    fresh_window.prompt.prompt.setPlainText("x")
    given = fresh_window.request_from_form().replace(
        clip_skip=2, freeu=(1.0, 0.3, 1.1, 1.2), context_length=12, context_stride=3, seed=5,
        mode="video2video", input_video="clip.mp4", strength=0.5, fps=120, preset="lightning",
        free_init_iters=2, free_init_method="ideal", free_init_fast=True, prompt_travel={8: "sky"},
    )
    fresh_window.apply_request(given)
    fresh_window.parameters.random_seed.setChecked(False)
    assert fresh_window.request_from_form() == given.with_absolute_paths()
