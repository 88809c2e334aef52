"""The command line for rendering elsewhere: `worker`, `batch`, and `--remote` on generate and
video2video. backend/cli/commands.py calls in here with a few lines; the rest of the CLI is unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from backend.core.errors import Cancelled, InputError, StudioError, redact_urls
from backend.core.request import DEVICES, DTYPES, GenerationRequest, random_seed

BATCH_FORMATS = ("mp4", "gif", "webm", "webp", "png")


def add_commands(commands) -> None:
    from backend.cli.options import add_generation_options

    worker = commands.add_parser("worker", help="render jobs from a broker (one per GPU)")
    worker.add_argument("--broker", default=None, metavar="URL", help="amqp://user:password@host:5672// or amqps://…; default $ADS_BROKER_URL")
    worker.add_argument("--name", default="", help="this worker's name, shown with each job (default: ads<pid>); @host is added")
    worker.add_argument("--device", default="auto", help=f"{'|'.join(DEVICES)} or cuda:N (this worker renders every job there)")
    worker.add_argument("--dtype", default="auto", choices=DTYPES)
    worker.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default: torch's choice)")
    worker.add_argument("--max-result-mb", type=float, default=None, help="largest result message (default 16, RabbitMQ 4's limit)")
    worker.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))

    batch = commands.add_parser("batch", help="run many jobs, here or on workers")
    add_generation_options(batch, video=True, batch=True)
    source = batch.add_mutually_exclusive_group()
    source.add_argument("--seeds", metavar="A:B", help="one job per seed from A to B (inclusive)")
    source.add_argument("--prompts", metavar="FILE", help="one job per non-empty line of a text file")
    source.add_argument("--requests", metavar="FILE", help="JSON lines: one request per line (--json's \"request\", or a partial one on top of the options)")
    batch.add_argument("--output-dir", required=True, help="folder for the outputs, named by job")
    batch.add_argument("--format", default="mp4", choices=BATCH_FORMATS, help="png: a folder of frames per job")


def remote_url(args: argparse.Namespace) -> str | None:
    """The broker URL when --remote was given (checked and reachable), else None."""
    if getattr(args, "remote", None) is None:
        return None
    from backend.remote.transport import broker_url, check_broker

    url = broker_url(args.remote)
    check_broker(url)
    return url


class _RemoteLines:
    """Turns remote events into the local progress bar plus a line per state change."""

    def __init__(self, bar, quiet: bool) -> None:
        self.bar = bar
        self.quiet = quiet

    def __call__(self, event) -> None:
        if event.state == "progress":
            self.bar(event.progress)
            return
        if self.quiet:
            return
        if event.state == "waiting":
            print(f"{event.message}...", file=sys.stderr, flush=True)
        elif event.state == "running":
            print(f"running on worker {event.worker}", file=sys.stderr, flush=True)
        elif event.state == "requeued":
            print(f"requeued: the worker was lost; now on {event.worker}", file=sys.stderr, flush=True)


def generate_remote(url: str, request: GenerationRequest, bar, args: argparse.Namespace,
                    finishing=(), output_kind: str | None = None):
    """generate()'s remote twin for the CLI: same result shape, same progress bar. The worker
    runs the `finishing` passes after generating; with --project the generated frames come back
    too, for the finished take's parent."""
    from backend.remote.client import RemoteClient

    with RemoteClient(url, check=False) as client:
        return client.run(request, on_event=_RemoteLines(bar, args.quiet), timeout=args.timeout,
                          finishing=finishing, output_kind=output_kind,
                          keep_source=bool(getattr(args, "project", None)))


def run_worker(args: argparse.Namespace) -> int:
    from backend.remote.transport import DEFAULT_MAX_RESULT_MB, broker_url
    from backend.remote.worker import WorkerOptions, run_worker

    device = args.device
    if device not in DEVICES and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise InputError(f"worker --device {device!r}: expected {', '.join(DEVICES)} or cuda:N")
    if args.threads < 0:
        raise InputError("worker --threads must be 0 (torch's default) or more")
    limit = DEFAULT_MAX_RESULT_MB if args.max_result_mb is None else args.max_result_mb
    if limit <= 0:
        raise InputError("worker --max-result-mb must be more than 0")
    options = WorkerOptions(
        broker=broker_url(args.broker),
        name=args.name,
        device=device,
        dtype=args.dtype,
        threads=args.threads,
        max_result_mb=limit,
        loglevel=args.log_level,
    )
    return run_worker(options)


@dataclass
class BatchJob:
    number: int
    request: GenerationRequest
    output: Path
    state: str = "queued"
    message: str = ""
    worker: str = ""
    seconds: float = 0.0


def parse_seed_range(text: str) -> range:
    first, sep, last = text.partition(":")
    try:
        start, end = int(first), int(last)
    except ValueError:
        start = end = -1
    if not sep or start < 0 or end < start:
        raise InputError(f"--seeds {text!r}: expected A:B with 0 <= A <= B, e.g. 1:50")
    if end - start >= 10_000:
        raise InputError(f"--seeds {text!r}: at most 10000 jobs in one batch")
    return range(start, end + 1)


def batch_requests(args: argparse.Namespace) -> list[GenerationRequest]:
    from backend.cli.options import request_from_args

    if args.requests:
        base = _base_request(args)
        requests = []
        path = Path(os.path.expanduser(args.requests))
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InputError(f"--requests {args.requests!r}: {exc.strerror or exc}") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if isinstance(data, dict) and isinstance(data.get("request"), dict):
                    data = data["request"]
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                if not data.get("prompt") and not args.prompt:
                    raise ValueError("no prompt (give one on the line or with --prompt)")
                merged = {**base.to_dict(), **data}
                if "model" in data:
                    merged["model"] = {**base.to_dict()["model"], **data["model"]}
                request = GenerationRequest.from_dict(merged)
                request.validate()
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"--requests {args.requests!r} line {number}: {exc}") from None
            requests.append(request)
        if not requests:
            raise InputError(f"--requests {args.requests!r}: no requests in the file")
        return requests
    if args.prompts:
        path = Path(os.path.expanduser(args.prompts))
        try:
            prompts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as exc:
            raise InputError(f"--prompts {args.prompts!r}: {exc.strerror or exc}") from None
        if not prompts:
            raise InputError(f"--prompts {args.prompts!r}: the file has no prompts")
        base = _base_request(args)
        return [base.replace(prompt=prompt) for prompt in prompts]
    if args.seeds:
        base = request_from_args(_as_command(args))
        return [base.replace(seed=seed) for seed in parse_seed_range(args.seeds)]
    raise InputError("batch: give --seeds A:B, --prompts FILE or --requests FILE")


def _as_command(args: argparse.Namespace) -> argparse.Namespace:
    copy = argparse.Namespace(**vars(args))
    copy.command = "video2video" if args.input else "generate"
    return copy


def _base_request(args: argparse.Namespace) -> GenerationRequest:
    """The options as a request, for files that give each job's prompt (or more)."""
    from backend.cli.options import request_from_args

    copy = _as_command(args)
    if not copy.prompt:
        copy.prompt = "-"  # each job's line replaces it
    return request_from_args(copy)


def _output_path(folder: Path, number: int, request: GenerationRequest, fmt: str) -> Path:
    name = f"job-{number:04d}_seed-{request.seed}"
    return folder / (name if fmt == "png" else f"{name}.{fmt}")


def run_batch(args: argparse.Namespace) -> int:
    from backend.cli.options import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, write_options

    options = write_options(args)
    options.validate()
    requests = batch_requests(args)
    folder = Path(os.path.expanduser(args.output_dir))
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--output-dir {args.output_dir!r} is a file; give a folder")
    if not folder.parent.is_dir():
        raise InputError(f"--output-dir {args.output_dir!r}: the folder {str(folder.parent)!r} does not exist")

    requests = [r if r.seed is not None else r.replace(seed=random_seed()) for r in requests]
    jobs = [BatchJob(n, r, _output_path(folder, n, r, args.format)) for n, r in enumerate(requests, 1)]
    url = remote_url(args)
    folder.mkdir(exist_ok=True)
    started = time.monotonic()
    interrupted = False
    try:
        if url:
            _batch_remote(url, jobs, args)
        else:
            _batch_local(jobs, args)
    except KeyboardInterrupt:
        interrupted = True
    for job in jobs:
        if job.state in ("queued", "running"):
            job.state = "cancelled"
    elapsed = time.monotonic() - started
    counts = {state: sum(1 for j in jobs if j.state == state) for state in ("done", "failed", "cancelled")}
    print(
        f"batch: {counts['done']} done, {counts['failed']} failed, {counts['cancelled']} cancelled "
        f"of {len(jobs)} in {elapsed:.1f} s; outputs in {folder}",
        file=sys.stderr,
    )
    for job in jobs:
        if job.state == "failed":
            print(f"  job {job.number}: {job.message}", file=sys.stderr)
    if args.json:
        print(json.dumps({
            "jobs": [
                {"job": j.number, "state": j.state, "output": str(j.output) if j.state == "done" else None,
                 "seed": j.request.seed, "worker": j.worker, "seconds": round(j.seconds, 3),
                 "message": j.message}
                for j in jobs
            ],
            "seconds": round(elapsed, 3),
        }, indent=2))
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if counts["done"] == len(jobs) else EXIT_FAILED


def _write_job(job: BatchJob, result, args: argparse.Namespace) -> None:
    from backend.cli.options import write_options
    from backend.media.metadata import build_metadata, input_records
    from backend.media.writer import write_clip

    metadata = build_metadata(result.request.to_dict(), **input_records(result.request))
    write_clip(result.frames, str(job.output), result.request.fps, write_options(args), metadata)
    if args.project:
        from backend.project.project_file import append_take

        append_take(args.project, result.frames, result.request, result.duration, result.device,
                    inputs=result.inputs, family=result.family)


def _finish_line(job: BatchJob, total: int) -> None:
    where = f" on {job.worker}" if job.worker else ""
    if job.state == "done":
        print(f"job {job.number}/{total} done{where} ({job.seconds:.1f} s): {job.output}", file=sys.stderr, flush=True)
    else:
        print(f"job {job.number}/{total} {job.state}{where}: {job.message}", file=sys.stderr, flush=True)


def _batch_local(jobs: list[BatchJob], args: argparse.Namespace) -> None:
    from backend.core.logs import quiet_libraries
    from backend.engine.generation import generate
    from backend.models.loading import PipelineCache

    quiet_libraries()
    cache = PipelineCache()
    for job in jobs:
        job.state = "running"
        began = time.monotonic()
        try:
            result = generate(job.request, cache=cache)
            _write_job(job, result, args)
        except Cancelled:
            raise KeyboardInterrupt from None
        except StudioError as exc:
            job.state, job.message = "failed", redact_urls(str(exc))
        else:
            job.state = "done"
        job.seconds = time.monotonic() - began
        _finish_line(job, len(jobs))


def _batch_remote(url: str, jobs: list[BatchJob], args: argparse.Namespace) -> None:
    """Submit every job at once, so every worker gets one, then collect them in order."""
    from backend.remote.client import RemoteClient

    with RemoteClient(url, check=False) as client:
        submitted = []
        for job in jobs:
            submitted.append(client.submit(job.request))
        said_waiting = False

        def on_event(event, job: BatchJob) -> None:
            nonlocal said_waiting
            if event.state == "waiting" and not said_waiting and not args.quiet:
                said_waiting = True
                print(f"{event.message}...", file=sys.stderr, flush=True)
            elif event.state in ("running", "requeued"):
                job.worker = event.worker

        try:
            for job, remote in zip(jobs, submitted, strict=True):
                began = time.monotonic()
                job.state = "running"
                try:
                    result = remote.wait(lambda e, j=job: on_event(e, j), timeout=args.timeout)
                    job.worker = result.worker
                    _write_job(job, result, args)
                except Cancelled:
                    job.state, job.message = "cancelled", "cancelled"
                except StudioError as exc:
                    job.state, job.message = "failed", redact_urls(str(exc))
                else:
                    job.state = "done"
                job.seconds = time.monotonic() - began
                _finish_line(job, len(jobs))
        except KeyboardInterrupt:
            # Ctrl+C cancels every job still queued or running, not only the one followed.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                for job, remote in zip(jobs, submitted, strict=True):
                    if job.state in ("queued", "running"):
                        remote.cancel()
            finally:
                signal.signal(signal.SIGINT, previous)
            raise


def run_command(args: argparse.Namespace) -> int:
    if args.command == "worker":
        return run_worker(args)
    return run_batch(args)

