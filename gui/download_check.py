"""Before a job whose Hub models are not in the cache: find out what it would download, off the
GUI thread, and ask.

Which files, how big (one Hub request per model) and whether the disk has room are found on a
thread of its own. The whole of it is bounded by PLAN_DEADLINE_S, name lookups included (a DNS
lookup has no timeout of its own): past the deadline the window says that the Hub did not
answer and goes on; the thread's late answer, if it ever comes, is dropped."""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from backend.core.errors import StudioError

PLAN_DEADLINE_S = 10.0  # for every model of the job together


class DownloadCheck(QObject):
    """One check for one request; `window` shows its status, errors and the question."""

    _answered = Signal(object)  # from the thread: ("ask", plans) | ("go", None) | ("error", text)
    finished = Signal()  # the check is over, whatever its outcome

    def __init__(self, window, spec, go: Callable[[], None]) -> None:
        super().__init__(window)
        self.window = window
        self.spec = spec
        self.go = go
        self.over = False
        self._answered.connect(self._on_answer, Qt.ConnectionType.QueuedConnection)
        self.deadline = QTimer(self)
        self.deadline.setSingleShot(True)
        self.deadline.timeout.connect(self._expired)

    def start(self) -> None:
        self.window.set_status(self.tr("Asking the Hugging Face Hub what the models need…"))
        self.deadline.start(round(PLAN_DEADLINE_S * 1000))
        threading.Thread(target=self._run, name="download-plan", daemon=True).start()

    def _run(self) -> None:
        from backend.hub.downloads import (
            check_free_space,
            complete_snapshot,
            plan_download,
            refs_for_spec,
        )

        try:
            # The base model's model_index.json (its family: which other models it needs) is
            # fetched here too, inside the deadline.
            missing = [ref for ref in refs_for_spec(self.spec) if not complete_snapshot(ref)]
            if not missing:
                answer = ("go", None)
            else:
                plans = [plan_download(ref) for ref in missing]
                check_free_space(sum(plan.missing_bytes for plan in plans))
                answer = ("ask", plans)
        except StudioError as exc:
            answer = ("error", str(exc))
        except Exception as exc:  # noqa: BLE001 - said in the window, never a dead thread
            answer = ("error", f"{type(exc).__name__}: {exc}")
        try:
            self._answered.emit(answer)
        except RuntimeError:
            pass  # the window is gone: nobody is waiting for the answer

    def _on_answer(self, answer) -> None:
        if self.over:
            return  # too late: the deadline has already spoken
        self._end()
        kind, value = answer
        if kind == "error":
            self.window.show_error(value)
            return
        if kind == "go":
            self.go()
            return
        from gui.models_window import ask_download, download_question, nothing_downloaded

        if ask_download(self.window, download_question(value)):
            self.go()
        else:
            self.window.set_status(nothing_downloaded())

    def _expired(self) -> None:
        if self.over:
            return
        self._end()
        self.window.show_error(self.tr(
            "The Hugging Face Hub did not answer within {0} s, so the job was not started. Check "
            "the network connection, or choose models that are on this computer.").format(
            f"{PLAN_DEADLINE_S:g}"))

    def _end(self) -> None:
        self.over = True
        self.deadline.stop()
        self.finished.emit()


def check_before_job(window, spec, go: Callable[[], None]) -> bool:
    """For a job naming Hub models: check them (and ask) in the background, then `go`; True.
    False when the job names none (nothing to ask: the caller goes on at once). One check at a
    time: Generate pressed again meanwhile waits for the first."""
    from backend.hub.downloads import names_hub_models

    if not names_hub_models(spec):  # decided from the names alone: no disk, no network
        return False
    if window.download_check is None:
        window.download_check = DownloadCheck(window, spec, go)
        window.download_check.finished.connect(lambda: setattr(window, "download_check", None))
        window.download_check.start()
    return True
