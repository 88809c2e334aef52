"""The generation worker and the controller that feeds it.

One long-lived QThread runs a `GenerationWorker` that owns the backend's pipeline cache, so
models load once and stay in memory between jobs. The window talks to it only through queued
signals. The one exception is cancel: while a job runs the worker's event loop is busy inside
the pipeline, so cancel is a thread-safe Event the step callback checks (stops within one step).
"""

from __future__ import annotations

import threading
import traceback

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QObject, QThread, Signal, Slot

from backend.core.errors import StudioError, failure_kind
from backend.core.job_queue import Job, JobQueue
from backend.core.progress import ProgressThrottle
from backend.core.request import GenerationRequest

PROGRESS_INTERVAL = 0.05  # seconds between progress signals; the last step always reports

PHASE_TEXT = {  # what a job is doing, shown through tr() of GenerationController
    "loading": QT_TRANSLATE_NOOP("GenerationController", "loading models"),
    "downloading": QT_TRANSLATE_NOOP("GenerationController", "downloading models"),
    "downloaded": QT_TRANSLATE_NOOP("GenerationController", "downloading models"),
    "denoising": QT_TRANSLATE_NOOP("GenerationController", "finishing a denoising step"),
    "decoding": QT_TRANSLATE_NOOP("GenerationController", "decoding frames"),
}
# Threads given up on by a window that quit without waiting for them (see `abandon`): kept
# referenced until they end, so that no running QThread is ever destroyed.
_abandoned: list[QThread] = []


class GenerationWorker(QObject):
    """Lives in the worker thread. Every slot runs there."""

    ready = Signal()
    progress = Signal(int, object)  # job id, dict: phase, step, total, elapsed, eta
    preview = Signal(int, object)  # job id, uint8 frames [F, h, w, 3]
    finished = Signal(int, object)  # job id, GenerationResult
    failed = Signal(int, str, str)  # job id, kind (input, memory, error, cancelled), message
    unloaded = Signal(int)  # bytes freed
    demo_model_ready = Signal(str)  # root folder
    demo_model_failed = Signal(str)

    def __init__(self, cancel_event: threading.Event) -> None:
        super().__init__()
        self.cancel_event = cancel_event
        self.cache = None

    @Slot()
    def warm_up(self) -> None:
        """Import torch and diffusers here, after the window is up, not on the GUI thread."""
        from backend.core.logs import quiet_libraries
        from backend.models.loading import PipelineCache

        quiet_libraries()
        import backend.engine.generation  # noqa: F401 - the import is the point: it loads torch/diffusers

        if self.cache is None:
            self.cache = PipelineCache()
        self.ready.emit()

    @Slot(int, object)
    def run_job(self, job_id: int, request: GenerationRequest) -> None:
        from backend.engine.generation import generate
        from backend.media.preview import latents_to_rgb

        if self.cache is None:
            self.warm_up()
        throttle = ProgressThrottle(PROGRESS_INTERVAL)

        def on_progress(progress) -> None:
            if not throttle.report(progress):
                return
            if progress.phase in ("downloading", "downloaded"):
                from gui.models_window import progress_dict

                info = progress_dict(progress)
            else:
                info = {
                    "phase": progress.phase,
                    "step": progress.step,
                    "total": progress.total,
                    "elapsed": progress.elapsed,
                    "eta": progress.eta,
                    "message": progress.message,
                }
            self.progress.emit(job_id, info)
            if throttle.preview(progress):
                self.preview.emit(job_id, latents_to_rgb(progress.latents))

        try:
            from backend.hub.downloads import prepare_models

            # Hub models not in the cache yet are downloaded first (phase "downloading").
            prepare_models(request.model, on_progress=on_progress, cancel=self.cancel_event)
            result = generate(request, on_progress=on_progress, cancel=self.cancel_event, cache=self.cache)
        except Exception as exc:  # noqa: BLE001 - the worker must survive anything a job does
            if not isinstance(exc, StudioError):
                traceback.print_exc()
            self.failed.emit(job_id, *failure_kind(exc))
        else:
            self.finished.emit(job_id, result)
        finally:
            self.cancel_event.clear()

    @Slot()
    def unload(self) -> None:
        freed = self.cache.unload() if self.cache is not None else 0
        self.unloaded.emit(freed)

    @Slot(str)
    def build_demo_model(self, folder: str) -> None:
        from backend.models.demo_model import is_demo_model_complete, write_demo_model

        try:
            if not is_demo_model_complete(folder):
                write_demo_model(folder)
        except Exception as exc:  # noqa: BLE001 - reported to the user, the app goes on
            self.demo_model_failed.emit(self.tr("Could not build the demo model in {0}: {1}").format(folder, exc))
        else:
            self.demo_model_ready.emit(folder)


class GenerationController(QObject):
    """Lives in the GUI thread: owns the worker thread and the job queue."""

    # To the worker (queued across threads).
    _submit = Signal(int, object)
    _warm = Signal()
    _unload = Signal()
    _build_demo = Signal(str)

    # To the window.
    ready = Signal()
    queue_changed = Signal()
    job_started = Signal(object)  # Job
    job_progress = Signal(object, object)  # Job, dict
    job_preview = Signal(object, object)  # Job, frames
    job_finished = Signal(object, object)  # Job, GenerationResult
    job_failed = Signal(object, str, str)  # Job, kind, message
    unloaded = Signal(int)
    demo_model_ready = Signal(str)
    demo_model_failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = JobQueue()
        self._cancel = threading.Event()
        self._thread = QThread(self)
        self._thread.setObjectName("generationWorkerThread")
        self.worker = GenerationWorker(self._cancel)
        self.worker.moveToThread(self._thread)
        # Qt's documented pattern: the worker is deleted in its own thread as that thread ends,
        # never later by Python's garbage collector on another thread.
        self._thread.finished.connect(self.worker.deleteLater)
        self._submit.connect(self.worker.run_job)
        self._warm.connect(self.worker.warm_up)
        self._unload.connect(self.worker.unload)
        self._build_demo.connect(self.worker.build_demo_model)
        self.worker.ready.connect(self.on_ready)
        self.worker.progress.connect(self.on_progress)
        self.worker.preview.connect(self.on_preview)
        self.worker.finished.connect(self.on_finished)
        self.worker.failed.connect(self.on_failed)
        self.worker.unloaded.connect(self.unloaded)
        self.worker.demo_model_ready.connect(self.demo_model_ready)
        self.worker.demo_model_failed.connect(self.demo_model_failed)
        self._stopped = False
        self._warming = False
        self._building_demo = False
        self._phase = ""  # the running job's last reported phase
        self.remote = None  # a gui.remote_panel.RemoteRunner, set by the window when it has one
        self.demo_model_ready.connect(self._demo_done)
        self.demo_model_failed.connect(self._demo_done)

    def start(self) -> None:
        """Start the worker thread and load torch and diffusers there (the window calls this
        once it is on screen); anything sent to the worker starts it too."""
        if self._stopped or self._thread.isRunning():
            return  # closed before the deferred start ran, or already started
        self._thread.start()
        self._warming = True
        self._warm.emit()

    @property
    def busy(self) -> bool:
        return self.queue.running is not None

    def enqueue(self, request: GenerationRequest) -> Job:
        job = self.queue.add(request)
        self.queue_changed.emit()
        self._run_next()
        return job

    def cancel_current(self) -> None:
        if self.queue.running is not None:
            self._cancel.set()
            if self.remote is not None:
                self.remote.cancel()

    def remove(self, job_id: int) -> None:
        if self.queue.remove(job_id):
            self.queue_changed.emit()

    def move(self, job_id: int, offset: int) -> None:
        if self.queue.move(job_id, offset):
            self.queue_changed.emit()

    def unload_models(self) -> None:
        self.start()
        self._unload.emit()

    def build_demo_model(self, folder: str) -> None:
        self.start()
        self._building_demo = True
        self._build_demo.emit(folder)

    def _demo_done(self, _text: str) -> None:
        self._building_demo = False

    def shutdown(self) -> None:
        """Cancel the running job, drop the queue and ask the worker thread to end. Returns at
        once: `running` says when it has ended (a job stops within a step; loading models or
        importing torch cannot be interrupted), and `activity` what it is still doing."""
        if self._stopped:
            return
        self._stopped = True
        self.queue.clear()
        self._cancel.set()
        if self.remote is not None:
            self.remote.shutdown()
        self._thread.quit()

    @property
    def running(self) -> bool:
        """Whether the worker thread (or a remote job's thread) is still running."""
        remote = self.remote is not None and self.remote.running
        return self._thread.isRunning() or remote

    def activity(self) -> str:
        """What the worker is doing, in words ("loading models"), for "still …" messages."""
        if self.queue.running is not None and self._phase in PHASE_TEXT:
            return self.tr(PHASE_TEXT[self._phase])
        if self.queue.running is not None:
            return self.tr("starting a job")
        if self._warming:
            return self.tr("loading torch and diffusers")
        if self._building_demo:
            return self.tr("building the demo model")
        return self.tr("finishing its work")

    def settle(self) -> None:
        """After the thread ended: nothing it sent may reach a window that is going away."""
        QCoreApplication.removePostedEvents(self)

    def abandon(self) -> None:
        """Quit without waiting for the worker (the user closed the window twice): its thread
        is detached from the window and left to end with the process."""
        if self._thread.isRunning():
            self._thread.setParent(None)
            _abandoned.append(self._thread)
            self._thread.finished.connect(lambda thread=self._thread: _abandoned.remove(thread))
        self.settle()

    def _run_next(self) -> None:
        if self._stopped:
            return
        job = self.queue.take_next()
        if job is None:
            return
        self._cancel.clear()
        self._phase = ""
        self.queue_changed.emit()
        self.job_started.emit(job)
        if self.remote is not None and self.remote.active:
            self.remote.submit(job)
            return
        self.start()
        self._submit.emit(job.id, job.request)

    def _current(self, job_id: int) -> Job | None:
        job = self.queue.running
        return job if job is not None and job.id == job_id else None

    # The worker's news (the local worker's, or a RemoteRunner's for a job on a render worker).

    @Slot()
    def on_ready(self) -> None:
        self._warming = False
        if self._stopped:
            return
        self.ready.emit()

    @Slot(int, object)
    def on_progress(self, job_id: int, info: dict) -> None:
        job = self._current(job_id)
        if job is not None:
            self._phase = info.get("phase", "")
            self.job_progress.emit(job, info)

    @Slot(int, object)
    def on_preview(self, job_id: int, frames) -> None:
        job = self._current(job_id)
        if job is not None:
            self.job_preview.emit(job, frames)

    @Slot(int, object)
    def on_finished(self, job_id: int, result) -> None:
        job = self.queue.finish(job_id, "done")
        if job is not None:
            self.job_finished.emit(job, result)
        self.queue_changed.emit()
        self._run_next()

    @Slot(int, str, str)
    def on_failed(self, job_id: int, kind: str, message: str) -> None:
        job = self.queue.finish(job_id, "cancelled" if kind == "cancelled" else "failed", message)
        if job is not None:
            self.job_failed.emit(job, kind, message)
        self.queue_changed.emit()
        self._run_next()
