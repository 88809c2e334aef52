"""Downloading models from the Hugging Face Hub into huggingface_hub's own cache.

Everything goes through huggingface_hub (its cache layout, HF_HOME, HF_ENDPOINT, HF_TOKEN,
HF_HUB_OFFLINE, its resume and retry of a dropped connection). What this module adds:

- a plan before any byte moves: which files a model needs, their sizes, which are already
  cached (never fetched again), and a free-space check against the rest;
- progress like generation progress (bytes done and total, speed, ETA, per file and overall);
- a cancel that stops within a second: huggingface_hub's transfer loop has no cancel of its own,
  so the HTTP client it uses gets a transport that checks a per-thread cancel flag on every read,
  and the transfer runs in a thread the caller stops waiting for when cancel is asked;
- clean-up of the temporary files a killed download leaves in the cache;
- "is this model complete in the cache?", decided from the files alone, so a cached model loads
  from its snapshot folder without any request, and an uncached one offline is reported at once.

This module imports neither torch nor diffusers: the command line decides offline/online before
paying for those imports.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from backend.core.errors import (
    CancelCheck,
    Cancelled,
    InputError,
    StudioError,
    cancel_check,
    exception_chain,
)
from backend.core.units import format_bytes
from backend.hub.cache import (
    CONNECT_TIMEOUT,
    ModelRef,
    cached_snapshot,
    clean_partial_files,
    complete_snapshot,
    hub_cache_dir,
    hub_endpoint,
    is_offline,
    probe_endpoint,
    repo_folder,
    resolve_auto,
    select_files,
)
from backend.hub.load_errors import gated_error, not_found_error

FREE_SPACE_MARGIN = 64 * 1024 * 1024  # keep some room: a full disk breaks more than us
CANCEL_GRACE = 0.8  # seconds a cancelled transfer thread gets to clean up before we return


class DownloadError(StudioError):
    """A download failed while running (network, disk); nothing half-written is left."""


class HubUnreachable(InputError):
    """The model is not cached and the Hub cannot be reached (or offline mode is on)."""


@dataclass
class PlannedFile:
    path: str
    size: int
    cached: bool


@dataclass
class DownloadPlan:
    ref: ModelRef
    commit: str
    files: list[PlannedFile]

    @property
    def missing(self) -> list[PlannedFile]:
        return [f for f in self.files if not f.cached]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def missing_bytes(self) -> int:
        return sum(f.size for f in self.missing)


@dataclass
class DownloadProgress:
    """One report, shaped like the engine's Progress (phase, step, total, elapsed, eta) so the
    window and the command line show it the same way; step and total count bytes."""

    phase: str = "downloading"
    step: int = 0
    total: int = 0
    elapsed: float = 0.0
    eta: float | None = None
    speed: float = 0.0  # bytes per second over the last few seconds
    model: str = ""
    file: str = ""
    file_done: int = 0
    file_total: int = 0
    files_done: int = 0
    files_total: int = 0
    latents: None = None  # the engine's Progress has it; a download never has a preview

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


ProgressCallback = Callable[[DownloadProgress], None]


# -- the HTTP client: cancellable reads ---------------------------------------------------------

_local = threading.local()
_installed = False
_install_lock = threading.Lock()


def _should_cancel() -> bool:
    check = getattr(_local, "cancel", None)
    return bool(check and check())


def _install_cancellable_client() -> None:
    """Give huggingface_hub an HTTP client whose transport checks this thread's cancel flag on
    each request and each network read (about 64 KB), so a transfer stops within a read. The
    client is otherwise huggingface_hub's default one (same hooks, redirects, proxies)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        try:
            import httpx2
            from huggingface_hub.utils import _http
        except ImportError:  # another huggingface_hub: cancel then waits for its 10 MB chunks
            _installed = True
            return

        class CancellableStream(httpx2.SyncByteStream):
            def __init__(self, inner, count) -> None:
                self.inner = inner
                self.count = count

            def __iter__(self):
                for chunk in self.inner:
                    if _should_cancel():
                        raise Cancelled()
                    if self.count is not None:
                        self.count(len(chunk))
                    yield chunk

            def close(self) -> None:
                self.inner.close()

        class CancellableTransport(httpx2.BaseTransport):
            def __init__(self, inner) -> None:
                self.inner = inner

            def handle_request(self, request):
                if _should_cancel():
                    raise Cancelled()
                response = self.inner.handle_request(request)
                # Bytes are counted per network read (about 64 KB), not per 10 MB write.
                count = getattr(_local, "count", None) if request.method == "GET" else None
                response.stream = CancellableStream(response.stream, count)
                return response

            def close(self) -> None:
                self.inner.close()

        def factory():
            client = _http.default_client_factory()
            # httpx keeps its transports in these two attributes; wrapping them (rather than
            # passing transport=) keeps the proxy mounts it built from the environment.
            client._transport = CancellableTransport(client._transport)  # noqa: SLF001
            client._mounts = {  # noqa: SLF001
                pattern: CancellableTransport(t) if t is not None else None
                for pattern, t in client._mounts.items()  # noqa: SLF001
            }
            return client

        _http.set_client_factory(factory)
        _installed = True


# -- planning ----------------------------------------------------------------------------------


def _how_to_get(ref: ModelRef) -> str:
    return (
        f"run `python main.py models download {ref.repo_id}` (or `hf download {ref.repo_id}`) "
        "once you are online"
    )


def offline_error(ref: ModelRef) -> HubUnreachable:
    return HubUnreachable(
        f"{ref.role} {ref.label!r} is not in the Hugging Face cache and offline mode is on "
        f"(HF_HUB_OFFLINE); connect to the internet, unset HF_HUB_OFFLINE and {_how_to_get(ref)}"
    )


def unreachable_error(ref: ModelRef, endpoint: str) -> HubUnreachable:
    return HubUnreachable(
        f"{ref.role} {ref.label!r} is not in the Hugging Face cache and the Hub ({endpoint}) "
        f"cannot be reached (offline?); connect to the internet and {_how_to_get(ref)}"
    )


def _explain_hub_error(exc: BaseException, ref: ModelRef, endpoint: str) -> Exception:
    import httpx2
    from huggingface_hub import errors as hub_errors

    if isinstance(exc, hub_errors.OfflineModeIsEnabled):
        return offline_error(ref)
    if isinstance(exc, httpx2.TransportError):
        return unreachable_error(ref, endpoint)
    if isinstance(exc, hub_errors.GatedRepoError):
        return gated_error(ref.role, ref.repo_id)
    if isinstance(exc, hub_errors.RepositoryNotFoundError):
        return not_found_error(ref.role, ref.repo_id)
    if isinstance(exc, hub_errors.HfHubHTTPError):
        return DownloadError(
            f"{ref.role} {ref.repo_id!r}: the Hub answered with an error ({str(exc).splitlines()[0]})"
        )
    return exc


def plan_download(
    ref: ModelRef, timeout: float = CONNECT_TIMEOUT, cache_dir: Path | None = None
) -> DownloadPlan:
    """Ask the Hub (one request, `timeout` seconds) which files `ref` needs and how big they are,
    and mark those the cache already holds."""
    if is_offline():
        raise offline_error(ref)
    endpoint = hub_endpoint()
    if probe_endpoint(endpoint, timeout) is not None:
        raise unreachable_error(ref, endpoint)
    from huggingface_hub import HfApi

    _install_cancellable_client()
    try:
        info = HfApi(endpoint=endpoint).model_info(
            ref.repo_id, files_metadata=True, timeout=timeout
        )
    except Exception as exc:  # noqa: BLE001 - mapped to one sentence, or re-raised
        error = _explain_hub_error(exc, ref, endpoint)
        if error is exc:
            raise
        raise error from None
    sizes = {s.rfilename: (s.size or 0) for s in info.siblings or []}
    ref = resolve_auto(ref, sizes)
    names = select_files(ref, sizes)
    if not names:
        raise InputError(
            f"{ref.role} {ref.repo_id!r} on the Hub has no {ref.marker or 'weights'}: it is not a "
            "model of this kind"
        )
    snapshot = repo_folder(ref.repo_id, cache_dir) / "snapshots" / str(info.sha)
    files = [PlannedFile(n, sizes[n], (snapshot / n).exists()) for n in names]
    return DownloadPlan(ref, str(info.sha), files)


def check_free_space(needed: int, cache_dir: Path | None = None) -> None:
    folder = cache_dir or hub_cache_dir()
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed + FREE_SPACE_MARGIN > free:
        raise DownloadError(
            f"not enough free disk space: the download needs {format_bytes(needed)} and "
            f"{format_bytes(free)} is free on {probe}; free some space (Models › Manage… can delete "
            "models) or set HF_HOME to a bigger disk"
        )


# -- progress ----------------------------------------------------------------------------------


class _Tracker:
    """Adds up bytes across files and reports at most every `interval` seconds."""

    def __init__(
        self,
        total: int,
        files_total: int,
        on_progress: ProgressCallback | None,
        interval: float = 0.1,
    ) -> None:
        self.total = total
        self.done = 0
        self.files_total = files_total
        self.files_done = 0
        self.on_progress = on_progress
        self.interval = interval
        self.started = time.monotonic()
        self.samples: deque[tuple[float, int]] = deque([(self.started, 0)])
        self.last_report = 0.0
        self.model = ""
        self.file = ""
        self.file_done = 0
        self.file_total = 0
        self.lock = threading.Lock()
        self.streamed = False  # the HTTP transport is counting this file's bytes

    def start_file(self, model: str, name: str, size: int) -> None:
        self.streamed = False
        with self.lock:
            self.model, self.file, self.file_done, self.file_total = model, name, 0, size
        self.report(force=True)

    def stream_add(self, count: int) -> None:
        self.streamed = True
        self.add(count)

    def add(self, count: int) -> None:
        with self.lock:
            count = min(count, self.file_total - self.file_done) if count > 0 else count
            self.done += count
            self.file_done += count
        self.report()

    def finish_file(self) -> None:
        with self.lock:
            self.files_done += 1
        self.report(force=True)

    def snapshot(self) -> DownloadProgress:
        now = time.monotonic()
        with self.lock:
            self.samples.append((now, self.done))
            while len(self.samples) > 2 and now - self.samples[0][0] > 3.0:
                self.samples.popleft()
            first_time, first_done = self.samples[0]
            span = now - first_time
            speed = (self.done - first_done) / span if span > 0 else 0.0
            left = max(0, self.total - self.done)
            eta = left / speed if speed > 0 else None
            return DownloadProgress(
                step=self.done,
                total=self.total,
                elapsed=now - self.started,
                eta=eta,
                speed=speed,
                model=self.model,
                file=self.file,
                file_done=self.file_done,
                file_total=self.file_total,
                files_done=self.files_done,
                files_total=self.files_total,
            )

    def report(self, force: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if not force and now - self.last_report < self.interval:
            return
        self.last_report = now
        self.on_progress(self.snapshot())


def _bar_class(tracker: _Tracker):
    """huggingface_hub's `tqdm_class`: a silent tqdm that checks for cancel on each update and
    counts bytes when the transport cannot (Xet transfers bypass the HTTP client)."""
    from tqdm import tqdm

    class Bar(tqdm):
        def __init__(self, *args, **kwargs) -> None:
            kwargs["disable"] = True
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)
            # Xet shows a second bar for bytes on the wire; the file bytes are the first one's.
            self.counts = not str(kwargs.get("desc") or "").endswith("downloading bytes")

        def update(self, n=1):
            if n < 0 or (n > 0 and self.counts and not tracker.streamed):
                tracker.add(n)  # negative: a restarted transfer rolled back
            if _should_cancel():
                raise Cancelled()
            return None

    return Bar


# -- downloading --------------------------------------------------------------------------------


def _run_cancellable(
    work: Callable[[], None],
    should_cancel: Callable[[], bool],
    count: Callable[[int], None] | None = None,
) -> None:
    """Run `work` in its own thread with this module's cancel flag set for it; return within
    about a second of a cancel even if the transfer is stuck in a read."""
    outcome: dict[str, BaseException] = {}
    interrupted = threading.Event()
    # Waiting on an Event, not Thread.join: on Python 3.11 a Ctrl+C that interrupts join() can
    # mark a still-running thread as stopped (bpo-45274), and the exit would then kill it before
    # it deletes its temporary file.
    finished = threading.Event()

    def target() -> None:
        _local.cancel = lambda: interrupted.is_set() or should_cancel()
        _local.count = count
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = exc
        finally:
            _local.cancel = None
            _local.count = None
            finished.set()

    thread = threading.Thread(target=target, name="model-download", daemon=True)
    thread.start()
    try:
        while not finished.wait(0.05):
            if should_cancel():
                _stop(finished)
                if not finished.is_set():
                    raise Cancelled()
    except KeyboardInterrupt:
        interrupted.set()  # Ctrl+C reaches only this thread; pass it on to the transfer
        _stop(finished)
        raise
    if "error" in outcome:
        raise outcome["error"]


def _stop(finished: threading.Event) -> None:
    """Give a cancelled transfer time to delete its temporary file. An HTTP transfer stops at its
    next read; a Xet transfer runs in hf_xet's own threads, which only its session abort stops
    (what huggingface_hub itself does on Ctrl+C)."""
    if finished.wait(CANCEL_GRACE / 2):
        return
    try:
        from huggingface_hub.utils._xet import abort_xet_session
    except ImportError:
        return
    abort_xet_session()
    finished.wait(CANCEL_GRACE / 2)


def _explain_transfer_error(exc: BaseException, plan: DownloadPlan) -> Exception:
    import errno

    for item in exception_chain(exc):
        if isinstance(item, Cancelled):
            return item
        if isinstance(item, OSError) and item.errno == errno.ENOSPC:
            return DownloadError(
                f"the disk is full: downloading {plan.ref.repo_id!r} stopped and its partial file "
                "was removed; free some space (Models › Manage… can delete models) and try again"
            )
        if isinstance(item, StudioError):
            return item
    error = _explain_hub_error(exc, plan.ref, hub_endpoint())
    if error is not exc:
        if isinstance(error, HubUnreachable):
            return DownloadError(
                f"the connection to the Hub was lost while downloading {plan.ref.repo_id!r} and "
                "did not come back after retries; try again (finished files are kept)"
            )
        return error
    return DownloadError(f"downloading {plan.ref.repo_id!r} failed: {type(exc).__name__}: {exc}")


def download_plans(
    plans: list[DownloadPlan],
    on_progress: ProgressCallback | None = None,
    cancel: CancelCheck = None,
    cache_dir: Path | None = None,
) -> list[Path]:
    """Fetch every missing file of `plans` into the cache. Returns the snapshot folders.
    Raises Cancelled (partial files removed), DownloadError (disk full, network gone)."""
    from huggingface_hub import hf_hub_download

    _install_cancellable_client()
    should_cancel = cancel_check(cancel)
    missing = [(plan, f) for plan in plans for f in plan.missing]
    needed = sum(f.size for _, f in missing)
    if missing:
        check_free_space(needed, cache_dir)
    tracker = _Tracker(needed, len(missing), on_progress)
    bar = _bar_class(tracker)
    endpoint = hub_endpoint()
    for plan in plans:
        clean_partial_files(plan.ref.repo_id, cache_dir)
    for plan, planned in missing:
        if should_cancel():
            raise Cancelled()
        tracker.start_file(plan.ref.repo_id, planned.path, planned.size)
        before = tracker.done

        def work(plan=plan, planned=planned) -> None:
            hf_hub_download(
                plan.ref.repo_id,
                planned.path,
                revision="main",
                cache_dir=cache_dir,
                endpoint=endpoint,
                tqdm_class=bar,
            )

        try:
            _run_cancellable(work, should_cancel, tracker.stream_add)
        except BaseException as exc:
            with tracker.lock:
                tracker.done = before  # the partial file is gone; so are its bytes
            if isinstance(exc, KeyboardInterrupt):
                raise
            error = _explain_transfer_error(exc, plan)
            if error is exc:
                raise
            raise error from None
        with tracker.lock:
            # A file the server sent without a length, or resent after a retry, still counts once.
            tracker.done = before + planned.size
            tracker.file_done = planned.size
        tracker.finish_file()
    if on_progress is not None:
        final = tracker.snapshot()
        final.phase = "downloaded"
        on_progress(final)
    folders = []
    for plan in plans:
        snapshot = cached_snapshot(plan.ref.repo_id, cache_dir)
        if snapshot is None:
            snapshot = repo_folder(plan.ref.repo_id, cache_dir) / "snapshots" / plan.commit
        folders.append(snapshot)
    return folders


def download(
    refs: Iterable[ModelRef],
    on_progress: ProgressCallback | None = None,
    cancel: CancelCheck = None,
    cache_dir: Path | None = None,
    timeout: float = CONNECT_TIMEOUT,
) -> list[Path]:
    plans = [plan_download(ref, timeout=timeout, cache_dir=cache_dir) for ref in refs]
    return download_plans(plans, on_progress, cancel, cache_dir)


def snapshots(refs: list[ModelRef], on_progress: ProgressCallback | None = None) -> list[Path]:
    """Each ref's complete snapshot, in order: from the cache, else downloaded with progress
    (InputError from `download` when that cannot be done now)."""
    folders = [complete_snapshot(ref) for ref in refs]
    missing = [ref for ref, folder in zip(refs, folders, strict=True) if folder is None]
    if missing:
        fetched = iter(download(missing, on_progress=on_progress))
        folders = [folder if folder is not None else next(fetched) for folder in folders]
    return folders


# -- what a job needs -----------------------------------------------------------------------------


@dataclass
class Requirements:
    """The Hub models a job names, split into cached and missing."""

    cached: list[ModelRef] = field(default_factory=list)
    missing: list[ModelRef] = field(default_factory=list)


def fetch_model_index(repo_id: str, cache_dir: Path | None = None) -> None:
    """Bring a Hub repository's model_index.json (a small file that names the model's family)
    into the cache when it is not there and the Hub answers within CONNECT_TIMEOUT; else
    nothing (the family then defaults, and the download itself says what is wrong)."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    try:
        if isinstance(try_to_load_from_cache(repo_id, "model_index.json", cache_dir=cache_dir),
                      str) or is_offline():
            return
        endpoint = hub_endpoint()
        if probe_endpoint(endpoint, CONNECT_TIMEOUT) is not None:
            return
        hf_hub_download(repo_id, "model_index.json", cache_dir=cache_dir, endpoint=endpoint,
                        etag_timeout=CONNECT_TIMEOUT)
    except Exception:  # noqa: BLE001 - not a pipeline repository, gated, ...: the plan says
        return


def names_hub_models(spec) -> bool:
    """Whether `spec` names any Hub model (base model, motion adapter, motion LoRA), from the
    names alone: no disk, no network."""
    from backend.core.sources import source_kind

    texts = (spec.base_model, spec.motion_adapter, *(lora.source for lora in spec.motion_loras))
    return any(source_kind(text) == "hub" for text in texts if text)


def refs_for_spec(spec, cache_dir: Path | None = None) -> list[ModelRef]:
    """The Hub models a ModelSpec names (local paths and files are not the downloader's)."""
    from backend.core.sources import source_kind
    from backend.families.registry import detect_family

    refs = []
    if source_kind(spec.base_model) == "hub":
        fetch_model_index(spec.base_model.strip(), cache_dir)
    family = detect_family(spec.base_model, cache_dir)
    adapter = [(spec.motion_adapter, "motion adapter", "config.json")]
    for text, role, marker in (
        (spec.base_model, "base model", "model_index.json"),
        *(adapter if family.applies("model.motion_adapter") else []),
        *((lora.source, "motion LoRA", None) for lora in spec.motion_loras),
    ):
        if source_kind(text) == "hub":
            refs.append(ModelRef(text.strip(), role, marker))
    return refs


def requirements(spec, cache_dir: Path | None = None) -> Requirements:
    result = Requirements()
    for ref in refs_for_spec(spec, cache_dir):
        (result.cached if complete_snapshot(ref, cache_dir) else result.missing).append(ref)
    return result


def prepare_models(
    spec,
    on_progress: ProgressCallback | None = None,
    cancel: CancelCheck = None,
    cache_dir: Path | None = None,
) -> list[DownloadPlan]:
    """Make sure every Hub model of `spec` is complete in the cache, downloading what is not.
    Offline or unreachable for a missing model: HubUnreachable within about CONNECT_TIMEOUT."""
    missing = requirements(spec, cache_dir).missing
    if not missing:
        return []
    plans = [plan_download(ref, cache_dir=cache_dir) for ref in missing]
    download_plans(plans, on_progress, cancel, cache_dir)
    return plans
