"""The job's memory plan under the progress bar: the plan chosen before the job runs, and what
the engine did by itself (context windows for a long clip, a retry after running out of memory).
The sentences come from the engine (backend/engine/memory.py)."""

from __future__ import annotations

import re

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt
from PySide6.QtWidgets import QLabel

from gui.i18n import translate

# The plan's usual sentences (backend/models/memory_plan.py MemoryPlan.describe), shown in the
# user's language; any other sentence is shown as the engine wrote it.
FITS = re.compile(r"memory plan: fits in ([\d.]+) of ([\d.]+) GiB(?: on (\S+))?"
                  r"(?:, no savers needed| with ([^;]+))$")
CHANGES = re.compile(r"(.+) changes the frames \((.+)\)$")
HOW_FRAMES_CHANGE = {  # backend/models/memory_plan.py's Saver.changes_frames
    "as VAE slicing does: the last bit of some pixels": QT_TRANSLATE_NOOP(
        "MemoryPlanLabel", "as VAE slicing does: the last bit of some pixels"),
    "tiles are blended, so pixels change slightly": QT_TRANSLATE_NOOP(
        "MemoryPlanLabel", "tiles are blended, so pixels change slightly"),
}
SAVER_LABELS = {
    "chunked decoding": QT_TRANSLATE_NOOP("MemoryPlanLabel", "chunked decoding"),
    "split inference": QT_TRANSLATE_NOOP("MemoryPlanLabel", "split inference"),
    "VAE tiling": QT_TRANSLATE_NOOP("MemoryPlanLabel", "VAE tiling"),
    "model CPU offload": QT_TRANSLATE_NOOP("MemoryPlanLabel", "model CPU offload"),
    "sequential CPU offload": QT_TRANSLATE_NOOP("MemoryPlanLabel", "sequential CPU offload"),
}


def plan_text(message: str) -> str:
    """`message` in the user's language where it is one of the plan's usual sentences."""
    first, *notes = message.split("; ")
    parts = [fits_text(first)]
    for note in notes:
        found = CHANGES.match(note)
        if found is None or found[1] not in SAVER_LABELS or found[2] not in HOW_FRAMES_CHANGE:
            return message  # a sentence this does not know: as the engine wrote it
        parts.append(translate("MemoryPlanLabel", "{0} changes the frames ({1})").format(
            translate("MemoryPlanLabel", SAVER_LABELS[found[1]]),
            translate("MemoryPlanLabel", HOW_FRAMES_CHANGE[found[2]])))
    return message if parts[0] is None else translate("MemoryPlanLabel", "; ").join(parts)


def fits_text(message: str) -> str | None:
    found = FITS.match(message)
    if found is None:
        return None
    need, free, device, savers = found.groups()
    where = translate("MemoryPlanLabel", " on {0}").format(device) if device else ""
    if savers is None:
        return translate("MemoryPlanLabel", "memory plan: fits in {0} of {1} GiB{2}, no savers "
                                            "needed").format(need, free, where)
    labels = [translate("MemoryPlanLabel", SAVER_LABELS[label]) if label in SAVER_LABELS else label
              for label in re.split(r", | and ", savers)]
    return translate("MemoryPlanLabel", "memory plan: fits in {0} of {1} GiB{2} with {3}").format(
        need, free, where, translate("MemoryPlanLabel", ", ").join(labels))


class MemoryPlanLabel(QLabel):
    """Follows the controller's jobs: cleared when one starts, one line per plan message."""

    def __init__(self, controller) -> None:
        super().__init__()
        self.setObjectName("memoryPlanLabel")
        self.setAccessibleName(self.tr("Memory plan"))
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setToolTip(self.tr("What the job does to fit in memory: Advanced > Memory and device > "
                                "Memory plan turns this off."))
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
        self.lines.append(plan_text(info["message"]))
        self.setText("\n".join(self.lines))
        self.show()
