"""The window's "Render on" choice and the glue that runs queued jobs on workers.

`RenderOnPanel` is the form (this computer, or workers at a broker URL; remembered).
`RemoteRunner` follows one remote job at a time in a plain thread (backend.remote.client does the work)
and re-emits what happens as the same signals the local worker sends, so the controller, the
queue, the player and the takes treat a remote job like a local one. The job's worker and state
("waiting for a worker", "on wa@host", "requeued → wb@host") show on its queue line.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QT_TRANSLATE_NOOP, QObject, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from backend.core.errors import StudioError, failure_kind, redact_urls
from backend.project.remote_settings import RemoteSettings
from gui.i18n import translate
from gui.panels import named

CHOICES = (  # shown through translate("RenderOnPanel", …)
    (QT_TRANSLATE_NOOP("RenderOnPanel", "This computer"), "local"),
    (QT_TRANSLATE_NOOP("RenderOnPanel", "Workers at a broker"), "workers"),
)


class RemoteRunner(QObject):
    progress = Signal(int, object)
    preview = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, str, str)
    state = Signal(int, str, str)  # job id, state (queued, waiting, running, requeued), detail
    checked = Signal(str)  # the broker check's verdict, for the panel

    def __init__(self, settings: RemoteSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.settings.render_on == "workers"

    def url(self) -> str:
        from backend.remote.transport import broker_url

        return broker_url(self.settings.broker_url)

    def submit(self, job) -> None:
        self._cancel.clear()
        self._thread = threading.Thread(target=self._run, args=(job.id, job.request), name="remote-job", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def shutdown(self) -> None:
        """Cancel the job; returns at once (`running` says when its thread has ended)."""
        self._cancel.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self, job_id: int, request) -> None:
        from backend.remote.client import RemoteClient

        def on_event(event) -> None:
            if event.state == "progress":
                p = event.progress
                self.progress.emit(job_id, {"phase": p.phase, "step": p.step, "total": p.total,
                                            "elapsed": p.elapsed, "eta": p.eta, "message": p.message})
            elif event.state == "preview":
                self.preview.emit(job_id, event.preview)
            else:
                self.state.emit(job_id, event.state, event.message or event.worker)

        try:
            with RemoteClient(self.url()) as client:
                job = client.submit(request, previews=True)
                result = job.wait(on_event, cancel=self._cancel.is_set)
        except Exception as exc:  # noqa: BLE001 - the window must survive anything a job does
            self.failed.emit(job_id, *failure_kind(exc))
        else:
            self.finished.emit(job_id, result)

    def check(self) -> None:
        """Count the connected workers in the background; the verdict comes as `checked`."""

        def run() -> None:
            from backend.remote.client import RemoteClient

            try:
                with RemoteClient(self.url()) as client:
                    count = client.worker_count()
            except StudioError as exc:
                self.checked.emit(redact_urls(str(exc)))
                return
            except Exception as exc:  # noqa: BLE001 - said in the panel, never a dead thread
                self.checked.emit(translate("RenderOnPanel", "Cannot check the broker: {0}: {1}").format(
                    type(exc).__name__, redact_urls(str(exc))))
                return
            if count is None:
                self.checked.emit(translate("RenderOnPanel", "The broker did not say how many workers are connected."))
            elif count == 0:
                self.checked.emit(translate("RenderOnPanel", "No worker connected: jobs wait until one starts."))
            elif count == 1:
                self.checked.emit(translate("RenderOnPanel", "1 worker connected."))
            else:
                self.checked.emit(translate("RenderOnPanel", "{0} workers connected.").format(count))

        threading.Thread(target=run, name="broker-check", daemon=True).start()


class RenderOnPanel(QGroupBox):
    def __init__(self, runner: RemoteRunner, window=None) -> None:
        super().__init__()
        self.setTitle(self.tr("Render on"))
        self.setObjectName("renderOnPanel")
        self.runner = runner
        self.window_ = window
        self.choice = named(QComboBox(), "renderOnCombo", self.tr("Render on"),
                            self.tr("Render here, or on the render workers at a RabbitMQ broker"))
        for label, value in CHOICES:
            self.choice.addItem(self.tr(label), value)
        self.url = named(QLineEdit(), "brokerUrlEdit", self.tr("Broker URL"),
                         self.tr("amqp://user:password@host:5672// or amqps://… (empty: $ADS_BROKER_URL)"))
        self.url.setPlaceholderText("amqp://user:password@host:5672//")
        # The URL holds the broker's password: masked unless the user asks to see it.
        self.url.setEchoMode(QLineEdit.EchoMode.Password)
        self.show_url = named(QPushButton(self.tr("Show")), "brokerShowButton",
                              self.tr("Show the broker URL"),
                              self.tr("Show or hide the broker URL, which holds its password"))
        self.show_url.setCheckable(True)
        self.show_url.toggled.connect(self._show_url)
        self.check_button = named(QPushButton(self.tr("Check")), "brokerCheckButton", self.tr("Check the broker"),
                                  self.tr("Connect to the broker and count the workers"))
        self.status = QLabel("")
        self.status.setObjectName("remoteStatusLabel")
        self.status.setAccessibleName(self.tr("Workers status"))
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.url, 1)
        row.addWidget(self.show_url)
        row.addWidget(self.check_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.choice)
        layout.addLayout(row)
        layout.addWidget(self.status)

        settings = runner.settings
        self.choice.setCurrentIndex(1 if settings.render_on == "workers" else 0)
        self.url.setText(settings.broker_url)
        self._sync()
        self.choice.currentIndexChanged.connect(self._changed)
        self.url.editingFinished.connect(self._changed)
        self.check_button.clicked.connect(self.check)
        runner.checked.connect(self.status.setText)

    @Slot(bool)
    def _show_url(self, shown: bool) -> None:
        self.url.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.show_url.setText(self.tr("Hide") if shown else self.tr("Show"))

    def _sync(self) -> None:
        workers = self.choice.currentData() == "workers"
        self.url.setEnabled(workers)
        self.show_url.setEnabled(workers)
        self.check_button.setEnabled(workers)
        if not workers:
            self.status.setText("")

    @Slot()
    def _changed(self) -> None:
        settings = self.runner.settings
        settings.render_on = self.choice.currentData()
        settings.broker_url = self.url.text().strip()
        settings.save()
        self._sync()
        if settings.render_on == "workers":
            self.check()

    def check(self) -> None:
        self.status.setText(self.tr("Checking the broker…"))
        self.runner.check()

    @Slot(int, str, str)
    def on_state(self, job_id: int, state: str, detail: str) -> None:
        if self.window_ is None:
            return
        controller = self.window_.controller
        job = controller.queue.running
        if job is None or job.id != job_id:
            return
        job.message = self.tr(_STATE_TEXT[state]).format(detail) if state in _STATE_TEXT else state
        controller.queue_changed.emit()
        self.window_.set_status(self.tr("Job {0}: {1}").format(job_id, job.message))
        if state == "waiting":
            self.status.setText(self.tr("No worker connected: the job waits until one starts."))
        elif state in ("running", "requeued"):
            self.status.setText(self.tr("Job {0}: {1}").format(job_id, job.message))


_STATE_TEXT = {  # shown through translate("RenderOnPanel", …); {0} is the worker
    "queued": QT_TRANSLATE_NOOP("RenderOnPanel", "queued at the broker"),
    "waiting": QT_TRANSLATE_NOOP("RenderOnPanel", "waiting: no worker connected"),
    "running": QT_TRANSLATE_NOOP("RenderOnPanel", "on {0}"),
    "requeued": QT_TRANSLATE_NOOP("RenderOnPanel", "requeued: its worker was lost; now on {0}"),
}


def attach_remote(window) -> RenderOnPanel:
    """The hook: give the window's controller a RemoteRunner and return the form to show."""
    controller = window.controller
    runner = RemoteRunner(RemoteSettings.load(), controller)
    controller.remote = runner
    runner.progress.connect(controller.on_progress)
    runner.preview.connect(controller.on_preview)
    runner.finished.connect(controller.on_finished)
    runner.failed.connect(controller.on_failed)
    panel = RenderOnPanel(runner, window)
    # A method of a widget, so Qt runs it in the GUI thread although the runner's thread emits.
    runner.state.connect(panel.on_state)
    return panel
