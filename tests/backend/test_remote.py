"""Rendering on workers, against a real RabbitMQ on loopback and real worker processes on the
tiny model: same frames as a local run, progress in order, cancel, a worker killed mid-job,
pickle refused, and clear broker errors."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.core.errors import Cancelled, GenerationError, InputError
from backend.core.request import GenerationRequest, ModelSpec
from tests.rabbitmq import free_port
from tests.remote_fixtures import ROOT, WorkerProcess, env, needs_rabbitmq, revive

pytestmark = needs_rabbitmq


def tiny_request(models, seed: int = 1, steps: int = 3, **changes) -> GenerationRequest:
    return GenerationRequest(
        prompt="a lighthouse in a storm", width=64, height=64, frames=8, steps=steps, seed=seed,
        model=ModelSpec(base_model=str(models.base), motion_adapter=str(models.motion_adapter), device="cpu"),
    ).replace(**changes)


def local_frames(request, cache) -> np.ndarray:
    """The local run's frames, with one torch thread as the workers use: on a CPU the thread
    count changes the order of float sums, and so the last bit of a few pixels."""
    import torch

    from backend.engine.generation import generate

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return generate(request, cache=cache).frames
    finally:
        torch.set_num_threads(threads)


def folder_frames(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(path)) for path in sorted(folder.glob("frame_*.png"))])


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=env(),
        capture_output=True, text=True, timeout=timeout,
    )


def cli_args(models, seed: int, output: Path, steps: int = 3) -> list[str]:
    return [
        "--prompt", "a lighthouse in a storm", "--base-model", str(models.base),
        "--motion-adapter", str(models.motion_adapter), "--width", "64", "--height", "64",
        "--frames", "8", "--steps", str(steps), "--seed", str(seed), "--device", "cpu",
        "--output", str(output),
    ]


@pytest.fixture()
def client(rabbitmq):
    from backend.remote.client import RemoteClient

    with RemoteClient(rabbitmq.url) as remote:
        yield remote


def test_four_remote_jobs_match_local_runs(render_workers, demo_models, clip_folder, cache, tmp_path):
    url = render_workers[0].url
    project = tmp_path / "takes.adsproj"
    commands = []
    for seed in (1, 2, 3):
        extra = ["--project", str(project)] if seed == 1 else []
        commands.append(["generate", *cli_args(demo_models, seed, tmp_path / f"t{seed}"), "--remote", url, "--json", *extra])
    commands.append([
        "video2video", *cli_args(demo_models, 4, tmp_path / "v4"), "--input", str(clip_folder),
        "--strength", "0.7", "--remote", url, "--json",
    ])
    processes = [
        subprocess.Popen([sys.executable, str(ROOT / "main.py"), *c], cwd=ROOT, env=env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    workers = set()
    for seed in (1, 2, 3):
        request = tiny_request(demo_models, seed=seed)
        assert np.array_equal(folder_frames(tmp_path / f"t{seed}"), local_frames(request, cache))
    v2v = tiny_request(demo_models, seed=4, mode="video2video", input_video=str(clip_folder), strength=0.7)
    assert np.array_equal(folder_frames(tmp_path / "v4"), local_frames(v2v, cache))
    for (out, err) in outputs:
        summary = json.loads(out)
        assert summary["request"]["model"]["base_model"] == str(demo_models.base)
        workers.update(line.split()[-1] for line in err.splitlines() if line.startswith("running on worker"))
    # Which worker takes which job depends on when each process starts; see the routing test
    # below for the rule that spreads jobs of separate clients.
    assert workers and workers <= {w.hostname for w in render_workers}
    from backend.project.project_file import Project

    takes = Project.open(project).takes
    assert len(takes) == 1 and takes[0].request.seed == 1
    # The workers that ran these jobs now have the tiny model loaded and listen on its queue,
    # so the next job with these models is routed to them first.
    from kombu import Connection

    from backend.remote.transport import model_key, model_queue, queue_counts

    name = model_queue(model_key(str(demo_models.base), str(demo_models.motion_adapter))).name
    deadline = time.monotonic() + 20
    with Connection(url) as connection:
        while (queue_counts(connection, name) or (0, 0))[1] < len(workers):
            assert time.monotonic() < deadline, "the workers did not subscribe to the model queue"
            time.sleep(0.2)


def test_another_client_is_not_queued_behind_a_busy_warm_worker(render_workers, demo_models, rabbitmq, tmp_path):
    """One worker has the models loaded and is running a job; a job from a second client (its
    own process, say) goes to the shared queue, so the idle worker takes it at once instead of
    waiting behind the warm one."""
    from kombu import Connection

    from backend.remote.client import RemoteClient
    from backend.remote.transport import model_key, model_queue, queue_counts

    # The same tiny model under another path: a model queue no worker follows yet.
    base = tmp_path / "base-link"
    base.symlink_to(demo_models.base, target_is_directory=True)

    def request(**changes):
        return tiny_request(demo_models, **changes).replace(
            model=ModelSpec(base_model=str(base), motion_adapter=str(demo_models.motion_adapter), device="cpu"))

    name = model_queue(model_key(str(base), str(demo_models.motion_adapter))).name
    with RemoteClient(rabbitmq.url) as first, RemoteClient(rabbitmq.url) as second:
        warm = first.run(request(seed=41)).worker  # then it follows the model queue
        deadline = time.monotonic() + 20
        with Connection(rabbitmq.url) as connection:
            while (queue_counts(connection, name) or (0, 0))[1] < 1:
                assert time.monotonic() < deadline, "the worker did not subscribe to the model queue"
                time.sleep(0.2)
        long_job = first.submit(request(seed=42, steps=400, width=128, height=128))
        running: list[str] = []
        denoising = threading.Event()

        def on_event(event):
            if event.state == "progress" and event.progress.phase == "denoising":
                running.append(event.worker)
                denoising.set()

        ended: list[BaseException | None] = []

        def follow() -> None:
            try:
                long_job.wait(on_event)
                ended.append(None)
            except BaseException as exc:  # noqa: BLE001 - checked below, on the test's thread
                ended.append(exc)

        follower = threading.Thread(target=follow)
        follower.start()
        try:
            assert denoising.wait(120), "the long job never started"
            assert running[0] == warm
            assert second._route(request(seed=43)) is None, "routed behind the busy warm worker"
            assert second.run(request(seed=43)).worker != warm
            assert not ended, "the long job ended before the second client's job was routed"
        finally:
            long_job.cancel()
            follower.join(60)
        assert not follower.is_alive() and isinstance(ended[0], Cancelled)


def test_progress_arrives_in_order(render_workers, demo_models, client):
    events = []
    result = client.run(tiny_request(demo_models, seed=11, steps=6), on_event=events.append)
    states = [e.state for e in events]
    assert states[0] == "queued" and "running" in states
    progress = [e.progress for e in events if e.state == "progress"]
    denoising = [p.step for p in progress if p.phase == "denoising"]
    assert denoising == sorted(denoising) and denoising[-1] == 6
    phases = [p.phase for p in progress]
    order = ["plan", "loading", "denoising", "decoding", "done"]  # engine.generation.PHASES
    assert [order.index(p) for p in phases] == sorted(order.index(p) for p in phases)
    assert phases[-1] == "done"
    assert result.worker in {w.hostname for w in render_workers}
    assert result.frames.shape == (8, 64, 64, 3)


def test_cancel_stops_within_a_step_and_worker_takes_next_job(render_workers, demo_models, client, cache):
    job = client.submit(tiny_request(demo_models, seed=21, steps=400, width=128, height=128))
    seen: list[int] = []
    cancelled_at: list[int] = []

    def on_event(event):
        if event.state == "progress" and event.progress.phase == "denoising":
            seen.append(event.progress.step)
            if event.progress.step >= 3 and not cancelled_at:
                cancelled_at.append(event.progress.step)
                job.cancel()

    started = time.monotonic()
    with pytest.raises(Cancelled):
        job.wait(on_event)
    assert cancelled_at, "the job never reported progress"
    # The step running when the cancel arrived finishes; the next one raises.
    assert max(seen) <= cancelled_at[0] + 2, (cancelled_at, seen)
    assert time.monotonic() - started < 60
    worker = job.workers[-1]
    # That worker is free again: with the other one busy, it takes the next job.
    other = client.submit(tiny_request(demo_models, seed=22, steps=30))
    follow = client.submit(tiny_request(demo_models, seed=23))
    results = [other.wait(), follow.wait()]
    assert worker in {r.worker for r in results}
    assert np.array_equal(results[1].frames, local_frames(tiny_request(demo_models, seed=23), cache))


def test_worker_killed_mid_job_is_redelivered_with_identical_frames(render_workers, demo_models, client, cache):
    by_name = {w.hostname: w for w in render_workers}
    request = tiny_request(demo_models, seed=31, steps=60)
    job = client.submit(request)
    events = []
    killed: list[str] = []

    def on_event(event):
        events.append(event)
        if event.state == "progress" and event.progress.step >= 3 and not killed:
            killed.append(event.worker)
            by_name[event.worker].kill()

    deadline = time.monotonic() + 120  # a lost job would otherwise be waited for forever
    try:
        result = job.wait(on_event, cancel=lambda: time.monotonic() > deadline)
    finally:
        for worker in render_workers:
            revive(worker)  # the restarted worker rejoins and takes jobs from the queue again
    assert killed
    assert "requeued" in [e.state for e in events]
    assert result.worker != killed[0]
    assert job.workers[0] == killed[0] and job.workers[-1] == result.worker
    assert np.array_equal(result.frames, local_frames(request, cache))


def test_pickle_message_is_refused(render_workers, demo_models, client, tmp_path):
    from kombu import Connection, Exchange, Producer

    from backend.remote.transport import RENDER_QUEUE, TASK_NAME

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    task_id = str(uuid.uuid4())
    headers = {"lang": "py", "task": TASK_NAME, "id": task_id, "root_id": task_id, "parent_id": None,
               "group": None, "argsrepr": "", "kwargsrepr": "", "origin": "test", "retries": 0,
               "eta": None, "expires": None, "timelimit": [None, None]}
    with Connection(render_workers[0].url) as connection:
        producer = Producer(connection, exchange=Exchange(RENDER_QUEUE, type="direct"))
        producer.publish(((Payload(),), {}, {}), routing_key=RENDER_QUEUE, serializer="pickle",
                         headers=headers, content_encoding="binary")
    # The workers go on working; nothing was unpickled.
    result = client.run(tiny_request(demo_models, seed=41))
    assert result.frames.shape[0] == 8
    time.sleep(1.0)
    assert not marker.exists()
    logs = "".join(w.text() for w in render_workers)
    assert "pickle" in logs and "untrusted content" in logs.lower()


def test_local_path_missing_on_worker_is_bad_input(render_workers, demo_models, tmp_path):
    missing = tmp_path / "no-such-model"
    args = cli_args(demo_models, 1, tmp_path / "out")
    args[args.index(str(demo_models.base))] = str(missing)
    done = run_cli("generate", *args, "--remote", render_workers[0].url, "--quiet")
    assert done.returncode == 2, done.stderr
    assert "does not exist on worker" in done.stderr and str(missing) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_result_too_large_gets_a_clear_message(render_workers, demo_models, client):
    # The workers run with --max-result-mb 0.5; 256x256 noise frames are more than that.
    with pytest.raises(GenerationError, match="more than one broker message may carry"):
        client.run(tiny_request(demo_models, seed=51, steps=1, width=256, height=256, frames=12))


def test_bad_input_on_worker_is_input_error(render_workers, demo_models, client):
    with pytest.raises(InputError, match="does not exist on worker"):
        client.run(tiny_request(demo_models).replace(model=ModelSpec(base_model="/nope/base", motion_adapter=str(demo_models.motion_adapter))))


@pytest.mark.parametrize("case", ["unreachable", "wrong password"])
def test_broker_errors_are_clear_and_fast(rabbitmq, demo_models, tmp_path, case):
    url = f"amqp://ads:x@127.0.0.1:{free_port()}//" if case == "unreachable" else rabbitmq.url_with("wrong")
    for command in (["generate", *cli_args(demo_models, 1, tmp_path / "o"), "--remote", url],
                    ["worker", "--broker", url]):
        started = time.monotonic()
        done = run_cli(*command)
        elapsed = time.monotonic() - started
        assert done.returncode == 1, done.stderr
        assert elapsed < 5.0, elapsed
        expected = "cannot reach the broker" if case == "unreachable" else "refused the user name or password"
        assert expected in done.stderr and "Traceback" not in done.stderr
        assert "x@" not in done.stderr and "wrong" not in done.stderr, "the password must not be printed"


def test_no_worker_waits_gives_up_then_a_started_worker_takes_the_queue(rabbitmq, demo_models, tmp_path, cache):
    idle = rabbitmq.url_with(vhost="idle")
    started = time.monotonic()
    done = run_cli("generate", *cli_args(demo_models, 61, tmp_path / "gave-up"), "--remote", idle, "--timeout", "2")
    assert done.returncode == 1
    assert "waiting for a worker" in done.stderr and "gave up" in done.stderr
    assert time.monotonic() - started < 30
    # A job waits in the queue; the worker that starts later takes it.
    output = tmp_path / "late"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "generate", *cli_args(demo_models, 62, output), "--remote", idle],
        cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    worker = WorkerProcess(idle, "late", tmp_path / "late.log")
    try:
        time.sleep(3)
        worker.start().wait_ready()
        out, err = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
        worker.stop()
    assert process.returncode == 0, err
    assert "waiting for a worker" in err
    assert np.array_equal(folder_frames(output), local_frames(tiny_request(demo_models, seed=62), cache))
    # The abandoned job was skipped (its client is gone), not rendered for nobody.
    assert "its client is gone" in worker.text()


def test_batch_remote_seeds(render_workers, demo_models, tmp_path, cache):
    out = tmp_path / "batch"
    done = run_cli(
        "batch", "--prompt", "a lighthouse in a storm", "--base-model", str(demo_models.base),
        "--motion-adapter", str(demo_models.motion_adapter), "--width", "64", "--height", "64",
        "--frames", "8", "--steps", "2", "--device", "cpu", "--seeds", "5:7", "--format", "png",
        "--output-dir", str(out), "--remote", render_workers[0].url, "--json",
    )
    assert done.returncode == 0, done.stderr
    assert "batch: 3 done, 0 failed, 0 cancelled of 3" in done.stderr
    summary = json.loads(done.stdout)
    assert [j["state"] for j in summary["jobs"]] == ["done"] * 3
    first = out / "job-0001_seed-5"
    assert np.array_equal(folder_frames(first), local_frames(tiny_request(demo_models, seed=5, steps=2), cache))


def test_batch_local_prompts_and_requests(demo_models, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red fox\n\na blue whale\n")
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps({"prompt": "a crane", "seed": 3}) + "\n" + json.dumps({"prompt": "bad", "steps": -1}) + "\n")
    base = ["--base-model", str(demo_models.base), "--motion-adapter", str(demo_models.motion_adapter),
            "--width", "64", "--height", "64", "--frames", "4", "--steps", "2", "--device", "cpu", "--seed", "9"]
    done = run_cli("batch", *base, "--prompts", str(prompts), "--output-dir", str(tmp_path / "p"), "--format", "gif")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["job-0001_seed-9.gif", "job-0002_seed-9.gif"]
    bad = run_cli("batch", *base, "--requests", str(requests), "--output-dir", str(tmp_path / "r"))
    assert bad.returncode == 2 and "line 2" in bad.stderr and "Traceback" not in bad.stderr


def test_ctrl_c_cancels_the_remote_job(render_workers, demo_models, tmp_path):
    import signal

    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "generate",
         *cli_args(demo_models, 71, tmp_path / "int", steps=400), "--remote", render_workers[0].url],
        cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    err_lines: list[str] = []

    def read():
        for line in process.stderr:
            err_lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not any("running on worker" in line for line in err_lines):
        assert time.monotonic() < deadline and process.poll() is None, "".join(err_lines)
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert not (tmp_path / "int").exists()
    # The worker stopped the job: it is free for the next one at once.
    for worker in render_workers:
        revive(worker)


def test_amqps_with_certificate_check(render_workers, rabbitmq, demo_models, monkeypatch, cache):
    """TLS is honoured: the broker's certificate is verified (and its host name), and a job
    submitted over amqps runs like any other."""
    from backend.remote.client import RemoteClient
    from backend.remote.transport import BrokerError

    if rabbitmq.tls_port is None:
        pytest.skip("openssl is not installed: no certificate for the TLS listener")
    monkeypatch.delenv("ADS_BROKER_CA", raising=False)
    with pytest.raises(BrokerError, match="certificate"):
        RemoteClient(rabbitmq.tls_url())
    monkeypatch.setenv("ADS_BROKER_CA", str(rabbitmq.ca_file))
    with RemoteClient(rabbitmq.tls_url()) as client:
        request = tiny_request(demo_models, seed=81)
        assert np.array_equal(client.run(request).frames, local_frames(request, cache))


def test_batch_remote_json_lines(render_workers, demo_models, tmp_path, cache):
    full = tiny_request(demo_models, seed=91, steps=2)
    lines = tmp_path / "jobs.jsonl"
    lines.write_text(json.dumps({"prompt": "a crane", "seed": 92}) + "\n\n"
                     + json.dumps({"request": full.to_dict()}) + "\n")
    out = tmp_path / "jsonl"
    done = run_cli(
        "batch", "--base-model", str(demo_models.base), "--motion-adapter", str(demo_models.motion_adapter),
        "--width", "64", "--height", "64", "--frames", "8", "--steps", "2", "--device", "cpu",
        "--requests", str(lines), "--format", "png", "--output-dir", str(out), "--remote", render_workers[0].url,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["job-0001_seed-92", "job-0002_seed-91"]
    assert np.array_equal(folder_frames(out / "job-0002_seed-91"), local_frames(full, cache))
    crane = tiny_request(demo_models, seed=92, steps=2, prompt="a crane")
    assert np.array_equal(folder_frames(out / "job-0001_seed-92"), local_frames(crane, cache))


def test_busy_marker_stays_while_the_job_runs_and_goes_after(rabbitmq, monkeypatch):
    """The marker's consumer is there for the whole job (its heartbeats kept: with 1 s ones the
    broker would drop a silent connection within about 3 s) and gone when the job ends."""
    from kombu import Connection

    from backend.remote.transport import busy_queue, model_key, model_queue, queue_counts
    from backend.remote.worker import BusyMarker

    monkeypatch.setattr(BusyMarker, "HEARTBEAT", 1)
    queue = model_queue(model_key("marker-base", "marker-adapter")).name
    busy = busy_queue(queue).name
    with Connection(rabbitmq.url) as connection:
        with BusyMarker(rabbitmq.url, queue) as marker:
            assert marker.pump is not None and marker.pump.is_alive()
            held_until = time.monotonic() + 4
            while time.monotonic() < held_until:
                assert (queue_counts(connection, busy) or (0, 0))[1] == 1
                time.sleep(0.25)
        deadline = time.monotonic() + 20
        while (queue_counts(connection, busy) or (0, 0))[1] != 0:
            assert time.monotonic() < deadline, "the marker outlived its job"
            time.sleep(0.1)
