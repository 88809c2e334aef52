"""The open project's lifecycle: new, open, save and save as; the autosave of unsaved takes to a
recovery file on a background thread; and, after a crash, the offer to restore them.

It owns the project and tells the window through signals; the window shows it."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from backend.core.errors import InputError
from backend.project.instance_lock import InstanceLock
from backend.project.project_file import SUFFIX, Project, write_snapshot
from backend.project.settings import Settings, data_dir

AUTOSAVE_MS = 5000


def recovery_dir() -> Path:
    return data_dir() / "recovery"


class _AutosaveDone(QObject):
    """Carries "the autosave thread finished" to the GUI thread (a queued signal)."""

    done = Signal()


class ProjectController(QObject):
    """Lives in the GUI thread; `parent` is the window its questions and file dialogs open on."""

    project_changed = Signal(object)  # Project: a new, opened or restored project to show
    saved = Signal()  # the project's name or unsaved state changed
    status = Signal(str)
    error = Signal(str)
    error_cleared = Signal()

    def __init__(self, parent: QWidget, settings: Settings) -> None:
        super().__init__(parent)
        self.window = parent
        self.settings = settings
        self.project = Project()
        # The recovery file and the lock that says "this window is alive" (the OS releases it
        # when the process dies, so the next start can tell a crash from a running window).
        recovery_id = uuid.uuid4().hex
        self.recovery_path = recovery_dir() / f"autosave-{recovery_id}{SUFFIX}"
        self.recovery_lock = InstanceLock(recovery_dir() / f"autosave-{recovery_id}.lock")
        self._autosaved_revision = -1
        self._autosave_thread: threading.Thread | None = None
        self._autosave_result: tuple | None = None
        self._autosave_signal = _AutosaveDone(self)
        self._autosave_signal.done.connect(self._finish_autosave, Qt.ConnectionType.QueuedConnection)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

    def shown_name(self) -> str:
        """The project's name as the window shows it: a new project's "Untitled" translated."""
        name = self.project.name
        return self.tr("Untitled") if name in ("", "Untitled") and self.project.path is None else name

    # -- questions (tests replace these) ----------------------------------------------------

    def ask_unsaved(self) -> str:
        """'save', 'discard' or 'cancel' for a project with unsaved takes."""
        answer = QMessageBox.question(
            self.window, self.tr("Unsaved takes"),
            self.tr("“{0}” has unsaved takes. Save them first?").format(self.shown_name()),
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        return {QMessageBox.StandardButton.Save: "save", QMessageBox.StandardButton.Discard: "discard"}.get(answer, "cancel")

    def ask_restore(self, path: Path) -> bool:
        answer = QMessageBox.question(
            self.window, self.tr("Restore unsaved work?"),
            self.tr("AnimateDiff Studio did not close normally last time. Restore the takes it had not saved?"),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def may_discard(self) -> bool:
        """Whether the current project may go: nothing unsaved, saved now, or the user said so."""
        if not (self.project.dirty and self.project.takes):
            return True
        answer = self.ask_unsaved()
        if answer == "save":
            return self.save_project()
        return answer == "discard"

    # -- lifecycle --------------------------------------------------------------------------

    def set_project(self, project: Project) -> None:
        self.wait_autosave()
        self.project = project
        self._autosaved_revision = -1
        self.project_changed.emit(project)

    def new_project(self) -> None:
        if self.may_discard():
            self._drop_recovery()
            self.set_project(Project())

    def open_project(self, path: str) -> bool:
        if not self.may_discard():
            return False
        try:
            project = Project.open(path)
        except InputError as exc:
            self.error.emit(str(exc))
            return False
        self.error_cleared.emit()
        self._drop_recovery()
        self.set_project(project)
        self.settings.remember("projects", str(project.path))
        self.status.emit(self.tr("Opened {0} ({1} takes)").format(project.path, len(project.takes)))
        return True

    def _start_folder(self) -> Path:
        """The project's folder, else the last export folder, else home."""
        if self.project.path:
            return self.project.path.parent
        return Path(self.settings.export.get("folder") or Path.home())

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, self.tr("Open project"), str(self._start_folder()),
                                              self.projects_filter())
        if path:
            self.open_project(path)

    def projects_filter(self) -> str:
        return self.tr("AnimateDiff Studio projects (*{0})").format(SUFFIX)

    def save_project(self) -> bool:
        if self.project.path is None:
            return self.save_project_as()
        return self.save_to(self.project.path)

    def save_project_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self.window, self.tr("Save project"),
                                              str(self._start_folder() / f"{self.shown_name()}{SUFFIX}"),
                                              self.projects_filter())
        return self.save_to(Path(path)) if path else False

    def save_to(self, path: Path) -> bool:
        self.wait_autosave()
        try:
            saved = self.project.save(path)
        except (InputError, OSError) as exc:
            self.error.emit(self.tr("Could not save the project: {0}").format(exc))
            return False
        self._drop_recovery()
        self.settings.remember("projects", str(saved))
        self.saved.emit()
        self.status.emit(self.tr("Saved {0}").format(saved))
        return True

    def shutdown(self) -> None:
        """On quit: stop autosaving and remove our recovery file (the work was saved or
        discarded by then), then let the next start know this window closed normally."""
        self.autosave_timer.stop()
        self._drop_recovery()
        self.recovery_lock.release()

    # -- autosave ---------------------------------------------------------------------------

    def autosave(self) -> None:
        """Keep a recovery copy of unsaved takes, so a crash costs no work. Runs only when
        something changed since the last autosave, and writes on a background thread; takes
        already in a project or recovery file are copied as stored, not encoded again."""
        project = self.project
        if self._autosave_thread is not None:
            return  # the previous one is still writing; the next tick catches up
        if not (project.dirty and project.takes):
            if not project.takes:
                self._drop_recovery()
            return
        if project.revision == self._autosaved_revision:
            return
        project.ui_state["original_path"] = str(project.path) if project.path else ""
        snapshot = project.snapshot()
        target = self.recovery_path

        def write() -> None:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                self.recovery_lock.acquire()
                self._autosave_result = (project, snapshot, write_snapshot(snapshot, target), None)
            except (InputError, OSError) as exc:
                self._autosave_result = (project, snapshot, None, exc)
            self._autosave_signal.done.emit()

        self._autosave_thread = threading.Thread(target=write, name="autosave", daemon=True)
        self._autosave_thread.start()

    @property
    def autosaving(self) -> bool:
        return self._autosave_thread is not None

    def _finish_autosave(self) -> None:
        thread = self._autosave_thread
        if thread is None or thread.is_alive():
            return
        self._autosave_thread = None
        project, snapshot, path, error = self._autosave_result
        self._autosave_result = None
        if error is not None:
            self.status.emit(self.tr("Autosave failed: {0}").format(error))
            return
        if project is self.project:
            project.stored_in(snapshot, path)
            self._autosaved_revision = snapshot.revision

    def autosave_now(self) -> None:
        """Autosave and wait for it (tests, benchmarks, a quit that keeps the recovery file)."""
        self.autosave()
        self.wait_autosave()

    def wait_autosave(self) -> None:
        """Let a running autosave finish (before a save, a project switch or quitting)."""
        if self._autosave_thread is not None:
            self._autosave_thread.join()
            self._finish_autosave()

    def _drop_recovery(self) -> None:
        self.wait_autosave()
        if self.recovery_path.exists():
            self.recovery_path.unlink()
        self._autosaved_revision = -1

    # -- recovery ---------------------------------------------------------------------------

    def offer_recovery(self) -> bool:
        """After a crash, offer the takes the last run had not saved. A recovery file belongs
        to a crashed window when nobody holds its lock."""
        folder = recovery_dir()
        if not folder.is_dir():
            return False
        for path in sorted(folder.glob(f"autosave-*{SUFFIX}")):
            if path == self.recovery_path:
                continue
            owner = InstanceLock(path.with_suffix(".lock"))
            if not owner.acquire():
                continue  # another running window's
            try:
                if not self.ask_restore(path):
                    path.unlink(missing_ok=True)
                    return False
                return self._restore_from(path)
            finally:
                owner.release()
        return False

    def _restore_from(self, path: Path) -> bool:
        """Make a crashed window's recovery file ours: moved, not copied, so it is never gone
        before its takes are safe in our own recovery file."""
        self.wait_autosave()
        self.recovery_lock.acquire()
        self.recovery_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, self.recovery_path)
        try:
            project = Project.open(self.recovery_path)
        except InputError as exc:
            damaged = self.recovery_path.with_name(f"damaged-{self.recovery_path.name}")
            os.replace(self.recovery_path, damaged)
            self.error.emit(self.tr("The recovery file could not be read: {0}. It was kept as {1}.").format(exc, damaged))
            return False
        original = project.ui_state.get("original_path") or ""
        project.path = Path(original) if original else None
        project.name = Path(original).stem if original else self.tr("Recovered")
        # The frames' store is now our recovery file, so this is also the first autosave.
        project.touch()
        self.set_project(project)
        self.autosave()
        count = len(project.takes)
        if count == 1:
            self.status.emit(self.tr("Restored 1 unsaved take."))
        else:
            self.status.emit(self.tr("Restored {0} unsaved takes.").format(count))
        return True
