"""Rendering on the workers at a broker: submit a GenerationRequest, follow it, get frames back.

The client side of `generate --remote`, `batch --remote` and the window's "Render on workers".
Results come through Celery's RPC result backend: replies and progress travel as messages on a
queue private to this client, in order, with no store to run beside RabbitMQ. Only the client
that submitted a job can read its result, which is what we want: it writes the outputs.

Never imports torch, so a bad broker URL fails in seconds.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.core.errors import (
    Cancelled,
    GenerationError,
    InputError,
    OutOfMemoryError,
    redact_urls,
)
from backend.core.request import GenerationRequest, random_seed
from backend.engine.generation import GenerationResult, Progress
from backend.engine.guided import portable_guidance
from backend.finishing.finish import FinishingOptions
from backend.media.reader import read_input_video
from backend.remote.transport import (
    CANCEL_EXCHANGE,
    RENDER_QUEUE,
    TASK_NAME,
    BrokerError,
    busy_queue,
    check_broker,
    decode_frames,
    encode_frames,
    make_app,
    model_key,
    model_queue,
    queue_counts,
    safe_url,
)

WATCH_INTERVAL = 1.0  # seconds between checks that some worker is connected
CANCEL_GRACE = 10.0  # how long to wait for a cancelled job's worker to confirm


@dataclass
class RemoteEvent:
    """What the job is doing: state is queued, waiting (no worker connected), running,
    requeued (its worker was lost; running again elsewhere), progress or preview."""

    state: str
    worker: str = ""
    progress: Progress | None = None
    preview: np.ndarray | None = None
    message: str = ""


@dataclass
class RemoteResult(GenerationResult):
    worker: str = ""
    workers: list[str] = field(default_factory=list)  # every worker that started it, in order
    # After finishing on the worker: the finished frames, their rate and the steps' record
    # (`frames` are then the generated ones when the job kept them, else the finished ones).
    finished: np.ndarray | None = None
    finished_fps: float = 0.0
    finishing: list[dict[str, Any]] = field(default_factory=list)


def portable_request(request: GenerationRequest) -> GenerationRequest:
    """Local model paths made absolute, so a worker on this machine (or one with the same
    folders) finds them; hub ids stay as they are and are resolved on the worker."""

    def absolute(text: str) -> str:
        path = os.path.expanduser(text.strip())
        return os.path.abspath(path) if os.path.exists(path) else text

    spec = request.model
    loras = tuple(dataclasses.replace(lora, source=absolute(lora.source)) for lora in spec.motion_loras)
    model = dataclasses.replace(
        spec,
        base_model=absolute(spec.base_model),
        motion_adapter=absolute(spec.motion_adapter),
        motion_loras=loras,
    )
    return request.replace(model=model)


def build_job(
    request: GenerationRequest,
    previews: bool = False,
    finishing: Sequence[FinishingOptions] = (),
    output_kind: str | None = None,
    keep_source: bool = False,
) -> tuple[dict[str, Any], GenerationRequest, dict[str, np.ndarray], GenerationRequest]:
    """The job message (JSON data), the request as the user gave it (with its seed), the
    guidance inputs kept, and the request as sent."""
    request.validate()
    if request.seed is None:
        request = request.replace(seed=random_seed())
    video = read_input_video(request) if request.mode == "video2video" else None
    # Guidance inputs and the start image travel with the job as the video-to-video input
    # does: as frames.
    request, kept = portable_guidance(request, video)
    sent = portable_request(request)
    job: dict[str, Any] = {"request": sent.to_dict(), "previews": previews}
    if video is not None:
        job["input_frames"] = encode_frames(video)
    if kept:
        job["guidance_inputs"] = {name: encode_frames(frames) for name, frames in kept.items()}
    if finishing:
        job["finishing"] = [options.to_dict() for options in finishing]
        job["output_kind"] = output_kind
        job["keep_source"] = keep_source
    return job, request, kept, sent


def result_from_reply(reply: dict[str, Any], asked: GenerationRequest, workers: list[str],
                      inputs: dict[str, Any]) -> RemoteResult:
    """The worker's reply as a result, or its failure raised as the local run would raise it.
    The request names what the user gave, not the worker's paths."""
    if not reply.get("ok"):
        kind, message = reply.get("kind"), str(reply.get("message", "failed"))
        if kind == "cancelled":
            raise Cancelled()
        if kind == "input":
            raise InputError(message)
        if kind == "memory":
            raise OutOfMemoryError(message)
        raise GenerationError(message)
    request = GenerationRequest.from_dict(reply["request"])
    request = request.replace(
        model=asked.model, input_video=asked.input_video, controls=asked.controls,
        keyframes=asked.keyframes, ip_adapter=asked.ip_adapter, start_image=asked.start_image,
        start_image_sha256=asked.start_image_sha256,
    )
    frames = decode_frames(reply["frames"])
    finishing = reply.get("finishing") or []
    source = decode_frames(reply["source_frames"]) if reply.get("source_frames") else frames
    return RemoteResult(
        frames=source,
        request=request,
        duration=float(reply.get("duration", 0.0)),
        device=str(reply.get("device", "")),
        worker=str(reply.get("worker", "")),
        workers=list(workers),
        inputs=inputs,
        finished=frames if finishing else None,
        finished_fps=float(reply.get("fps", request.fps)),
        finishing=list(finishing),
        family=str(reply.get("family", ""))[:40],
    )


class RemoteJob:
    """One submitted job. `wait()` follows it to the end; `cancel()` may come from any thread."""

    def __init__(self, client: RemoteClient, result, request: GenerationRequest) -> None:
        self.client = client
        self.result = result
        self.id: str = result.id
        self.request = request  # as the user gave it
        self.inputs: dict[str, Any] = {}  # guidance inputs, for a project take to keep
        self.workers: list[str] = []
        self._cancel_requested = threading.Event()

    def cancel(self) -> None:
        """Stop the job within one step if it runs; drop it if it has not started."""
        self._cancel_requested.set()
        self.client.send_cancel(self.id)

    def wait(
        self,
        on_event: Callable[[RemoteEvent], None] | None = None,
        timeout: float | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> RemoteResult:
        """Follow the job until it ends. `timeout`: give up after that many seconds with no
        worker connected. `cancel` is polled; when it turns true the job is cancelled."""
        try:
            return self._follow(on_event, timeout, cancel)
        finally:
            self.client._release(self.id)

    def _follow(
        self,
        on_event: Callable[[RemoteEvent], None] | None = None,
        timeout: float | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> RemoteResult:
        from celery.exceptions import TimeoutError as CeleryTimeout

        emit = on_event or (lambda event: None)
        no_worker_since: float | None = None
        started = False
        waiting_said = False
        last_watch = 0.0
        cancel_sent_at: float | None = None
        emit(RemoteEvent("queued"))

        def on_message(body: dict) -> None:
            nonlocal started, waiting_said
            if body.get("status") != "PROGRESS":
                return
            meta = body.get("result") or {}
            if not isinstance(meta, dict):
                return
            worker = str(meta.get("worker", ""))
            if meta.get("phase") == "started":
                lost = bool(self.workers) or bool(meta.get("redelivered"))
                self.workers.append(worker)
                started, waiting_said = True, False
                emit(RemoteEvent("requeued" if lost else "running", worker))
                return
            if not started:
                started = True
                self.workers.append(worker)
                emit(RemoteEvent("running", worker))
            progress = Progress(
                str(meta.get("phase", "denoising")),
                int(meta.get("step", 0) or 0),
                int(meta.get("total", 0) or 0),
                float(meta.get("elapsed", 0.0) or 0.0),
                meta.get("eta"),
                message=str(meta.get("message") or ""),
            )
            emit(RemoteEvent("progress", worker, progress=progress))
            if meta.get("preview"):
                emit(RemoteEvent("preview", worker, preview=decode_frames(meta["preview"])))

        while True:
            try:
                reply = self.result.get(timeout=0.25, interval=0.05, on_message=on_message, propagate=False)
                break
            except CeleryTimeout:
                pass
            now = time.monotonic()
            if cancel_sent_at is None and (self._cancel_requested.is_set() or (cancel is not None and cancel())):
                if not self._cancel_requested.is_set():
                    self.cancel()
                cancel_sent_at = now
                if not started:
                    raise Cancelled()
            if cancel_sent_at is not None and now - cancel_sent_at > CANCEL_GRACE:
                raise Cancelled()
            if now - last_watch >= WATCH_INTERVAL:
                last_watch = now
                consumers = self.client.worker_count()
                if consumers == 0:
                    no_worker_since = no_worker_since or now
                elif consumers:
                    no_worker_since = None
                if consumers == 0 and not waiting_said:
                    waiting_said = True
                    emit(RemoteEvent("waiting", message=f"waiting for a worker at {self.client.safe_url}"))
                elif consumers and waiting_said and not started:
                    waiting_said = False
                    emit(RemoteEvent("queued"))
            if timeout is not None and no_worker_since is not None and now - no_worker_since > timeout:
                self.cancel()
                raise GenerationError(
                    f"no worker connected to {self.client.safe_url} for {timeout:g} s; gave up. "
                    "Start one with: python main.py worker --broker URL"
                )
        return self._finish(reply)

    def _finish(self, reply: Any) -> RemoteResult:
        state = self.result.state
        self.result.forget()
        if state != "SUCCESS" or not isinstance(reply, dict):
            if state == "REVOKED" and self._cancel_requested.is_set():
                raise Cancelled()
            raise GenerationError(f"the job ended as {state} on the worker: {reply}")
        return result_from_reply(reply, self.request, self.workers, self.inputs)


class RemoteClient:
    """A connection to the workers at one broker. Checks the broker when made."""

    def __init__(self, url: str, check: bool = True) -> None:
        if check:
            check_broker(url)
        self.url = url
        self.safe_url = safe_url(url)
        self.app = make_app(url, name="animatediff_studio.client")
        self._lock = threading.Lock()
        self._routed: dict[str, str] = {}  # unfinished job id -> the model queue it was sent to

    def _release(self, job_id: str) -> None:
        with self._lock:
            self._routed.pop(job_id, None)

    def close(self) -> None:
        try:
            self.app.close()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def worker_count(self) -> int | None:
        """How many workers consume the shared queue; None when the broker cannot say."""
        try:
            with self.app.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1)
                counts = queue_counts(connection, RENDER_QUEUE)
        except Exception:  # noqa: BLE001 - a broker hiccup is not a verdict
            return None
        return 0 if counts is None else counts[1]

    def _route(self, request: GenerationRequest):
        """A worker with these models loaded, when one is likely free for it; else the shared
        queue. "Likely free": the model queue has more consumers than jobs waiting in it plus
        its workers running a job now (any client's), and plus this client's unfinished jobs
        sent there (a batch must not queue up behind one warm worker while another is idle)."""
        queue = model_queue(model_key(request.model.base_model, request.model.motion_adapter))
        try:
            with self.app.connection_for_read() as connection:
                counts = queue_counts(connection, queue.name)
                busy = queue_counts(connection, busy_queue(queue.name).name) if counts else None
        except Exception:  # noqa: BLE001 - routing is only a preference
            counts = busy = None
        with self._lock:
            mine = sum(1 for name in self._routed.values() if name == queue.name)
        if counts is None:
            return None
        # Our own jobs are among the waiting and running ones once the broker has them.
        taken = max(counts[0] + (busy[1] if busy else 0), mine)
        return queue if counts[1] > taken else None

    def submit(self, request: GenerationRequest, previews: bool = False,
               finishing: Sequence[FinishingOptions] = (), output_kind: str | None = None,
               keep_source: bool = False) -> RemoteJob:
        """Send a job. `finishing`: passes the worker runs after generating (checked there
        against `output_kind`'s frame-size limit before it generates); `keep_source`: the
        generated frames come back too, for a project's parent take."""
        job, request, kept, sent = build_job(request, previews, finishing, output_kind, keep_source)
        queue = self._route(sent)
        options: dict[str, Any] = {}
        if queue is not None:
            options.update(queue=queue, declare=[queue], exchange=queue.exchange, routing_key=queue.routing_key)
        else:
            options.update(queue=RENDER_QUEUE)
        try:
            result = self.app.send_task(TASK_NAME, args=[job], **options)
        except Exception as exc:  # noqa: BLE001 - the broker went away between check and send
            raise BrokerError(
                f"could not send the job to {self.safe_url}: {redact_urls(str(exc))}"
            ) from None
        if queue is not None:
            with self._lock:
                self._routed[result.id] = queue.name
        remote = RemoteJob(self, result, request)
        remote.inputs = kept
        return remote

    def send_cancel(self, job_id: str) -> None:
        from kombu import Exchange

        exchange = Exchange(CANCEL_EXCHANGE, type="fanout", durable=False, auto_delete=False)
        try:
            with self.app.producer_or_acquire() as producer:
                producer.publish({"id": job_id}, exchange=exchange, routing_key="", serializer="json", declare=[exchange])
            self.app.control.revoke(job_id)
        except Exception:  # noqa: BLE001 - best effort; the caller stops waiting anyway
            pass

    def run(
        self,
        request: GenerationRequest,
        on_event: Callable[[RemoteEvent], None] | None = None,
        timeout: float | None = None,
        cancel: Callable[[], bool] | None = None,
        previews: bool = False,
        finishing: Sequence[FinishingOptions] = (),
        output_kind: str | None = None,
        keep_source: bool = False,
    ) -> RemoteResult:
        job = self.submit(request, previews, finishing, output_kind, keep_source)
        try:
            return job.wait(on_event, timeout=timeout, cancel=cancel)
        except KeyboardInterrupt:
            job.cancel()
            raise
