"""Closing the main window without ever blocking it.

Closing asks about unsaved takes (a save the user asks for runs on its thread, and the window
closes once it is written), then stops the worker: a job is cancelled and stops within a step,
an idle worker at once. The window stays responsive meanwhile and closes as soon as both are
done. If the worker is not done within a second (loading models or importing torch cannot be
interrupted), the window says what it is still doing; closing it again quits without waiting
for the worker. It always waits for a project write: that is the user's work."""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, QObject, QTimer

WORKER_GRACE_MS = 1000  # the worker's promised second
POLL_MS = 20


class QuitSequence(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.state = "open"  # open -> stopping -> done
        self.writes_done = False
        self.said_still = False
        self.in_close_event = False
        self.clock = QElapsedTimer()
        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self._check)

    def close_requested(self) -> bool:
        """From the window's closeEvent: True when it may close now."""
        self.in_close_event = True
        try:
            return self._close_requested()
        finally:
            self.in_close_event = False

    def _close_requested(self) -> bool:
        window = self.window
        if self.state == "done":
            return True
        if self.state == "open":
            if window.projects.saving:
                window.set_status(self.tr("Quitting once the project is written…"))
            window.projects.may_discard(self._begin)
        elif self.said_still and window.controller.running:
            window.controller.abandon()  # closed again after "still …": quit without the worker
            self._finish()
        elif not self.writes_done:
            window.set_status(self.tr("Quitting once the project is written…"))
        return self.state == "done"

    def _begin(self) -> None:
        window = self.window
        self.state = "stopping"
        window.set_status(self.tr("Stopping…"))
        window.controller.shutdown()  # first, so the worker stops whatever happens below
        window.player.pause()
        window.projects.shutdown(then=self._writes_finished)
        self.clock.start()
        if self.writes_done and not window.controller.running:
            self._finish()
        else:
            self.poll.start()

    def _writes_finished(self) -> None:
        self.writes_done = True

    def _check(self) -> None:
        window = self.window
        if self.state != "stopping":
            return
        if not self.writes_done:
            window.set_status(self.tr("Quitting once the project is written…"))
            return
        if not window.controller.running:
            self._finish()
        elif not self.said_still and self.clock.elapsed() >= WORKER_GRACE_MS:
            # Said once the writes are done: closing again then quits at once.
            self.said_still = True
            window.set_status(self.tr(
                "Still {0}: the window closes when that ends. Close it again to quit now.").format(
                window.controller.activity()))

    def _finish(self) -> None:
        self.poll.stop()
        self.state = "done"
        self.window.controller.settle()
        self.window.save_settings()
        if not self.in_close_event:  # else the closeEvent asking now closes the window
            QTimer.singleShot(0, self.window.close)
