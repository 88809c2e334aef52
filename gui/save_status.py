"""A save's progress in the status bar: a small bar, takes written of all, while the project is
written on its thread (the title says "saving…" meanwhile)."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QProgressBar, QStatusBar


class SaveStatus(QObject):
    def __init__(self, projects, status_bar: QStatusBar) -> None:
        super().__init__(status_bar)
        self.projects = projects
        self.bar = QProgressBar()
        self.bar.setObjectName("saveProgressBar")
        self.bar.setAccessibleName(self.tr("Saving the project"))
        self.bar.setMaximumWidth(180)
        self.bar.setTextVisible(True)
        self.bar.hide()
        status_bar.addPermanentWidget(self.bar)
        projects.saving_changed.connect(self._saving_changed)
        projects.save_progress.connect(self._progress)

    def _saving_changed(self, saving: bool) -> None:
        if saving:
            count = len(self.projects.project.takes)
            self.bar.setRange(0, max(1, count))
            self.bar.setValue(0)
            self.bar.setFormat(self.tr("saving %v of %m takes"))
        self.bar.setVisible(saving)

    def _progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)
