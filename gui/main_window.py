"""The main window."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("AnimateDiff Studio")
        label = QLabel(
            "The window is being built. Generate from the command line meanwhile:\n"
            "python main.py generate --prompt TEXT --output out.gif"
        )
        label.setMargin(24)
        self.setCentralWidget(label)
        self.resize(1280, 800)
