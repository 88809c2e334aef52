from __future__ import annotations


def test_main_window_opens(qtbot):
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert window.objectName() == "mainWindow"
