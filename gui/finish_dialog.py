"""Finishing a take in the window: the Finish dialog (interpolate x2/x4, upscale with a model),
the fields it shares with the export dialog, and the glue that turns a finished job into a new
take linked to its parent (the parent is never changed).

The work runs on the generation worker's thread (gui/worker.py, a finishing job in the same
queue), with progress and cancel as for generation; backend/finishing does it, Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend.core.errors import sentence
from backend.project.project_file import Take
from gui.i18n import translate

if TYPE_CHECKING:  # torch, numpy and the hub load after the window shows (gui/worker.py)
    import numpy as np

    from backend.finishing.finish import FinishingOptions

PHASES = {  # a finishing job's phases, through translate("FinishDialog", ...)
    "interpolating": QT_TRANSLATE_NOOP("FinishDialog", "interpolating: pair {0} of {1}"),
    "upscaling": QT_TRANSLATE_NOOP("FinishDialog", "upscaling: frame {0} of {1}"),
}


@dataclass
class FinishedClip:
    parent: Take
    frames: np.ndarray
    fps: float
    steps: list[dict[str, Any]]


@dataclass
class FinishingTask:
    """What a finishing job carries to the worker thread: the take, its frames (read on the
    window's thread, where the project lives) and the options."""

    take: Take
    frames: np.ndarray
    fps: float
    options: FinishingOptions

    def done(self, frames: np.ndarray, fps: float, steps: list[dict[str, Any]]) -> FinishedClip:
        return FinishedClip(self.take, frames, fps, list(steps))


def steps_summary(steps) -> str:
    """'×2 frames · 2× size': what a take's own finishing steps did, in the user's language."""
    parts = []
    for step in steps:
        if step.get("step") == "interpolate":
            parts.append(translate("FinishDialog", "×{0} frames").format(step.get("factor")))
        elif step.get("step") == "upscale":
            parts.append(translate("FinishDialog", "{0}× size").format(f"{float(step.get('factor', 0)):g}"))
    return " · ".join(parts)


def own_steps(take: Take, parent: Take | None) -> tuple:
    """The steps that made `take` from its parent (its record holds the parent's before them)."""
    return take.finishing[len(parent.finishing):] if parent is not None else take.finishing


def catalogue_entries(kind: str) -> list:
    from backend.hub.catalog import load_catalog

    return [entry for entry in load_catalog() if entry.kind == kind]


class ModelChoice(QWidget):
    """A finishing model: the catalogue's entries of one kind (licence shown), or a file."""

    def __init__(self, kind: str, default: str, name: str, accessible: str) -> None:
        super().__init__()
        self.combo = QComboBox()
        self.combo.setObjectName(name)
        self.combo.setAccessibleName(accessible)
        self.combo.setMinimumContentsLength(24)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        for entry in catalogue_entries(kind):
            # The id is what the command line takes; the name and licence are its tooltip.
            self.combo.addItem(entry.id, entry.id)
            self.combo.setItemData(self.combo.count() - 1, f"{entry.name}\n{entry.licence}\n{entry.description}",
                                   Qt.ItemDataRole.ToolTipRole)
        self.combo.setCurrentIndex(max(0, self.combo.findData(default)))
        self.browse = QToolButton()
        self.browse.setText("…")
        self.browse.setObjectName(name.replace("Combo", "BrowseButton"))
        self.browse.setAccessibleName(self.tr("Choose a weights file"))
        self.browse.setToolTip(self.tr("Use a weights file on this computer (.safetensors, .pth, .pkl, .zip)"))
        self.browse.clicked.connect(self._browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.browse)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, self.tr("Weights file"), "", self.tr("Weights (*.safetensors *.pth *.pt *.pkl *.zip)"))
        if path:
            self.set_model(path)

    def set_model(self, value: str) -> None:
        """Select `value` (a catalogue id or a file path), adding it when it is new."""
        index = self.combo.findData(value)
        if index < 0:
            self.combo.addItem(value, value)
            index = self.combo.count() - 1
            self.combo.setItemData(index, value, Qt.ItemDataRole.ToolTipRole)
        self.combo.setCurrentIndex(index)

    def model(self) -> str:
        return self.combo.currentData()


class FinishingFields(QWidget):
    """Interpolate (none, ×2, ×4) and upscale with a model: the options of a finishing step."""

    def __init__(self, prefix: str = "finish") -> None:
        from backend.finishing.model_files import DEFAULT_INTERPOLATION_MODEL, DEFAULT_UPSCALE_MODEL

        super().__init__()
        self.interpolate = QComboBox()
        self.interpolate.setObjectName(f"{prefix}InterpolateCombo")
        self.interpolate.setAccessibleName(self.tr("Interpolate"))
        self.interpolate.setToolTip(self.tr("RIFE frame interpolation: new frames between each pair, at "
                                            "the same length of clip (the fps is multiplied)"))
        self.interpolate.addItem(self.tr("No"), None)
        self.interpolate.addItem(self.tr("×2 (2n−1 frames)"), 2)
        self.interpolate.addItem(self.tr("×4 (4n−3 frames)"), 4)
        self.interpolation_model = ModelChoice(
            "interpolation-model", DEFAULT_INTERPOLATION_MODEL, f"{prefix}InterpolationModelCombo",
            self.tr("Interpolation model"))
        self.upscale = QCheckBox(self.tr("Upscale with a model"))
        self.upscale.setObjectName(f"{prefix}UpscaleCheck")
        self.upscale.setAccessibleName(self.tr("Upscale"))
        self.upscale.setToolTip(self.tr("Upscale every frame with an image upscaler (Real-ESRGAN and "
                                        "its kin), after interpolating"))
        self.upscale_model = ModelChoice(
            "upscale-model", DEFAULT_UPSCALE_MODEL, f"{prefix}UpscaleModelCombo", self.tr("Upscale model"))
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.tr("Interpolate"), self.interpolate)
        form.addRow(self.tr("Interpolation model"), self.interpolation_model)
        form.addRow("", self.upscale)
        form.addRow(self.tr("Upscale model"), self.upscale_model)
        self.interpolate.currentIndexChanged.connect(self._update)
        self.upscale.toggled.connect(self._update)
        self._update()

    def _update(self) -> None:
        self.interpolation_model.setEnabled(self.interpolate.currentData() is not None)
        self.upscale_model.setEnabled(self.upscale.isChecked())

    def preset(self, interpolate: int | None = None, upscale: bool = False) -> None:
        self.interpolate.setCurrentIndex(max(0, self.interpolate.findData(interpolate)))
        self.upscale.setChecked(upscale)

    def options(self) -> FinishingOptions:
        from backend.finishing.finish import FinishingOptions

        upscale = self.upscale.isChecked()
        return FinishingOptions(
            interpolate=self.interpolate.currentData(),
            interpolation_model=self.interpolation_model.model(),
            upscale_model=self.upscale_model.model() if upscale else None,
        )


class FinishDialog(QDialog):
    """Make a new take from one take: interpolated, upscaled or both."""

    def __init__(self, window, take: Take, interpolate: int | None = None, upscale: bool = False) -> None:
        super().__init__(window)
        self.window_, self.take = window, take
        self.job = None
        self.setObjectName("finishDialog")
        self.setAccessibleName(self.tr("Finish a take"))
        self.setWindowTitle(self.tr("Finish {0}").format(take.name))
        intro = QLabel(self.tr("Make a new take from {0} ({1} frames, {2}×{3}, {4} fps). {0} itself "
                               "stays as it is.").format(take.name, take.frame_count, take.size[0],
                                                         take.size[1], f"{take.fps:g}"))
        intro.setObjectName("finishIntroLabel")
        intro.setAccessibleName(self.tr("What finishing makes"))
        intro.setWordWrap(True)
        self.fields = FinishingFields()
        self.fields.preset(interpolate, upscale)
        self.bar = QProgressBar()
        self.bar.setObjectName("finishProgress")
        self.bar.setAccessibleName(self.tr("Finishing progress"))
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setTextVisible(False)  # no "0%" before anything runs
        self.message = QLabel()
        self.message.setObjectName("finishMessage")
        self.message.setAccessibleName(self.tr("Finishing message"))
        self.message.setWordWrap(True)
        self.start_button = QPushButton(self.tr("Finish"))
        self.start_button.setObjectName("finishStartButton")
        self.start_button.setAccessibleName(self.tr("Finish"))
        self.start_button.setToolTip(self.tr("Make the new take (on the worker; the window stays usable)"))
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setObjectName("finishCancelButton")
        self.cancel_button.setAccessibleName(self.tr("Cancel"))
        buttons = QDialogButtonBox()
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.fields)
        layout.addWidget(self.bar)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        controller = window.controller
        controller.job_progress.connect(self._progress)
        controller.finishing_done.connect(self._done)
        controller.job_failed.connect(self._failed)
        self.setMinimumWidth(min(560, max(360, window.width() - 40)))

    def start(self) -> None:
        options = self.fields.options()
        if not options.active:
            self.message.setText(self.tr("Choose interpolation, upscaling or both."))
            return
        try:
            options.validate()
            frames = self.window_.project.frames(self.take)
        except Exception as exc:  # noqa: BLE001 - a bad choice or an unreadable take, said here
            self.message.setText(sentence(str(exc)))
            return
        task = FinishingTask(self.take, frames, self.take.fps, options)
        label = self.tr("Finish {0}: {1}").format(self.take.name, self._plan_text(options))
        self.job = self.window_.controller.enqueue_finishing(task, label)
        self.start_button.setEnabled(False)
        self.fields.setEnabled(False)
        self.bar.setTextVisible(True)
        self.bar.setRange(0, 0)
        self.message.setText(self.tr("Waiting for the worker…") if self.job.state == "queued"
                             else self.tr("Loading the models…"))

    def _plan_text(self, options: FinishingOptions) -> str:
        parts = []
        if options.interpolate:
            parts.append(self.tr("interpolate ×{0}").format(options.interpolate))
        if options.upscaling:
            parts.append(self.tr("upscale"))
        return ", ".join(parts)

    def _mine(self, job) -> bool:
        return self.job is not None and job is self.job

    def _progress(self, job, info: dict) -> None:
        if not self._mine(job):
            return
        phase = info.get("phase")
        total = int(info.get("total") or 0)
        if phase in PHASES:
            self.bar.setRange(0, max(1, total))
            self.bar.setValue(int(info.get("step") or 0))
            self.message.setText(translate("FinishDialog", PHASES[phase]).format(info.get("step"), total))
        elif phase in ("downloading", "downloaded"):
            self.bar.setRange(0, max(1, total))
            self.bar.setValue(int(info.get("step") or 0))
            self.message.setText(self.tr("Downloading {0}…").format(info.get("file", "")))

    def _done(self, job, clip: FinishedClip) -> None:
        if self._mine(job):
            self.job = None
            self.accept()

    def _failed(self, job, kind: str, message: str) -> None:
        if not self._mine(job):
            return
        self.job = None
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.start_button.setEnabled(True)
        self.fields.setEnabled(True)
        if kind == "cancelled":
            self.message.setText(self.tr("Cancelled; no take was made."))
        else:
            self.message.setText(sentence(message))

    def cancel(self) -> None:
        """Stop the job (within one frame pair or frame), or close when none runs."""
        controller = self.window_.controller
        if self.job is None:
            self.reject()
        elif controller.queue.running is self.job:
            controller.cancel_current()
            self.message.setText(self.tr("Cancelling…"))
        else:
            controller.remove(self.job.id)
            self._failed(self.job, "cancelled", "")

    def reject(self) -> None:
        if self.job is not None:  # Esc and the close button cancel first, as Cancel does
            self.cancel()
            return
        super().reject()


def take_finished(window, job, clip: FinishedClip) -> Take | None:
    """A finishing job's frames as a new take after the others, linked to its parent, shown and
    played; None when the parent's project is no longer the window's."""
    project = window.project
    if not any(take.id == clip.parent.id for take in project.takes):
        window.set_status(translate("FinishDialog", "The finished clip was dropped: {0} is no longer "
                                    "in this project.").format(clip.parent.name))
        return None
    name = translate("FinishDialog", "Take {0}").format(len(project.takes) + 1)
    take = project.add_finished_take(clip.parent, clip.frames, clip.steps)
    take.name = name
    window.progress.setRange(0, 1)
    window.progress.setValue(1)
    window.progress.setFormat(translate("FinishDialog", "done"))
    window.takes.select(take)
    window.takes.changed.emit()  # the title shows the unsaved change
    window.player.play()
    window.set_status(translate("FinishDialog", "{0} made from {1} ({2}): {3} frames, {4}×{5}, {6} fps").format(
        take.name, clip.parent.name, steps_summary(clip.steps), take.frame_count, take.size[0],
        take.size[1], f"{take.fps:g}"))
    return take


def show_finishing_progress(window, job, info: dict) -> None:
    """The window's progress bar and status line during a finishing job."""
    phase = info.get("phase")
    if job.finishing is None or phase not in PHASES:
        return
    total = int(info.get("total") or 0)
    text = translate("FinishDialog", PHASES[phase]).format(info.get("step"), total)
    window.progress.setRange(0, max(1, total))
    window.progress.setValue(int(info.get("step") or 0))
    window.progress.setFormat(text)
    window.set_status(translate("FinishDialog", "Job {0}: {1}").format(job.id, text))


def open_finish_dialog(window, take: Take, preset: dict) -> FinishDialog:
    dialog = FinishDialog(window, take, preset.get("interpolate"), bool(preset.get("upscale")))
    window.finish_dialog = dialog
    dialog.open()
    return dialog


def add_menu_action(window) -> QAction | None:
    """Generate › Finish the selected take… (beside Generate and Cancel): the takes strip's row
    of buttons has no room left on a 1024-pixel screen; its right-click menu has the rest."""
    for entry in window.menuBar().actions():
        menu = entry.menu()
        if menu is not None and any(a.shortcut() == QKeySequence("Ctrl+Return") for a in menu.actions()):
            action = QAction(translate("FinishDialog", "&Finish the selected take…"), window)
            action.setObjectName("finishTakeAction")
            action.setToolTip(translate("FinishDialog", "Interpolate or upscale the selected take into a new take"))
            action.triggered.connect(lambda: window.takes.finish_selected() or window.set_status(
                translate("FinishDialog", "Select one take to finish first.")))
            menu.addSeparator()
            menu.addAction(action)
            return action
    return None


def attach_finishing(window) -> None:
    """The hook: the takes strip's Finish actions open the dialog; a finished job becomes a take."""
    window.finish_dialog = None
    window.finish_action = add_menu_action(window)
    window.takes.finishRequested.connect(lambda take, preset: open_finish_dialog(window, take, preset))
    window.controller.finishing_done.connect(lambda job, clip: take_finished(window, job, clip))
    window.controller.job_progress.connect(lambda job, info: show_finishing_progress(window, job, info))
