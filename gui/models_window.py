"""The Models window (Models › Manage…): the catalog with what is downloaded and how much disk
it takes, Download with progress and Cancel, Delete, Use; and local model folders.

Downloads run in a plain thread (backend.hub.downloads does the work and the cancelling); results
come back through Qt signals, which Qt queues onto the GUI thread.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QT_TRANSLATE_NOOP, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from backend.core.errors import Cancelled, StudioError
from backend.core.units import format_bytes
from backend.hub.downloads import DownloadProgress
from gui.catalog_text import catalog_text, recommended_text
from gui.i18n import translate
from gui.panels import named

KIND_TEXT = {  # shown through translate("ModelsWindow", …)
    "base-model": QT_TRANSLATE_NOOP("ModelsWindow", "Base model"),
    "motion-adapter": QT_TRANSLATE_NOOP("ModelsWindow", "Motion adapter"),
    "motion-lora": QT_TRANSLATE_NOOP("ModelsWindow", "Motion LoRA"),
    "lora": QT_TRANSLATE_NOOP("ModelsWindow", "Image LoRA"),
    "controlnet": QT_TRANSLATE_NOOP("ModelsWindow", "ControlNet"),
    "sparse-control": QT_TRANSLATE_NOOP("ModelsWindow", "SparseCtrl"),
    "ip-adapter": QT_TRANSLATE_NOOP("ModelsWindow", "IP-Adapter"),
    "preprocessor": QT_TRANSLATE_NOOP("ModelsWindow", "Preprocessor"),
    "interpolation-model": QT_TRANSLATE_NOOP("ModelsWindow", "Interpolation model"),
    "upscale-model": QT_TRANSLATE_NOOP("ModelsWindow", "Upscale model"),
}


def progress_text(info: dict) -> str:
    """'12.0/45.0 MB · 3.1 MB/s · about 11 s left' from a download progress dict."""
    text = f"{format_bytes(info['step'])}/{format_bytes(info['total'])}"
    speed = info.get("speed") or 0
    if speed:
        text += " · " + translate("ModelsWindow", "{0}/s").format(format_bytes(speed))
    eta = info.get("eta")
    if eta is not None and info["step"] < info["total"]:
        text += " · " + translate("ModelsWindow", "about {0} s left").format(f"{eta:.0f}")
    return text


def progress_dict(progress: DownloadProgress) -> dict:
    return {
        "phase": progress.phase,
        "step": progress.step,
        "total": progress.total,
        "elapsed": progress.elapsed,
        "eta": progress.eta,
        "speed": progress.speed,
        "model": progress.model,
        "file": progress.file,
        "file_done": progress.file_done,
        "file_total": progress.file_total,
        "files_done": progress.files_done,
        "files_total": progress.files_total,
    }


# -- asking before a job downloads ---------------------------------------------------------------


def ask_download(parent, text: str) -> bool:
    answer = QMessageBox.question(
        parent,
        translate("ModelsWindow", "Download models?"),
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes,
    )
    return answer == QMessageBox.StandardButton.Yes


def download_question(plans) -> str:
    """The question before a job whose Hub models are not cached: what will be downloaded, how
    big (gui/download_check.py gathers the plans off the GUI thread)."""
    needed = sum(plan.missing_bytes for plan in plans)
    lines = "\n".join(
        f"  • {plan.ref.role}: {plan.ref.label} — {format_bytes(plan.missing_bytes)}"
        for plan in plans
    )
    return translate(
        "ModelsWindow",
        "This job needs models that are not downloaded yet:\n{0}\n\n"
        "Download {1} from the Hugging Face Hub now, then generate? "
        "They are kept in the Hugging Face cache for next time.",
    ).format(lines, format_bytes(needed))


def nothing_downloaded() -> str:
    return translate("ModelsWindow", "Nothing downloaded; the job was not started.")


# -- the window ----------------------------------------------------------------------------------


class DownloadTask(QObject):
    """One download in a thread of its own; cancel() stops it within a second."""

    progress = Signal(object)  # dict
    finished = Signal(str)  # model id
    failed = Signal(str, str)  # model id, message ("cancelled" for a cancel)

    def __init__(self, model_id: str) -> None:
        super().__init__()
        self.model_id = model_id
        self.cancel_event = threading.Event()
        self.download_thread = threading.Thread(target=self._run, name=f"download {model_id}", daemon=True)

    def start(self) -> None:
        self.download_thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def _run(self) -> None:
        from backend.hub.catalog import ref_for_id
        from backend.hub.downloads import download

        try:
            download(
                [ref_for_id(self.model_id)],
                on_progress=lambda p: self.progress.emit(progress_dict(p)),
                cancel=self.cancel_event,
            )
        except Cancelled:
            self.failed.emit(self.model_id, "cancelled")
        except StudioError as exc:
            self.failed.emit(self.model_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported in the window, which goes on
            self.failed.emit(self.model_id, f"{type(exc).__name__}: {exc}")
        else:
            self.finished.emit(self.model_id)


class ModelsWindow(QDialog):
    """Catalog and local folders. `use_model(kind, value)` is called for Use."""

    def __init__(self, parent=None, use_model=None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsWindow")
        self.setAccessibleName(self.tr("Models"))
        self.setWindowTitle(self.tr("Models — AnimateDiff Studio"))
        self.use_model = use_model
        self.task: DownloadTask | None = None
        self.resize(980, 600)

        self.tabs = named(
            QTabWidget(),
            "modelsTabs",
            self.tr("Model sources"),
            self.tr("The Hub catalog and your local model folders"),
        )
        self.tabs.addTab(self._build_catalog(), "Hugging Face Hub")
        self.tabs.addTab(self._build_local(), self.tr("Local folders"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self.status = QLabel("")
        self.status.setObjectName("modelsStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.refresh()

    # -- building --------------------------------------------------------------------------

    def _build_catalog(self) -> QWidget:
        page = QWidget()
        self.catalog = named(
            QTableWidget(0, 4),
            "catalogTable",
            self.tr("Model catalog"),
            self.tr("Well-known models for AnimateDiff. Select one to download, delete or use it."),
        )
        self.catalog.setHorizontalHeaderLabels(
            [self.tr("Model"), self.tr("Kind"), self.tr("Size"), self.tr("On this computer")]
        )
        header = self.catalog.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.catalog.verticalHeader().setVisible(False)
        self.catalog.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.catalog.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.catalog.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.catalog.itemSelectionChanged.connect(self._update_buttons)
        self.details = QLabel("")
        self.details.setObjectName("modelDetails")
        self.details.setWordWrap(True)
        self.details.setMinimumHeight(48)
        self.download_button = named(
            QPushButton(self.tr("Download")),
            "modelDownloadButton",
            self.tr("Download"),
            self.tr("Download the selected model into the Hugging Face cache"),
        )
        self.cancel_button = named(
            QPushButton(self.tr("Cancel")),
            "modelCancelButton",
            self.tr("Cancel download"),
            self.tr("Stop the download (within a second); finished files are kept"),
        )
        self.delete_button = named(
            QPushButton(self.tr("Delete")),
            "modelDeleteButton",
            self.tr("Delete"),
            self.tr("Remove the selected model from the Hugging Face cache to free the disk"),
        )
        self.use_button = named(
            QPushButton(self.tr("Use")),
            "modelUseButton",
            self.tr("Use"),
            self.tr("Put the selected model in the main window's model fields"),
        )
        self.download_button.clicked.connect(self.download_selected)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.delete_button.clicked.connect(self.delete_selected)
        self.use_button.clicked.connect(self.use_selected)
        self.progress = named(
            QProgressBar(),
            "modelProgressBar",
            self.tr("Download progress"),
            self.tr("Bytes downloaded of the total, speed and time left"),
        )
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        buttons = QHBoxLayout()
        for button in (
            self.download_button,
            self.cancel_button,
            self.delete_button,
            self.use_button,
        ):
            buttons.addWidget(button)
        buttons.addWidget(self.progress, 1)
        layout = QVBoxLayout(page)
        layout.addWidget(self.catalog, 1)
        layout.addWidget(self.details)
        layout.addLayout(buttons)
        return page

    def _build_local(self) -> QWidget:
        page = QWidget()
        self.folders = named(
            QListWidget(),
            "modelFolderList",
            self.tr("Model folders"),
            self.tr("Folders of .safetensors files (for example an A1111 or ComfyUI models folder)"),
        )
        self.folders.setMaximumHeight(90)
        add = named(
            QPushButton(self.tr("Add folder…")),
            "addModelFolderButton",
            self.tr("Add folder"),
            self.tr("Add a folder of .safetensors models"),
        )
        remove = named(
            QPushButton(self.tr("Remove folder")),
            "removeModelFolderButton",
            self.tr("Remove folder"),
            self.tr("Stop listing the selected folder (its files stay)"),
        )
        add.clicked.connect(self.add_folder_dialog)
        remove.clicked.connect(self.remove_selected_folder)
        folder_buttons = QVBoxLayout()
        folder_buttons.addWidget(add)
        folder_buttons.addWidget(remove)
        folder_buttons.addStretch(1)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folders, 1)
        folder_row.addLayout(folder_buttons)
        self.local = named(
            QTableWidget(0, 4),
            "localModelsTable",
            self.tr("Local models"),
            self.tr("Every .safetensors in your folders, told apart from its header"),
        )
        self.local.setHorizontalHeaderLabels([self.tr("File"), self.tr("Kind"), self.tr("Size"), self.tr("Note")])
        # The path keeps a fair share and is cut in the middle; the note takes the rest (long
        # notes no longer squash the other columns). Full texts are in the tooltips.
        header = self.local.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 420)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.local.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.local.verticalHeader().setVisible(False)
        self.local.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.local.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.local.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.use_local_button = named(
            QPushButton(self.tr("Use")),
            "useLocalModelButton",
            self.tr("Use local model"),
            self.tr("Put the selected file in the matching model field"),
        )
        self.use_local_button.clicked.connect(self.use_selected_local)
        layout = QVBoxLayout(page)
        layout.addLayout(folder_row)
        layout.addWidget(self.local, 1)
        layout.addWidget(self.use_local_button, 0, Qt.AlignmentFlag.AlignRight)
        return page

    # -- state -------------------------------------------------------------------------------

    def refresh(self) -> None:
        from backend.hub.catalog import cached_models, load_catalog

        cached = {m.repo_id: m for m in cached_models()}
        selected = self.selected_id()
        self.catalog.setRowCount(0)
        self.entries = list(load_catalog())
        for row, entry in enumerate(self.entries):
            self.catalog.insertRow(row)
            state, on_disk = self._state(entry, cached)
            size = f"{entry.size_mb:g} MB" if entry.size_mb else "—"
            for column, text in enumerate(
                (catalog_text(entry.name), self.tr(KIND_TEXT.get(entry.kind, entry.kind)), size, state)
            ):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry.id)
                if column == 0:
                    item.setToolTip(entry.id)
                self.catalog.setItem(row, column, item)
            if entry.id == selected:
                self.catalog.selectRow(row)
        self._refresh_local()
        self._update_buttons()

    def _state(self, entry, cached) -> tuple[str, int]:
        from backend.hub.catalog import size_on_disk
        from backend.hub.downloads import complete_snapshot

        if complete_snapshot(entry.ref) is not None:
            size = (
                size_on_disk(entry)
                if entry.files
                else cached[entry.repo].size_on_disk
                if entry.repo in cached
                else 0
            )
            return self.tr("downloaded · {0}").format(format_bytes(size)), size
        if entry.repo in cached and not entry.files:
            size = cached[entry.repo].size_on_disk
            return self.tr("incomplete · {0}").format(format_bytes(size)), size
        return self.tr("not downloaded"), 0

    def _refresh_local(self) -> None:
        from backend.hub.scan import load_folders, scan_folder

        self.folders.clear()
        self.local.setRowCount(0)
        self.local_models = []
        for folder in load_folders():
            self.folders.addItem(folder)
            try:
                self.local_models.extend(scan_folder(folder))
            except StudioError as exc:
                self.folders.item(self.folders.count() - 1).setToolTip(str(exc))
        for row, model in enumerate(self.local_models):
            self.local.insertRow(row)
            note = model.note or ("" if model.usable else self.tr("not usable with these adapters"))
            kind = translate("LocalModel", model.label)
            for column, text in enumerate((model.path, kind, format_bytes(model.size), note)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.local.setItem(row, column, item)

    def selected_id(self) -> str | None:
        items = self.catalog.selectedItems() if hasattr(self, "catalog") else []
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def select(self, model_id: str) -> None:
        for row in range(self.catalog.rowCount()):
            if self.catalog.item(row, 0).data(Qt.ItemDataRole.UserRole) == model_id:
                self.catalog.selectRow(row)
                return

    def _selected_entry(self):
        from backend.hub.catalog import find_entry

        model_id = self.selected_id()
        return find_entry(model_id) if model_id else None

    def _update_buttons(self) -> None:
        from backend.hub.downloads import complete_snapshot

        entry = self._selected_entry()
        busy = self.task is not None
        downloaded = entry is not None and complete_snapshot(entry.ref) is not None
        self.download_button.setEnabled(entry is not None and not busy and not downloaded)
        self.cancel_button.setEnabled(busy)
        self.delete_button.setEnabled(entry is not None and not busy and downloaded)
        self.use_button.setEnabled(entry is not None and (downloaded or not entry.files))
        if entry is None:
            self.details.setText(self.tr("Select a model to see what it is for."))
            return
        recommended = recommended_text(entry.recommended)
        self.details.setText(
            f"<b>{catalog_text(entry.name)}</b> — {catalog_text(entry.description)}<br><small>"
            + self.tr("{0} · licence: {1} · recommended: {2}").format(
                entry.id, catalog_text(entry.licence), recommended)
            + "</small>"
        )

    # -- actions -----------------------------------------------------------------------------

    def download_selected(self) -> None:
        model_id = self.selected_id()
        if model_id is None or self.task is not None:
            return
        self.task = DownloadTask(model_id)
        self.task.progress.connect(self._on_progress)
        self.task.finished.connect(self._on_finished)
        self.task.failed.connect(self._on_failed)
        self.progress.setRange(0, 0)
        self.progress.setFormat(self.tr("asking the Hub…"))
        self.status.setText(self.tr("Downloading {0}…").format(model_id))
        self.task.start()
        self._update_buttons()

    def cancel_download(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.status.setText(self.tr("Cancelling…"))

    def _on_progress(self, info: dict) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(
            round(1000 * info["step"] / info["total"]) if info["total"] else 1000
        )
        self.progress.setFormat(progress_text(info))
        number = min(info["files_done"] + 1, info["files_total"])
        self.status.setText(
            self.tr("Downloading {0}: {1} (file {2} of {3})").format(
                info["model"], info["file"], number, info["files_total"]
            )
        )

    def _done(self) -> None:
        self.task = None
        self.progress.setRange(0, 1000)
        self.refresh()

    def _on_finished(self, model_id: str) -> None:
        self._done()
        self.progress.setValue(1000)
        self.progress.setFormat(self.tr("done"))
        self.status.setText(self.tr("Downloaded {0}.").format(model_id))

    def _on_failed(self, model_id: str, message: str) -> None:
        self._done()
        self.progress.setValue(0)
        cancelled = message == "cancelled"
        self.progress.setFormat(self.tr("cancelled") if cancelled else self.tr("failed"))
        self.status.setText(
            self.tr("Download of {0} cancelled.").format(model_id) if cancelled else message
        )

    def ask_delete(self, text: str) -> bool:
        answer = QMessageBox.question(
            self,
            self.tr("Delete model?"),
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def delete_selected(self) -> None:
        from backend.hub.catalog import delete_model

        entry = self._selected_entry()
        if entry is None or not self.ask_delete(
            self.tr("Delete {0} ({1}) from the Hugging Face cache?").format(catalog_text(entry.name), entry.id)
        ):
            return
        try:
            freed = delete_model(entry.id)
        except (StudioError, OSError) as exc:
            self.status.setText(self.tr("Could not delete {0}: {1}").format(entry.id, exc))
            return
        self.status.setText(self.tr("Deleted {0}: {1} freed.").format(entry.id, format_bytes(freed)))
        self.refresh()

    def use_selected(self) -> None:
        from backend.hub.catalog import entry_path

        entry = self._selected_entry()
        if entry is None or self.use_model is None:
            return
        value = entry.id if not entry.files else entry_path(entry)
        if value is None:
            self.status.setText(self.tr("Download {0} first.").format(catalog_text(entry.name)))
            return
        self.use_model(entry.kind, str(value))
        self.status.setText(self.tr("Using {0}.").format(catalog_text(entry.name)))

    def use_selected_local(self) -> None:
        from backend.hub.scan import DIFFUSERS_MODEL, MOTION_LORA, MOTION_MODULE, SD15

        rows = self.local.selectionModel().selectedRows() if self.local.selectionModel() else []
        if not rows or self.use_model is None:
            return
        model = self.local_models[rows[0].row()]
        kind = {
            SD15: "base-model",
            DIFFUSERS_MODEL: "base-model",
            MOTION_MODULE: "motion-adapter",
            MOTION_LORA: "motion-lora",
        }.get(model.kind)
        if kind is None or not model.usable:
            if model.note:
                text = self.tr("{0} files have no model field here ({1}).").format(model.label, model.note)
            else:
                text = self.tr("{0} files have no model field here.").format(model.label)
            self.status.setText(text)
            return
        self.use_model(kind, model.load_path)
        self.status.setText(self.tr("Using {0}.").format(model.load_path))

    def add_folder(self, folder: str) -> None:
        from backend.hub.scan import add_folder

        try:
            add_folder(folder)
        except StudioError as exc:
            self.status.setText(str(exc))
            return
        self.refresh()
        self.tabs.setCurrentIndex(1)
        self.status.setText(
            self.tr("Added {0}: {1} model files in your folders.").format(folder, len(self.local_models))
        )

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Add a model folder"))
        if folder:
            self.add_folder(folder)

    def remove_selected_folder(self) -> None:
        from backend.hub.scan import remove_folder

        item = self.folders.currentItem()
        if item is not None:
            remove_folder(item.text())
            self.refresh()

    def closeEvent(self, event) -> None:  # noqa: N802
        if self.task is not None:
            self.task.cancel()
            self.task.download_thread.join(2.0)
        super().closeEvent(event)


def use_in_panel(panel, kind: str, value: str) -> None:
    """Put a model in the main window's matching field (ModelsPanel)."""
    if kind == "base-model":
        panel.base.set_text(value)
    elif kind == "motion-adapter":
        panel.adapter.set_text(value)
    elif kind == "motion-lora":
        panel.loras.add(value, 0.8)
    elif kind == "lora":
        panel.image_loras.add(value, 0.8)


def show_models_window(window) -> ModelsWindow:
    """Open (or raise) the window's Models window; local models it lists go to the fields."""
    dialog = getattr(window, "models_window", None)
    if dialog is None:
        dialog = ModelsWindow(
            window, use_model=lambda kind, value: use_in_panel(window.models, kind, value)
        )
        dialog.finished.connect(lambda _=0: window.models.offer_local(dialog.local_models))
        window.models_window = dialog
    else:
        dialog.refresh()
    dialog.show()
    dialog.raise_()
    return dialog
