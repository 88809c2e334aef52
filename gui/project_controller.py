"""The open project's lifecycle: new, open, save and save as; the autosave of unsaved takes to a
recovery file; and, after a crash, the offer to restore them.

Saves and autosaves are written by a ProjectWriter on a thread of its own, one at a time; the
GUI thread never waits for one: what must follow a write (the next save, dropping the recovery
file, quitting) is queued until the writer is idle. It owns the project and tells the window
through signals; the window shows it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from backend.core.errors import InputError
from backend.project.instance_lock import InstanceLock
from backend.project.project_file import SUFFIX, Project
from backend.project.settings import Settings, data_dir
from gui.project_writer import FileDropper, ProjectWriter, Write

AUTOSAVE_MS = 5000


def recovery_dir() -> Path:
    return data_dir() / "recovery"


class ProjectController(QObject):
    """Lives in the GUI thread; `parent` is the window its questions and file dialogs open on."""

    project_changed = Signal(object)  # Project: a new, opened or restored project to show
    saved = Signal()  # the project's name or unsaved state changed
    saving_changed = Signal(bool)  # a save started (True) or ended (False)
    save_progress = Signal(int, int)  # takes written, of
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
        recovery_id = os.urandom(16).hex()  # 32 hex digits, as a uuid4's (uuid loads slowly)
        self.recovery_path = recovery_dir() / f"autosave-{recovery_id}{SUFFIX}"
        self.recovery_lock = InstanceLock(recovery_dir() / f"autosave-{recovery_id}.lock")
        self._autosaved_revision = -1
        self.writer = ProjectWriter(self)
        self.dropper = FileDropper()  # deletes recovery copies off the GUI thread
        self.writer.finished.connect(self._write_finished)
        self.writer.progress.connect(self._write_progress)
        self._when_idle: list[Callable[[], None]] = []
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

    def may_discard(self, then: Callable[[], None]) -> bool:
        """Let the current project go, then call `then`: at once when nothing is unsaved or the
        user discards it; after the save finished when the user saves it (not at all if that
        save fails or is cancelled). False when the user cancelled."""
        if self.saving:  # asked again once the save running now is written
            self.after_writes(lambda: self.may_discard(then))
            return True
        if not (self.project.dirty and self.project.takes):
            then()
            return True
        answer = self.ask_unsaved()
        if answer == "save":
            return self.save_project(then=then)
        if answer == "discard":
            then()
            return True
        return False

    # -- lifecycle --------------------------------------------------------------------------

    def set_project(self, project: Project) -> None:
        self.project = project  # an autosave of the one before, still writing, is dropped then
        self._autosaved_revision = -1
        self.project_changed.emit(project)

    def new_project(self) -> None:
        def new() -> None:
            self._drop_recovery()
            self.set_project(Project())

        self.may_discard(new)

    def open_project(self, path: str) -> bool:
        """Open `path` once the current project may go. True when it opened now; False when it
        could not, or will open after the current project's save."""
        opened = []
        self.may_discard(lambda: opened.append(self._open(path)))
        return bool(opened and opened[0])

    def _open(self, path: str) -> bool:
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

    def save_project(self, then: Callable[[], None] | None = None) -> bool:
        if self.project.path is None:
            return self.save_project_as(then)
        return self.save_to(self.project.path, then)

    def save_project_as(self, then: Callable[[], None] | None = None) -> bool:
        path, _ = QFileDialog.getSaveFileName(self.window, self.tr("Save project"),
                                              str(self._start_folder() / f"{self.shown_name()}{SUFFIX}"),
                                              self.projects_filter())
        return self.save_to(Path(path), then) if path else False

    def save_to(self, path: Path, then: Callable[[], None] | None = None) -> bool:
        """Start saving the project to `path` on the writer's thread (after a running autosave)
        and return; `saved` or `error` says how it ended, and `then` runs after a save that
        succeeded. The frames are taken as they are now: takes added meanwhile stay unsaved."""
        self.after_writes(lambda: self._start_save(Path(path), then))
        return True

    @property
    def saving(self) -> bool:
        write = self.writer.current
        return write is not None and write.kind == "save"

    def _start_save(self, path: Path, then: Callable[[], None] | None) -> None:
        project = self.project
        project.name_after(path)  # before the snapshot: the file holds its own name
        self.writer.start(Write("save", project, project.snapshot(), path, then=then))
        self.saving_changed.emit(True)
        self.status.emit(self.tr("Saving {0}…").format(path))

    def _save_finished(self, write: Write) -> None:
        self.saving_changed.emit(False)
        if write.error is not None:
            self.error.emit(self.tr("Could not save the project: {0}").format(write.error))
            return
        write.project.saved_to(write.snapshot, write.path)
        if write.project is self.project:
            self._drop_recovery()
        self.settings.remember("projects", str(write.path))
        self.saved.emit()
        self.status.emit(self.tr("Saved {0}").format(write.path))
        if write.then is not None:
            write.then()

    def _write_progress(self, done: int, total: int) -> None:
        if self.saving:
            self.save_progress.emit(done, total)

    def shutdown(self, then: Callable[[], None] | None = None) -> None:
        """On quit: stop autosaving; once a running write is done, remove our recovery file
        (the work was saved or discarded by then) and let the next start know this window
        closed normally; then call `then`."""
        self.autosave_timer.stop()

        def finish() -> None:
            self._drop_recovery()
            self.dropper.wait()  # deleted before the lock says this window closed normally
            self.recovery_lock.release()
            if then is not None:
                then()

        self.after_writes(finish)

    def after_writes(self, action: Callable[[], None]) -> None:
        """Run `action` now if nothing is being written, else as soon as the writes end."""
        if self.writer.busy:
            self._when_idle.append(action)
        else:
            action()

    def _write_finished(self, write: Write) -> None:
        if write.kind == "save":
            self._save_finished(write)
        else:
            self._autosave_finished(write)
        while self._when_idle and not self.writer.busy:
            self._when_idle.pop(0)()

    # -- autosave ---------------------------------------------------------------------------

    def autosave(self) -> None:
        """Keep a recovery copy of unsaved takes, so a crash costs no work. Runs only when
        something changed since the last autosave, and writes on a background thread; takes
        already in a project or recovery file are copied as stored, not encoded again."""
        project = self.project
        if self.writer.busy:
            return  # a save or the previous autosave is still writing; the next tick catches up
        if not (project.dirty and project.takes):
            if not project.takes:
                self._drop_recovery()
            return
        if project.revision == self._autosaved_revision:
            return
        project.ui_state["original_path"] = str(project.path) if project.path else ""
        target = self.recovery_path

        def prepare() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.recovery_lock.acquire()

        self.writer.start(Write("autosave", project, project.snapshot(), target, prepare))

    @property
    def autosaving(self) -> bool:
        write = self.writer.current
        return write is not None and write.kind == "autosave"

    def _autosave_finished(self, write: Write) -> None:
        if write.error is not None:
            self.status.emit(self.tr("Autosave failed: {0}").format(write.error))
            return
        if write.project is self.project:
            write.project.stored_in(write.snapshot, write.path)
            self._autosaved_revision = write.snapshot.revision
        else:  # the project changed while it was written: that copy is no one's recovery now
            self.dropper.drop(write.path)

    def autosave_now(self) -> None:
        """Autosave and wait for it (tests, benchmarks, the crash story's scripted app)."""
        self.autosave()
        self.wait_writes()

    def wait_writes(self) -> None:
        """Block until the running save or autosave is done (tests and benchmarks only: the
        window never waits for a write)."""
        self.writer.wait()

    def _drop_recovery(self) -> None:
        def drop() -> None:
            self.dropper.drop(self.recovery_path)
            self._autosaved_revision = -1

        self.after_writes(drop)

    # -- recovery ---------------------------------------------------------------------------

    def offer_recovery(self) -> bool:
        """After a crash, offer the takes the last run had not saved. A recovery file belongs
        to a crashed window when nobody holds its lock."""
        folder = recovery_dir()
        if not folder.is_dir():
            return False
        self.dropper.sweep(folder)
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
        before its takes are safe in our own recovery file. At start, so nothing is writing."""
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
        count = len(project.takes) - saved_takes(project)
        if count == 0:
            self.status.emit(self.tr("Restored the unsaved changes to {0}.").format(project.name))
        elif count == 1:
            self.status.emit(self.tr("Restored 1 unsaved take."))
        else:
            self.status.emit(self.tr("Restored {0} unsaved takes.").format(count))
        return True


def saved_takes(project: Project) -> int:
    """How many of a restored project's takes its own file already holds (unchanged or not):
    the rest are what the restore brought back."""
    if project.path is None:
        return 0
    try:
        stored = {take.id for take in Project.open(project.path).takes}
    except InputError:
        return 0  # moved or damaged since: every take came back from the recovery file
    return sum(take.id in stored for take in project.takes)
