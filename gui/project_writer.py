"""Project files written off the GUI thread: a save or an autosave encodes the takes' PNGs and
flushes the file on a thread of its own, one write at a time, and reports back through queued
signals, so the window keeps drawing while a project of many takes is written.

The GUI thread takes the snapshot (cheap: the frames are shared, never copied) and applies the
result; only the writing runs on the thread. Files no longer needed (a recovery copy once the
project is saved) are deleted off the GUI thread too, by a FileDropper."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from backend.core.errors import InputError
from backend.project.project_file import write_snapshot

DROPPED_PREFIX = "dropped-"  # a file renamed away, being deleted (or left by a killed process)


@dataclass
class Write:
    """One write: what (`kind`: "save" or "autosave"), of which project, where, and, once done,
    the file written or the error."""

    kind: str
    project: Any  # backend Project
    snapshot: Any  # its ProjectSnapshot
    target: Path
    prepare: Callable[[], None] | None = None  # runs on the thread before writing
    then: Callable[[], None] | None = None  # runs on the GUI thread after a write that succeeded
    path: Path | None = None
    error: Exception | None = None


class _Relay(QObject):
    """Carries the thread's news to the GUI thread (queued connections)."""

    progress = Signal(int, int)
    done = Signal()


class ProjectWriter(QObject):
    """Lives in the GUI thread. `start` begins a write when none is running; `finished` comes
    on the GUI thread with the Write, its `path` or `error` filled in."""

    progress = Signal(int, int)  # takes written, of
    finished = Signal(object)  # Write

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._write: Write | None = None
        self._relay = _Relay(self)
        self._relay.progress.connect(self.progress, Qt.ConnectionType.QueuedConnection)
        self._relay.done.connect(self._finish, Qt.ConnectionType.QueuedConnection)

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def current(self) -> Write | None:
        return self._write

    def start(self, write: Write) -> None:
        if self.busy:
            raise RuntimeError("a project write is already running")
        self._write = write
        self._thread = threading.Thread(target=self._run, args=(write,), name=f"project-{write.kind}",
                                        daemon=True)
        self._thread.start()

    def _run(self, write: Write) -> None:
        try:
            if write.prepare is not None:
                write.prepare()
            write.path = write_snapshot(write.snapshot, write.target, on_take=self._relay.progress.emit)
        except (InputError, OSError) as exc:
            write.error = exc
        except Exception as exc:  # noqa: BLE001 - said in the window; the thread must report
            write.error = exc
        self._relay.done.emit()

    def _finish(self) -> None:
        thread, write = self._thread, self._write
        if thread is None or write is None:
            return
        thread.join()  # it has emitted `done` as its last act: at most a moment
        self._thread = self._write = None
        self.finished.emit(write)

    def wait(self) -> None:
        """Block until the running write is done and reported (tests, benchmarks, the crash
        story's scripted app); the window itself never calls this."""
        if self._thread is not None:
            self._thread.join()
            self._finish()


class FileDropper:
    """Deletes files without the GUI thread waiting on the disk: the file is renamed away at
    once (a metadata change, so its name is free and nothing finds it there), then deleted on a
    thread of its own (deleting the few hundred MB of a project's recovery copy takes the file
    system about 0.1 s). A renamed file a killed process left behind is swept by `sweep`."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []

    def drop(self, path: Path) -> None:
        hidden = path.with_name(f"{DROPPED_PREFIX}{os.urandom(8).hex()}-{path.name}")
        try:
            os.replace(path, hidden)
        except FileNotFoundError:
            return
        except OSError:  # renaming refused (a reader has it open on Windows): delete it here
            path.unlink(missing_ok=True)
            return
        self._delete([hidden])

    def sweep(self, folder: Path) -> None:
        """Delete, off the GUI thread, what earlier runs renamed away but did not delete."""
        if folder.is_dir():
            self._delete(list(folder.glob(f"{DROPPED_PREFIX}*")))

    def _delete(self, paths: list[Path]) -> None:
        if not paths:
            return
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        thread = threading.Thread(target=_unlink_all, args=(paths,), name="drop-files", daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self) -> None:
        """Block until the files dropped so far are deleted (on quit, so none is left)."""
        for thread in self._threads:
            thread.join()
        self._threads = []


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass  # still there: the next start's sweep tries again
