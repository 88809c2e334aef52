"""Form widgets made from the settings' one declaration (backend/core/request.py `SETTINGS`): range,
choices, default, label, tooltip, accessible name and objectName all come from there, and so
does reading a value back from the widget and showing one in it."""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from backend.core.request import SETTINGS, Setting

INT32_MAX = 2**31 - 1


def translated(text: str) -> str:
    """A declared label or help text in the user's language."""
    return QCoreApplication.translate("Setting", text)


FLAG = re.compile(r"--([a-z][a-z0-9-]*)(?: ([a-z0-9_]+(?:\.[0-9]+)?))?")


def window_terms(message: str) -> str:
    """An engine message with its command-line flags named as the window names them: "turn it on
    (--memory auto)" reads "turn it on (Memory plan: Automatic)". Unknown flags stay as they are."""
    by_flag = {setting.flag: setting for setting in SETTINGS.values() if setting.flag}

    def swap(match: re.Match) -> str:
        setting = by_flag.get(f"--{match[1]}")
        if setting is None:
            return match[0]
        name = translated(setting.label)
        value = match[2]
        if value and value in setting.choices:
            labels = setting.choice_labels or setting.choices
            label = labels[setting.choices.index(value)]
            return f"{name}: {translated(label) if setting.choice_labels else label}"
        return name + match[0][len(f"--{match[1]}"):]

    return FLAG.sub(swap, message)


class LargeIntSpinBox(QDoubleSpinBox):
    """A whole-number field for ranges past a QSpinBox's int32, such as the seed's 0..2^32-1; a
    double holds every such integer exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.setDecimals(0)

    def seed(self) -> int:
        return int(round(self.value()))


def declare(widget: QWidget, name: str, accessible: str | None = None) -> QWidget:
    """Give `widget` the declared objectName, accessible name and tooltip of setting `name`."""
    setting = SETTINGS[name]
    widget.setObjectName(setting.widget)
    widget.setAccessibleName(translated(accessible or setting.label))
    widget.setToolTip(translated(setting.help))
    return widget


def _new_widget(setting: Setting) -> QWidget:
    if isinstance(setting.default, bool):
        return QCheckBox(translated(setting.label))
    if setting.choices:
        combo = QComboBox()
        labels = setting.choice_labels or setting.choices
        for choice, label in zip(setting.choices, labels, strict=True):
            combo.addItem(translated(label) if setting.choice_labels else label, choice)
        return combo
    if setting.range is None:
        return QLineEdit()
    low, high = setting.range
    if isinstance(low, float):
        box = QDoubleSpinBox()
        box.setDecimals(setting.decimals)
        if setting.above_low:
            low += 10**-setting.decimals
    else:
        box = LargeIntSpinBox() if high > INT32_MAX else QSpinBox()
        if setting.off_text:
            low -= 1  # the extra lowest value stands for "off"
            box.setSpecialValueText(translated(setting.off_text))
    box.setRange(low, high)
    box.setSingleStep(setting.multiple_of or setting.step)
    return box


def setting_widget(name: str, widget: QWidget | None = None, text: str | None = None) -> QWidget:
    """The form widget of setting `name`, showing its default: a spin box for a number range, a
    combo for choices, a check box for a switch, a line edit for text. Pass `widget` to declare
    one made elsewhere (a multi-line prompt, a table); `text` is a check box's shorter caption."""
    setting = SETTINGS[name]
    widget = declare(widget if widget is not None else _new_widget(setting), name)
    if text is not None and isinstance(widget, QCheckBox):
        widget.setText(text)
    show_value(widget, setting.default if setting.default is not None else setting.shown)
    return widget


def switch_widget(name: str) -> QCheckBox:
    """The check box that turns optional setting `name` on (FreeU, FreeNoise), unticked as the
    setting's default is None."""
    setting = SETTINGS[name]
    box = QCheckBox(translated(setting.switch_label))
    box.setObjectName(setting.switch)
    box.setAccessibleName(translated(setting.switch_label))
    box.setToolTip(translated(setting.help))
    box.setChecked(setting.default is not None)
    return box


def part_widgets(name: str) -> list[QDoubleSpinBox]:
    """One spin box per part of a tuple setting (FreeU's s1, s2, b1, b2), showing `shown`."""
    setting = SETTINGS[name]
    boxes = []
    label = translated(setting.label)
    for part, object_name, value in zip(setting.parts, setting.part_widgets, setting.shown, strict=True):
        box = QDoubleSpinBox()
        box.setObjectName(object_name)
        box.setAccessibleName(f"{label} {part}")
        box.setToolTip(QCoreApplication.translate("Setting", "{0} {1} (usual {2})").format(label, part, value))
        box.setDecimals(setting.decimals)
        box.setRange(*setting.range)
        box.setSingleStep(setting.step)
        box.setValue(value)
        boxes.append(box)
    return boxes


def widget_value(widget: QWidget) -> Any:
    """The value a setting's widget holds, as the request field takes it: an "off" spin value and
    empty one-line text read as None; text is stripped."""
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, LargeIntSpinBox):
        return widget.seed()
    if isinstance(widget, QAbstractSpinBox):
        if widget.specialValueText() and widget.value() == widget.minimum():
            return None
        return widget.value()
    if isinstance(widget, QPlainTextEdit):
        return widget.toPlainText().strip()
    if isinstance(widget, QLineEdit):
        return widget.text().strip() or None
    raise TypeError(f"no setting value in a {type(widget).__name__}")


def show_value(widget: QWidget, value: Any) -> None:
    """Show `value` in a setting's widget; None in a spin box with an "off" value shows that."""
    if isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QComboBox):
        widget.setCurrentIndex(max(0, widget.findData(value)))
    elif isinstance(widget, QAbstractSpinBox):
        widget.setValue(widget.minimum() if value is None else value)
    elif isinstance(widget, QPlainTextEdit):
        widget.setPlainText(value or "")
    elif isinstance(widget, QLineEdit):
        widget.setText(value or "")


class SettingFields:
    """A panel's setting widgets by setting name, read into request fields and filled from a
    request (or ModelSpec) as one."""

    def __init__(self) -> None:
        self.widgets: dict[str, QWidget] = {}

    def add(self, name: str, **options: Any) -> QWidget:
        self.widgets[name] = setting_widget(name, **options)
        return self.widgets[name]

    def read(self) -> dict[str, Any]:
        return {name: widget_value(widget) for name, widget in self.widgets.items()}

    def fill(self, values: Any) -> None:
        """Show the fields of `values`; an unset number without an "off" value (the seed, the
        FreeNoise window) keeps the number shown."""
        for name, widget in self.widgets.items():
            value = getattr(values, name)
            if value is not None or not isinstance(widget, QAbstractSpinBox) or widget.specialValueText():
                show_value(widget, value)
