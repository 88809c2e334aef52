"""The job queue under the player: the running job, then the waiting ones, with buttons to run a
waiting job earlier or later or to remove it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.panels import named
from gui.takes_panel import elided
from gui.worker import GenerationController


def tool_button(name: str, text: str, tip: str, slot) -> QToolButton:
    button = named(QToolButton(), name, tip, tip)
    button.setText(text)
    button.clicked.connect(slot)
    return button


class QueuePanel(QWidget):
    def __init__(self, controller: GenerationController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.list = named(QListWidget(), "queueList", self.tr("Job queue"),
                          self.tr("Jobs waiting to run. Move them up or down, or remove them."))
        self.list.setMaximumHeight(64)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        buttons = QVBoxLayout()
        for name, text, tip, slot in (
            ("queueUpButton", "▲", self.tr("Run the selected job earlier"), lambda: self.move_selected(-1)),
            ("queueDownButton", "▼", self.tr("Run the selected job later"), lambda: self.move_selected(1)),
            ("queueRemoveButton", "✕", self.tr("Remove the selected job from the queue"), self.remove_selected),
        ):
            buttons.addWidget(tool_button(name, text, tip, slot))
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        label = QLabel(self.tr("Queue"))
        label.setAlignment(Qt.AlignmentFlag.AlignTop)
        layout.addWidget(label)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        controller.queue_changed.connect(self.refresh)

    def _selected_job(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def move_selected(self, offset: int) -> None:
        job_id = self._selected_job()
        if job_id is None:
            return
        self.controller.move(job_id, offset)
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == job_id:
                self.list.setCurrentRow(row)

    def remove_selected(self) -> None:
        job_id = self._selected_job()
        if job_id is not None:
            self.controller.remove(job_id)

    def _text_width(self) -> int:
        return max(120, self.list.viewport().width() - 12)

    def job_text(self, job) -> str:
        """A job's line: its prompt's first line and its seed (the backend's `label`, in the
        user's language); a finishing job's own label."""
        if job.finishing is not None:
            return job.label
        prompt = job.request.prompt.strip()
        prompt = prompt.splitlines()[0] if prompt else self.tr("(no prompt)")
        seed = job.request.seed if job.request.seed is not None else self.tr("random")
        return self.tr("{0} · seed {1}").format(prompt, seed)

    def refresh(self) -> None:
        self.list.clear()
        running = self.controller.queue.running
        if running is not None:
            # The worker and state come first, so cutting a long prompt never hides them.
            if running.message:
                text = self.tr("▶ running · {0}: {1}").format(running.message, self.job_text(running))
            else:
                text = self.tr("▶ running: {0}").format(self.job_text(running))
            item = QListWidgetItem(elided(text, self.list, self._text_width()))
            item.setToolTip(running.request.prompt)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.list.addItem(item)
        for index, job in enumerate(self.controller.queue.pending):
            item = QListWidgetItem(elided(f"{index + 1}. {self.job_text(job)}", self.list, self._text_width()))
            item.setToolTip(job.request.prompt)
            item.setData(Qt.ItemDataRole.UserRole, job.id)
            self.list.addItem(item)
