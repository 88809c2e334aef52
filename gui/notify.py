"""Tells the user a job ended while they were in another window: the taskbar entry asks for
attention, and where the desktop has a notification area, a message appears there."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget


class BackgroundNotifier:
    def __init__(self, window: QWidget) -> None:
        self.window = window
        self.tray: QSystemTrayIcon | None = None

    def job_ended(self, text: str) -> bool:
        """Alert about `text` if the window is not the active one; True if it alerted."""
        if self.window.isActiveWindow():
            return False
        QApplication.alert(self.window)  # the taskbar entry asks for attention until looked at
        if QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages():
            if self.tray is None:
                self.tray = QSystemTrayIcon(self.window.windowIcon(), self.window)
                self.tray.setToolTip(self.window.windowTitle())
                self.tray.messageClicked.connect(self._bring_back)
            self.tray.show()
            self.tray.showMessage(self.window.windowTitle(), text, QSystemTrayIcon.MessageIcon.Information, 8000)
        return True

    def _bring_back(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
