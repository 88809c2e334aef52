"""The broker URL holds a password: the field masks it until Show is pressed."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QLineEdit

from gui.remote_panel import RenderOnPanel


def test_broker_url_is_masked_with_a_show_toggle(qtbot, tmp_path, isolated_dirs):
    from gui.main_window import MainWindow

    (isolated_dirs / "config").mkdir(exist_ok=True)
    (isolated_dirs / "config" / "remote.json").write_text(
        json.dumps({"render_on": "workers", "broker_url": "amqp://u:secret@example.invalid//"}))
    win = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(win)
    panel = win.findChild(RenderOnPanel, "renderOnPanel")
    assert panel.url.echoMode() == QLineEdit.EchoMode.Password
    assert "secret" not in panel.url.displayText()
    toggle = panel.show_url
    assert toggle.objectName() == "brokerShowButton" and toggle.accessibleName()
    toggle.click()
    assert panel.url.echoMode() == QLineEdit.EchoMode.Normal
    assert "secret" in panel.url.displayText()
    toggle.click()
    assert panel.url.echoMode() == QLineEdit.EchoMode.Password
    win.close()
