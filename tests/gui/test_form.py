"""The form: the few choices up front, the rest folded away in sections that remember their
state; duration in frames or seconds; aspect presets."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from gui.input_form import SECTIONS
from tests.gui.conftest import close_and_wait


def test_advanced_sections_start_folded_and_remember_their_state(qtbot, tmp_path):
    from gui.main_window import MainWindow

    settings = tmp_path / "settings.json"
    first = MainWindow(settings_path=settings)
    qtbot.addWidget(first)
    first.show()
    assert [key for key, _ in SECTIONS] == list(first.sections)
    assert not any(section.is_open() for section in first.sections.values())
    assert not first.parameters.scheduler.isVisible() and first.prompt.prompt.isVisible()
    first.sections["motion"].button.click()
    assert first.parameters.free_init.isVisible()
    first.sections["memory"].button.click()
    first.sections["memory"].button.click()  # opened and closed again
    close_and_wait(first)

    second = MainWindow(settings_path=settings)
    qtbot.addWidget(second)
    second.show()
    assert {key for key, section in second.sections.items() if section.is_open()} == {"motion"}
    assert second.parameters.free_init.isVisible() and not second.models.device.isVisible()
    second.close()


def test_duration_in_seconds_sets_frames_and_follows_fps(window):
    p = window.parameters
    p.fps.setValue(8)
    p.frames.setValue(16)
    assert p.seconds.value() == 2.0
    p.seconds.setValue(3.0)
    assert p.frames.value() == 24
    p.fps.setValue(12)  # the frames stay: the clip just plays faster
    assert p.frames.value() == 24 and p.seconds.value() == 2.0
    assert window.request_from_form().frames == 24


def test_aspect_presets_keep_the_short_side(window):
    p = window.parameters
    p.width_spin.setValue(512)
    p.height_spin.setValue(512)
    assert p.aspect.currentText() == "Square 1:1"
    for label, size in (("Wide 16:9", (912, 512)), ("Portrait 2:3", (512, 768)),
                        ("Landscape 3:2", (768, 512)), ("Tall 9:16", (512, 912))):
        p.aspect.setCurrentIndex(p.aspect.findText(label))
        p._aspect_picked()
        assert (p.width_spin.value(), p.height_spin.value()) == size, label
    p.height_spin.setValue(512)
    p.width_spin.setValue(600)  # a size no preset makes
    assert p.aspect.currentText() == "Custom"
    p.width_spin.setValue(768)
    assert p.aspect.currentText() == "Landscape 3:2"


def test_video_rows_show_only_in_video_to_video(window):
    p = window.parameters
    assert not p.strength.isVisible()
    p.mode.setCurrentIndex(p.mode.findData("video2video"))
    assert p.strength.isVisible() and p.input_video.isVisible()


def test_a_job_ending_in_the_background_alerts_the_user(window, monkeypatch):
    import gui.notify as notify

    shown, alerts = [], []

    class Tray:
        MessageIcon = notify.QSystemTrayIcon.MessageIcon

        def __init__(self, icon, parent):
            self.messageClicked = type("S", (), {"connect": lambda self, slot: None})()

        @staticmethod
        def isSystemTrayAvailable():
            return True

        @staticmethod
        def supportsMessages():
            return True

        def setToolTip(self, text):
            pass

        def show(self):
            pass

        def showMessage(self, title, text, icon, ms):
            shown.append(text)

    monkeypatch.setattr(notify, "QSystemTrayIcon", Tray)
    monkeypatch.setattr(notify.QApplication, "alert", lambda widget, ms=0: alerts.append(widget))
    monkeypatch.setattr(window, "isActiveWindow", lambda: False)
    assert window.notifier.job_ended("Take 1 is done: a lighthouse.")
    assert shown == ["Take 1 is done: a lighthouse."] and alerts == [window]
    monkeypatch.setattr(window, "isActiveWindow", lambda: True)
    assert not window.notifier.job_ended("Take 2 is done.")
    assert len(shown) == 1


def test_the_wheel_scrolls_the_form_instead_of_changing_unfocused_fields(window, qtbot):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication, QScrollArea, QSpinBox

    def wheel(widget) -> None:
        centre = QPointF(widget.width() / 2, widget.height() / 2)
        event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                            QPoint(0, -120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(widget, event)

    plain = QSpinBox()  # the same event changes a field nothing guards
    qtbot.addWidget(plain)
    plain.setValue(5)
    wheel(plain)
    assert plain.value() == 4
    window.sections["sampling"].set_open(True)
    window.sections["remote"].set_open(True)
    steps = window.parameters.steps
    steps.setValue(25)
    combo = window.findChild(QScrollArea, "inputPanels").findChild(QWidget, "renderOnCombo")
    before = combo.currentIndex()
    window.generate_button.setFocus()
    wheel(steps)
    wheel(combo)
    assert steps.value() == 25 and combo.currentIndex() == before


def test_the_shown_seed_is_what_the_settings_keep(qtbot, tmp_path):
    from backend.project.settings import Settings
    from gui.main_window import MainWindow

    path = tmp_path / "settings.json"
    window = MainWindow(settings_path=path)
    qtbot.addWidget(window)
    window.parameters.seed.setValue(1234)
    assert window.parameters.random_seed.isChecked()
    window.close()
    assert Settings.load(path).last_request["seed"] == 1234


def test_every_interactive_widget_has_an_object_name_and_an_accessible_name(window):
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractSpinBox,
        QComboBox,
        QLineEdit,
        QPlainTextEdit,
        QSlider,
        QTableWidget,
    )

    for section in window.sections.values():
        section.set_open(True)
    window.models.loras.add("/a/motion-lora", 0.5)
    window.models.image_loras.add("/a/style.safetensors", 0.7)
    window.prompt.add_travel(8, "night")
    missing = []
    kinds = (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QPlainTextEdit, QSlider, QTableWidget)
    for widget in window.findChildren(QWidget):
        if not isinstance(widget, kinds) or not widget.isVisible():
            continue
        if isinstance(widget.parent(), (QAbstractSpinBox, QComboBox)) or widget.objectName().startswith("qt_"):
            continue  # a part of a spin box or combo, named by Qt
        if type(widget).__name__ == "QAbstractButton":
            continue  # a table's corner button
        if not widget.objectName() or not widget.accessibleName():
            missing.append(f"{type(widget).__name__} {widget.objectName()!r} {widget.accessibleName()!r}")
    assert missing == []
