"""The job's memory plan under the progress bar: the plan chosen before the job runs, and what
the engine did by itself (context windows for a long clip, a retry after running out of memory).
The sentences come from the engine (backend/engine/memory.py)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


class MemoryPlanLabel(QLabel):
    """Follows the controller's jobs: cleared when one starts, one line per plan message."""

    def __init__(self, controller) -> None:
        super().__init__()
        self.setObjectName("memoryPlanLabel")
        self.setAccessibleName(self.tr("Memory plan"))
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setToolTip(self.tr("What the job does to fit in memory: Advanced > Memory > Memory "
                                "plan turns this off."))
        self.lines: list[str] = []
        self.hide()
        controller.job_started.connect(self._on_job_started)
        controller.job_progress.connect(self._on_job_progress)

    def _on_job_started(self, job) -> None:
        self.lines = []
        self.clear()
        self.hide()

    def _on_job_progress(self, job, info: dict) -> None:
        if info.get("phase") != "plan" or not info.get("message"):
            return
        self.lines.append(info["message"])
        self.setText("\n".join(self.lines))
        self.show()
