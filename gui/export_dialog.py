"""The export dialog: format, fps, the player's in/out range, size, GIF and MP4 options. It
remembers the last choices and folder, writes on a worker thread with the backend writers
(atomic: a cancelled or failed export leaves nothing) and offers to open the folder when done.

The export runs like generation (gui/worker.py): a QObject worker moved to a QThread, talking to
the dialog through queued signals; cancel is a thread-safe Event the writer checks per frame."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QCoreApplication,
    QObject,
    Qt,
    QThread,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
)

from backend.core.errors import Cancelled, StudioError, sentence
from gui.finish_dialog import FinishingFields
from gui.i18n import translate

FORMATS = [("GIF", "gif"), ("MP4 (H.264)", "mp4"), ("WebM (VP9)", "webm"), ("WebP", "webp"),
           (QT_TRANSLATE_NOOP("ExportDialog", "PNG frames"), "folder")]  # labels through tr()


FINISH_PHASES = {"interpolating": QT_TRANSLATE_NOOP("ExportDialog", "Interpolating…"),
                 "upscaling": QT_TRANSLATE_NOOP("ExportDialog", "Upscaling…")}


def export_name(project_name: str, take_number: int | None, seed: int | None) -> str:
    """The default file name of an export: project, take and seed (`fox-take3-seed42`), so one
    take's export never takes another's name."""
    parts = ["-".join(project_name.split()) or "animation"]
    if take_number is not None:
        parts.append(f"take{take_number}")
    if seed is not None:
        parts.append(f"seed{seed}")
    return "-".join(parts).replace("/", "-").replace("\\", "-")


def scale_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    width, height = size
    if frames.shape[2] == width and frames.shape[1] == height:
        return frames
    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.LANCZOS)) for f in frames])


def shown_take_steps(window, request) -> tuple:
    """The finishing record of the take the window shows (when the clip is that take's), so an
    export of a finished take records how it was made."""
    project = getattr(window, "project", None)
    if project is None or request is None:
        return ()
    selected = project.ui_state.get("selected_take")
    take = next((t for t in project.takes if t.id == selected), None)
    return take.finishing if take is not None and take.request is request else ()


class ExportWorker(QObject):
    """Lives in the export thread; `run` writes the clip once and ends the thread."""

    progress = Signal(int, int)  # frames done, total
    phase = Signal(str)  # what it does now, for the user
    finished = Signal(list)  # the paths written
    failed = Signal(str)  # a sentence for the user

    def __init__(self, frames, path: Path, fps: float, options, metadata, size,
                 cancel_event: threading.Event, finishing=None) -> None:
        super().__init__()
        self.frames, self.path, self.fps, self.options = frames, path, fps, options
        self.metadata, self.export_size = metadata, size
        self.cancel_event = cancel_event
        self.finishing = finishing  # FinishingOptions applied on the way out, or None

    def finish(self, frames):
        """Interpolate and/or upscale before writing; the fps and the metadata follow."""
        from backend.finishing.finish import finish_frames, pick_device, plan_finishing
        from backend.media.writer import output_format

        def on_progress(progress) -> None:
            if progress.phase in FINISH_PHASES:
                self.phase.emit(translate("ExportDialog", FINISH_PHASES[progress.phase]))
                self.progress.emit(progress.step, progress.total)

        plan = plan_finishing(self.finishing, len(frames), frames.shape[2], frames.shape[1],
                              output_format(str(self.path)), str(self.path), cancel=self.cancel_event)
        frames = finish_frames(frames, plan, pick_device(), on_progress, self.cancel_event)
        self.fps = plan.fps(self.fps)
        if self.metadata is not None:
            self.metadata = dict(self.metadata, finishing=[*self.metadata.get("finishing", []), *plan.steps])
        self.phase.emit(translate("ExportDialog", "Writing…"))
        return frames

    @Slot()
    def run(self) -> None:
        from backend.media.writer import write_clip

        try:
            frames = self.finish(self.frames) if self.finishing is not None else self.frames
            frames = scale_frames(frames, self.export_size) if self.export_size else frames
            written = write_clip(frames, self.path, self.fps, self.options, self.metadata,
                                 progress=lambda done, total: self.progress.emit(done, total),
                                 cancel=self.cancel_event.is_set)
        except Cancelled:
            self.failed.emit(translate("ExportDialog", "Export cancelled; nothing was written."))
        except StudioError as exc:
            self.failed.emit(sentence(str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown to the user; the app goes on
            self.failed.emit(sentence(f"The export failed: {type(exc).__name__}: {exc}"))
        else:
            self.finished.emit([str(p) for p in written])
        finally:
            self.thread().quit()


# Running exports, kept until their thread ends: a dialog deleted mid-export must not take a
# running QThread with it (Qt aborts the process then).
_running_jobs: set[ExportJob] = set()


class ExportJob(QObject):
    """One export: owns its QThread and the worker in it, and passes the worker's signals on
    in the GUI thread."""

    progress = Signal(int, int)
    phase = Signal(str)
    finished = Signal(list)
    failed = Signal(str)

    def __init__(self, frames, path: Path, fps: float, options, metadata, size, finishing=None) -> None:
        super().__init__()
        self.cancel_event = threading.Event()
        self.export_thread = QThread(self)
        self.export_thread.setObjectName("exportThread")
        self.worker = ExportWorker(frames, path, fps, options, metadata, size, self.cancel_event, finishing)
        self.worker.moveToThread(self.export_thread)
        self.export_thread.started.connect(self.worker.run)
        # Deleted in its own thread as that thread ends (Qt's documented pattern).
        self.export_thread.finished.connect(self.worker.deleteLater)
        self.export_thread.finished.connect(self._ended)
        self.worker.progress.connect(self.progress)
        self.worker.phase.connect(self.phase)
        self.worker.finished.connect(self.finished)
        self.worker.failed.connect(self.failed)
        app = QCoreApplication.instance()
        if app is not None:  # quitting mid-export cancels it rather than killing the thread
            app.aboutToQuit.connect(self.stop)

    def start(self) -> None:
        _running_jobs.add(self)
        self.export_thread.start()

    def _ended(self) -> None:
        _running_jobs.discard(self)

    @property
    def running(self) -> bool:
        return self.export_thread.isRunning()

    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until the export thread ends (tests, quitting); False if it is still running."""
        return self.export_thread.wait(round(timeout * 1000))

    def stop(self) -> None:
        self.cancel()
        self.wait()


class ExportDialog(QDialog):
    def __init__(self, parent, player, request, settings, name: str = "animation") -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle(self.tr("Export"))
        self.player, self.request, self.settings = player, request, settings
        self.job: ExportJob | None = None
        self.recorded = shown_take_steps(parent, request)
        remembered = dict(getattr(settings, "export", {}) or {})

        self.format = QComboBox()
        self.format.setObjectName("exportFormatCombo")
        self.format.setAccessibleName(self.tr("Format"))
        self.format.setToolTip(self.tr("GIF plays everywhere; MP4 is small and sharp; WebM for the web; WebP lossless; PNG frames for editing."))
        for label, value in FORMATS:
            self.format.addItem(self.tr(label), value)
        self.format.setCurrentIndex(max(0, self.format.findData(remembered.get("format", "gif"))))
        self.path = QLineEdit()
        self.path.setObjectName("exportPathEdit")
        self.path.setAccessibleName(self.tr("File"))
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip(self.tr("Choose where to save"))
        browse.clicked.connect(self._browse)
        self.fps = QSpinBox()
        self.fps.setObjectName("exportFpsSpin")
        self.fps.setAccessibleName(self.tr("Export fps"))
        self.fps.setRange(1, 60)
        self.fps.setValue(round(player.fps))
        self.fps.setToolTip(self.tr("Frames per second of the exported clip"))
        self.range_label = QLabel()
        self.size_choice = QComboBox()
        self.size_choice.setObjectName("exportSizeCombo")
        self.size_choice.setAccessibleName(self.tr("Size"))
        self.size_choice.addItem(self.tr("Original"), "original")
        self.size_choice.addItem("2x", "2x")
        self.size_choice.addItem(self.tr("Custom"), "custom")
        self.size_choice.setCurrentIndex(max(0, self.size_choice.findData(remembered.get("size", "original"))))
        self.custom_width = QSpinBox()
        self.custom_height = QSpinBox()
        for box in (self.custom_width, self.custom_height):
            box.setRange(8, 8192)
        # The clip is fixed when the dialog opens: its frames and the request that made them
        # travel together, whatever the player shows later.
        self.frames = player.range_frames()
        self.frame_range = [player.in_point, player.out_point + 1]
        frames = self.frames
        self.source_size = (frames.shape[2], frames.shape[1])
        self.custom_width.setValue(self.source_size[0])
        self.custom_height.setValue(self.source_size[1])
        self.dither = QComboBox()
        self.dither.setObjectName("exportDitherCombo")
        self.dither.addItem(self.tr("None (smallest, no flicker)"), "none")
        self.dither.addItem(self.tr("Floyd-Steinberg (smoother gradients)"), "floyd-steinberg")
        self.dither.setCurrentIndex(max(0, self.dither.findData(remembered.get("gif_dither", "none"))))
        self.loop = QComboBox()
        self.loop.setObjectName("exportLoopCombo")
        self.loop.addItem(self.tr("Forever"), 0)
        self.loop.addItem(self.tr("Once"), -1)
        self.loop.setCurrentIndex(max(0, self.loop.findData(remembered.get("loop", 0))))
        self.pingpong = QCheckBox(self.tr("Ping-pong (forward, then back)"))
        self.pingpong.setChecked(bool(remembered.get("pingpong", False)))
        self.crf = QSpinBox()
        self.crf.setObjectName("exportCrfSpin")
        self.crf.setRange(0, 51)
        self.crf.setValue(int(remembered.get("crf", 18)))
        self.crf.setToolTip(self.tr("MP4/WebM quality (CRF): lower is better and bigger. 18 looks lossless; 28 is small."))
        self.sidecar = QCheckBox(self.tr("Also write the settings as a .json file"))
        self.sidecar.setChecked(bool(remembered.get("sidecar", False)))
        self.finishing = FinishingFields("export")
        self.finishing.setToolTip(self.tr("Interpolate and/or upscale on the way out (the take stays as it is)"))
        self.open_folder = QCheckBox(self.tr("Open the folder when done"))
        self.open_folder.setChecked(bool(remembered.get("open_folder", False)))
        self.bar = QProgressBar()
        self.bar.setObjectName("exportProgress")
        self.bar.setValue(0)
        self.message = QLabel()
        self.message.setWordWrap(True)

        form = QFormLayout()
        form.addRow(self.tr("Format"), self.format)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path, 1)
        file_row.addWidget(browse)
        form.addRow(self.tr("Save to"), file_row)
        form.addRow(self.tr("Frames"), self.range_label)
        form.addRow(self.tr("FPS"), self.fps)
        size_row = QHBoxLayout()
        size_row.addWidget(self.size_choice)
        size_row.addWidget(self.custom_width)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.custom_height)
        form.addRow(self.tr("Size"), size_row)
        form.addRow(self.tr("GIF dithering"), self.dither)
        form.addRow(self.tr("Loop"), self.loop)
        form.addRow("", self.pingpong)
        form.addRow(self.tr("MP4/WebM quality"), self.crf)
        form.addRow(self.tr("Finishing"), self.finishing)
        form.addRow("", self.sidecar)
        form.addRow("", self.open_folder)
        self.buttons = QDialogButtonBox()
        self.export_button = QPushButton(self.tr("Export"))
        self.export_button.setObjectName("exportStartButton")
        self.export_button.setDefault(True)
        self.buttons.addButton(self.export_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.export_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.size_choice.currentIndexChanged.connect(self._update)
        folder = remembered.get("folder") or str(Path.home())
        self.path.setText(str(Path(folder) / name))
        self._format_changed()

    def _target(self) -> Path:
        kind = self.format.currentData()
        path = Path(self.path.text().strip() or "animation")
        if kind == "folder":
            return path.with_suffix("") if path.suffix else path
        return path.with_suffix(f".{kind}")

    def _format_changed(self) -> None:
        self.path.setText(str(self._target()))
        self._update()

    def _update(self) -> None:
        kind = self.format.currentData()
        start, end = self.player.in_point, self.player.out_point
        self.range_label.setText(
            self.tr("{0} to {1} ({2} frames; set with I and O in the player)").format(start + 1, end + 1, end - start + 1))
        custom = self.size_choice.currentData() == "custom"
        self.custom_width.setEnabled(custom)
        self.custom_height.setEnabled(custom)
        if not custom:  # the greyed fields show the size the export will have
            width, height = self.export_size() or self.source_size
            self.custom_width.setValue(width)
            self.custom_height.setValue(height)
        for widget in (self.dither, self.loop):
            widget.setEnabled(kind == "gif" or (widget is self.loop and kind == "webp"))
        self.crf.setEnabled(kind in ("mp4", "webm"))

    def _browse(self) -> None:
        kind = self.format.currentData()
        if kind == "folder":
            folder = QFileDialog.getExistingDirectory(self, self.tr("Folder for the PNG frames"), str(self._target().parent))
            if folder:
                self.path.setText(str(Path(folder) / self._target().name))
        else:
            path, _ = QFileDialog.getSaveFileName(self, self.tr("Export as"), str(self._target()), f"*.{kind}")
            if path:
                self.path.setText(path)
        self._format_changed()

    def export_size(self) -> tuple[int, int] | None:
        choice = self.size_choice.currentData()
        if choice == "2x":
            return self.source_size[0] * 2, self.source_size[1] * 2
        if choice == "custom":
            return self.custom_width.value(), self.custom_height.value()
        return None

    def start(self) -> None:
        from backend.media.metadata import build_metadata, input_records
        from backend.media.writer import WriteOptions

        frames = self.frames
        kind = self.format.currentData()
        options = WriteOptions(
            gif_dither=self.dither.currentData(),
            loop=self.loop.currentData() if kind in ("gif", "webp") else 0,
            pingpong=self.pingpong.isChecked(),
            crf=self.crf.value() if kind in ("mp4", "webm") else None,
            sidecar=self.sidecar.isChecked(),
        )
        metadata = None
        if self.request is not None:
            recorded = {"finishing": list(self.recorded)} if self.recorded else {}
            metadata = build_metadata(self.request.to_dict(), frame_range=self.frame_range,
                                      **input_records(self.request), **recorded)
        finishing = self.finishing.options()
        try:
            finishing.validate()
        except StudioError as exc:
            self.message.setText(sentence(str(exc)))
            return
        target = self._target()
        if target.exists() and (target.is_file() or any(target.iterdir())) and not self.ask_overwrite(target):
            return
        self.settings.export = {
            "format": kind, "folder": str(target.parent), "size": self.size_choice.currentData(),
            "gif_dither": options.gif_dither, "loop": self.loop.currentData(), "pingpong": options.pingpong,
            "crf": self.crf.value(), "sidecar": options.sidecar, "open_folder": self.open_folder.isChecked(),
        }
        self.job = ExportJob(frames, target, float(self.fps.value()), options, metadata, self.export_size(),
                             finishing if finishing.active else None)
        self.job.progress.connect(self._progress)
        self.job.phase.connect(self.message.setText)
        self.job.finished.connect(self._finished)
        self.job.failed.connect(self._failed)
        self.export_button.setEnabled(False)
        self.cancel_button.setText(self.tr("Cancel"))  # "Close" after an earlier export
        self.message.setText(self.tr("Writing {0}…").format(target.name))
        self.job.start()

    def ask_overwrite(self, target: Path) -> bool:
        """Whether to replace an existing file (or a folder's frames): asked, never assumed."""
        answer = QMessageBox.question(
            self, self.tr("Replace {0}?").format(target.name),
            self.tr("{0} already exists in {1}. Replace it?").format(target.name, str(target.parent)),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
        else:
            super().reject()

    def reject(self) -> None:
        """Esc and the close button cancel a running export first, like Cancel does."""
        self.cancel()

    def wait(self, timeout: float = 60.0) -> None:
        if self.job is not None:
            self.job.wait(timeout)

    def _progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)

    def _finished(self, paths: list) -> None:
        self.bar.setValue(self.bar.maximum())
        self.message.setText(self.tr("Saved {0}.").format(paths[0]))
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button.setEnabled(True)
        self.written = paths
        if self.open_folder.isChecked():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(paths[0]).parent)))
        self.cancel_button.setText(self.tr("Close"))

    def _failed(self, message: str) -> None:
        self.message.setText(message)
        self.export_button.setEnabled(True)
        self.bar.setValue(0)
