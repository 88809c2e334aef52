"""The render worker: `python main.py worker --broker URL`, one process per GPU.

A Celery worker with the prefork pool and one child process: the main process holds the broker
connection and the job's unacknowledged message; the child runs jobs and keeps the models loaded
in its PipelineCache between them. The prefork pool is chosen on purpose: with acks_late and
reject_on_worker_lost a job whose worker dies goes back to the queue, and with the whole process
tree gone the broker sees the connection drop and hands the job to another worker at once.

Cancel: the client publishes the job id on a fanout exchange; each child listens on a private
queue bound to it (a thread with its own connection) and the engine's step callback checks the
flag, so a running job stops within one step. Revoke would only reach the main process.

Routing: after loading a model set a worker also consumes that set's model queue, so a client
can send a job where its models are already loaded (see transport.model_queue); nothing else
schedules jobs.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from backend.core.errors import Cancelled, InputError, OutOfMemoryError, StudioError, redact_urls
from backend.core.progress import ProgressThrottle
from backend.remote.job_limits import RecentIds, check_job, make_scratch, sweep_scratch
from backend.remote.transport import (
    CANCEL_EXCHANGE,
    DEFAULT_MAX_RESULT_MB,
    RENDER_QUEUE,
    TASK_NAME,
    busy_queue,
    check_broker,
    encode_frames,
    make_app,
    model_key,
    model_queue,
    payload_bytes,
    queue_counts,
    safe_url,
    tls_options,
)

PROGRESS_INTERVAL = 0.05
PREVIEW_INTERVAL = 0.5


@dataclass
class WorkerOptions:
    broker: str
    name: str = ""
    device: str = "auto"
    dtype: str = "auto"
    threads: int = 0  # 0: torch's default
    max_result_mb: float = DEFAULT_MAX_RESULT_MB
    loglevel: str = "WARNING"


@dataclass
class ChildState:
    """What one pool child keeps between jobs."""

    cache: Any = None
    cancelled: RecentIds = field(default_factory=RecentIds)
    model_queue: str | None = None
    listener: threading.Thread | None = None


_options: WorkerOptions | None = None
_state = ChildState()


def _listen_for_cancels(url: str, state: ChildState) -> None:
    """Collect cancelled job ids from the fanout exchange, reconnecting when the link drops."""
    from kombu import Connection, Exchange, Queue

    exchange = Exchange(CANCEL_EXCHANGE, type="fanout", durable=False, auto_delete=False)

    def on_message(body, message) -> None:
        job_id = body.get("id") if isinstance(body, dict) else None
        if isinstance(job_id, str):
            state.cancelled.add(job_id)
        message.ack()

    while True:
        try:
            with Connection(url, heartbeat=10, ssl=tls_options(url) or False) as connection:
                queue = Queue(
                    "", exchange, exclusive=True, auto_delete=True, durable=False
                )
                with connection.Consumer(queue, callbacks=[on_message], accept=["json"]):
                    while True:
                        try:
                            connection.drain_events(timeout=2.0)
                        except TimeoutError:
                            connection.heartbeat_check()
        except Exception:  # noqa: BLE001 - keep listening; the next connect may work
            time.sleep(1.0)


def _init_child(**_kwargs) -> None:
    """Runs in each pool child as it starts: torch settings, the cache, the cancel listener."""
    from backend.core.logs import quiet_libraries
    from backend.models.loading import PipelineCache

    options = _options
    if options is None:
        return
    quiet_libraries()
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
        torch.set_num_interop_threads(1)
    _state.cache = PipelineCache()
    _state.listener = threading.Thread(
        target=_listen_for_cancels, args=(options.broker, _state), name="cancel-listener", daemon=True
    )
    _state.listener.start()


def _worker_ready(sender=None, **_kwargs) -> None:
    name = getattr(sender, "hostname", "") if sender is not None else ""
    print(f"worker {name} ready", file=sys.stderr, flush=True)


def _check_model_paths(request, worker: str) -> None:
    """A local path must exist on this machine; say so plainly instead of a hub lookup error."""
    spec = request.model
    named = [("base model", spec.base_model), ("motion adapter", spec.motion_adapter)]
    named += [("motion LoRA", lora.source) for lora in spec.motion_loras]
    for role, source in named:
        text = os.path.expanduser(source.strip())
        if os.path.isabs(text) and not os.path.exists(text):
            raise InputError(
                f"{role} {source!r} does not exist on worker {worker}; copy it to the same path "
                "there, or name a Hugging Face Hub id"
            )


def _client_waiting(task) -> bool:
    """False when the client that sent the job is gone (its reply queue was deleted as it
    disconnected, e.g. it gave up waiting for a worker): nobody would receive the frames."""
    reply_to = task.request.reply_to
    if not reply_to:
        return True
    try:
        with task.app.connection_for_read() as connection:
            return queue_counts(connection, reply_to) is not None
    except Exception:  # noqa: BLE001 - when unsure, do the job
        return True


def _write_input_frames(items: list[str], folder: str) -> None:
    from PIL import Image

    from backend.remote.transport import decode_png

    for index, item in enumerate(items):
        Image.fromarray(decode_png(item)).save(os.path.join(folder, f"frame_{index:05d}.png"))


def with_guidance_inputs(request, items: Any, folder: str):
    """The request pointed at the control frames, keyframes, reference and start image the job
    carries, written into `folder` (the client read and preprocessed them)."""
    from pathlib import Path

    from backend.project.take_inputs import INPUT_NAME, rerun_request
    from backend.remote.transport import decode_frames

    if not isinstance(items, dict) or not all(isinstance(n, str) and INPUT_NAME.match(n) for n in items):
        raise InputError("the job's guidance inputs are malformed")
    inputs = {name: decode_frames(frames) for name, frames in items.items()}
    return rerun_request(request, inputs, Path(folder))


def _follow_models(task, spec) -> None:
    """Consume the loaded model set's queue (and stop consuming the previous one)."""
    key = model_key(spec.base_model, spec.motion_adapter)
    queue = model_queue(key)
    if _state.model_queue == queue.name:
        return
    hostname = task.request.hostname
    try:
        if _state.model_queue:
            task.app.control.cancel_consumer(_state.model_queue, destination=[hostname])
        task.app.control.add_consumer(
            queue.name,
            exchange=queue.name,
            exchange_type="direct",
            routing_key=queue.name,
            options={"queue_arguments": queue.queue_arguments},
            destination=[hostname],
        )
        _state.model_queue = queue.name
    except Exception:  # noqa: BLE001 - routing is an optimisation; the job's result matters
        pass


class BusyMarker:
    """While a job runs, one consumer on the busy queue of the model queue this worker follows,
    so other clients route to an idle worker rather than queue behind this one. Its own
    connection, with heartbeats kept by a thread of its own: it goes when the job ends, and
    the broker drops it within seconds if the worker's machine dies or loses its network."""

    HEARTBEAT = 10  # seconds, as the Celery connection's

    def __init__(self, url: str, model_queue_name: str | None) -> None:
        self.url, self.model_queue_name = url, model_queue_name
        self.connection = None
        self.stop = threading.Event()
        self.pump: threading.Thread | None = None

    def __enter__(self) -> BusyMarker:
        if not self.url or not self.model_queue_name:
            return self
        from kombu import Connection

        try:
            self.connection = Connection(self.url, heartbeat=self.HEARTBEAT,
                                         ssl=tls_options(self.url) or False, connect_timeout=3)
            consumer = self.connection.Consumer(busy_queue(self.model_queue_name), no_ack=True,
                                                accept=["json"], callbacks=[lambda *_: None])
            consumer.consume()
        except Exception:  # noqa: BLE001 - routing is an optimisation; the job matters
            self.__exit__()
            return self
        self.pump = threading.Thread(target=self._keep_alive, name="busy-marker", daemon=True)
        self.pump.start()
        return self

    def _keep_alive(self) -> None:
        """Read the broker's heartbeats and send ours; only this thread uses the connection.
        The check runs after every read, not only when one times out: the broker's own
        heartbeats can keep every read from timing out."""
        connection = self.connection
        while not self.stop.is_set():
            try:
                try:
                    connection.drain_events(timeout=0.25)  # short: the job's end waits on it
                except TimeoutError:
                    pass
                connection.heartbeat_check()
            except Exception:  # noqa: BLE001 - the link is gone; the broker drops the consumer
                return

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        if self.pump is not None:
            self.pump.join(5)
            self.pump = None
        if self.connection is not None:
            try:
                self.connection.release()
            except Exception:  # noqa: BLE001 - a broken link is gone already
                pass
            self.connection = None


def render(task, job: dict[str, Any]) -> dict[str, Any]:
    with BusyMarker(_options.broker if _options else "", _state.model_queue):
        return _render(task, job)


def _render(task, job: dict[str, Any]) -> dict[str, Any]:
    """The Celery task body. Always returns a JSON dict: frames, or a failure with its kind
    (input, memory, error, cancelled), so failures reach the client as plain data."""
    from backend.core.request import GenerationRequest

    options = _options or WorkerOptions(broker="")
    worker = task.request.hostname or options.name or socket.gethostname()
    job_id = task.request.id
    redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
    task.update_state(state="PROGRESS", meta={"phase": "started", "worker": worker, "redelivered": redelivered})
    if job_id in _state.cancelled:
        return {"ok": False, "kind": "cancelled", "message": "cancelled", "worker": worker}
    if not _client_waiting(task):
        print(f"skipped job {job_id}: its client is gone", file=sys.stderr, flush=True)
        return {"ok": False, "kind": "cancelled", "message": "client gone", "worker": worker}
    if _state.cache is None:
        _init_child()
    scratch = None
    try:
        if not isinstance(job, dict) or not isinstance(job.get("request"), dict):
            raise InputError("the job message has no request")
        request = GenerationRequest.from_dict(job["request"])
        changes: dict[str, Any] = {}
        if options.device != "auto":
            changes["device"] = options.device
        if options.dtype != "auto":
            changes["dtype"] = options.dtype
        if changes:
            import dataclasses

            request = request.replace(model=dataclasses.replace(request.model, **changes))
        check_job(request, job.get("input_frames"), worker)
        _check_model_paths(request, worker)
        if request.mode == "video2video":
            frames_in = job["input_frames"]
            scratch = make_scratch()
            _write_input_frames(frames_in, scratch)
            request = request.replace(input_video=scratch)
        if request.run_mode == "image2video" and "start_image" not in (job.get("guidance_inputs") or {}):
            raise InputError("an image-to-video job without its start image")
        if job.get("guidance_inputs"):
            scratch = scratch or make_scratch()
            request = with_guidance_inputs(request, job["guidance_inputs"], scratch)
        plans = _finishing_plans(job, request)
        result = _run(task, request, job, worker, plans)
    except Cancelled:
        return {"ok": False, "kind": "cancelled", "message": "cancelled", "worker": worker}
    except OutOfMemoryError as exc:
        return _failure("memory", exc, worker)
    except InputError as exc:
        return _failure("input", exc, worker)
    except StudioError as exc:
        return _failure("error", exc, worker)
    except Exception as exc:  # noqa: BLE001 - the worker must survive anything a job does
        text = redact_urls(f"{type(exc).__name__}: {exc}")
        return {"ok": False, "kind": "error", "message": f"worker {worker}: {text}", "worker": worker}
    finally:
        _state.cancelled.discard(job_id)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return result


def _failure(kind: str, exc: BaseException, worker: str) -> dict[str, Any]:
    text = redact_urls(str(exc))
    return {"ok": False, "kind": kind, "message": f"worker {worker}: {text}", "worker": worker}


def _finishing_plans(job: dict[str, Any], request) -> list:
    """The job's finishing passes loaded and checked (the output format's frame-size limit,
    free memory) before any frame is generated."""
    passes = job.get("finishing")
    if not passes:
        return []
    from backend.finishing.finish import FinishingOptions
    from backend.finishing.replay import plan_passes

    if not isinstance(passes, list):
        raise InputError("the job's finishing options are malformed")
    kind = job.get("output_kind")
    if kind is not None and not isinstance(kind, str):
        raise InputError("the job's output kind is malformed")
    options = [FinishingOptions.from_dict(item) for item in passes]
    return plan_passes(options, request.frames, request.width, request.height, kind)


def _run(task, request, job: dict[str, Any], worker: str, plans: list) -> dict[str, Any]:
    from backend.engine.generation import generate
    from backend.media.preview import latents_to_rgb

    job_id = task.request.id
    want_previews = bool(job.get("previews"))
    throttle = ProgressThrottle(PROGRESS_INTERVAL, PREVIEW_INTERVAL)

    def on_progress(progress) -> None:
        if not throttle.report(progress):
            return
        meta: dict[str, Any] = {
            "phase": progress.phase,
            "step": progress.step,
            "total": progress.total,
            "elapsed": round(progress.elapsed, 3),
            "eta": None if progress.eta is None else round(progress.eta, 3),
            "worker": worker,
            "message": progress.message,  # the memory plan and what the engine did by itself
        }
        if want_previews and throttle.preview(progress):
            meta["preview"] = encode_frames(latents_to_rgb(progress.latents))
        task.update_state(state="PROGRESS", meta=meta)

    from backend.hub.downloads import prepare_models

    announced = False

    def on_download(progress) -> None:
        # The client sees a download on the worker as the models loading (said once).
        nonlocal announced
        if not announced:
            announced = True
            task.update_state(state="PROGRESS", meta={
                "phase": "loading", "step": 0, "total": 0, "elapsed": round(progress.elapsed, 3),
                "eta": None, "worker": worker})

    cancelled = lambda: job_id in _state.cancelled  # noqa: E731 - shared by both calls
    # A Hub id is resolved here, on the worker: downloaded into its cache with the same code as
    # a local run (offline or unreachable: a bad-input reply within seconds).
    prepare_models(request.model, on_progress=on_download, cancel=cancelled)
    result = generate(request, on_progress=on_progress, cancel=cancelled, cache=_state.cache)
    _follow_models(task, result.request.model)
    reply = {
        "ok": True,
        "frames": encode_frames(result.frames),
        "request": result.request.to_dict(),
        "duration": result.duration,
        "device": result.device,
        "worker": worker,
        "family": result.family,
    }
    if plans:  # interpolation, then upscaling, here where the frames are
        from backend.finishing.replay import run_passes

        frames, fps, steps = run_passes(plans, result.frames, result.request.fps, result.device,
                                        on_progress, cancelled)
        if job.get("keep_source"):
            reply["source_frames"] = reply["frames"]
        reply.update(frames=encode_frames(frames), fps=fps, finishing=steps)
    limit = int((_options.max_result_mb if _options else DEFAULT_MAX_RESULT_MB) * 1024 * 1024)
    size = payload_bytes(reply)
    if size > limit:
        raise StudioError(
            f"the result is {size / 2**20:.1f} MB, more than one broker message may carry here "
            f"({limit / 2**20:.1f} MB); render fewer or smaller frames, or raise RabbitMQ's "
            "max_message_size and the workers' --max-result-mb"
        )
    return reply


def build_app(options: WorkerOptions):
    """The worker's Celery app with the render task registered."""
    global _options
    from celery import signals

    _options = options
    app = make_app(options.broker, name="animatediff_studio.worker")
    app.task(name=TASK_NAME, bind=True)(render)
    signals.worker_process_init.connect(_init_child, weak=False)
    signals.worker_ready.connect(_worker_ready, weak=False)
    return app


def run_worker(options: WorkerOptions) -> int:
    """Check the broker, then run the Celery worker until interrupted."""
    if options.device.startswith("cuda:"):
        # One process per GPU: this process sees only its card, as "cuda".
        os.environ["CUDA_VISIBLE_DEVICES"] = options.device.split(":", 1)[1]
        options.device = "cuda"
    check_broker(options.broker)
    sweep_scratch()  # what a killed worker on this machine left
    app = build_app(options)
    # Two workers on one machine need different names; the pid tells them apart by default.
    name = options.name or f"ads{os.getpid()}"
    if "@" not in name:
        name = f"{name}@{socket.gethostname()}"
    print(f"worker {name}: connecting to {safe_url(options.broker)}", file=sys.stderr, flush=True)
    argv = [
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        f"--hostname={name}",
        f"--queues={RENDER_QUEUE}",
        f"--loglevel={options.loglevel}",
        "--without-gossip",
        "--without-mingle",
        "--prefetch-multiplier=1",
    ]
    app.worker_main(argv)
    return 0
