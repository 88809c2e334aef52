"""Rendering on workers: a remote job's overhead over a local one, and throughput with two
workers against one. On the tiny demo model, CPU, each worker and the local run on one torch
thread.

    PYTHONPATH=. python benchmarks/remote.py [--broker URL] [--jobs 8] [--repeats 5]

Without --broker (or ADS_BROKER_URL) it starts its own RabbitMQ on loopback, as the tests do.
Goals: whole-job time remote <= 1.2 x local + a fixed cost (printed); 8 jobs on two workers at
least 1.4x the throughput of one on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def tiny(models, seed: int, steps: int, frames: int = 8, size: int = 64):
    from backend.core.request import GenerationRequest, ModelSpec

    return GenerationRequest(
        prompt="a lighthouse in a storm", width=size, height=size, frames=frames, steps=steps, seed=seed,
        model=ModelSpec(base_model=str(models.base), motion_adapter=str(models.motion_adapter), device="cpu"),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default=os.environ.get("ADS_BROKER_URL"))
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()

    import numpy as np
    import torch

    from backend.core.logs import quiet_libraries
    from backend.engine.generation import generate
    from backend.models.demo_model import write_demo_model
    from backend.models.loading import PipelineCache
    from backend.remote.client import RemoteClient
    from tests.rabbitmq import start_broker
    from tests.remote_fixtures import WorkerProcess

    quiet_libraries()
    torch.set_num_threads(1)
    scratch = Path(tempfile.mkdtemp(prefix="ads-bench-remote-"))
    models = write_demo_model(scratch / "models")
    broker = None
    url = args.broker
    if not url:
        broker = start_broker(scratch / "broker")
        url = broker.url
    workers: list[WorkerProcess] = []
    try:
        first = WorkerProcess(url, "bench-a", scratch / "a.log").start().wait_ready()
        workers.append(first)
        with RemoteClient(url) as client:
            client.run(tiny(models, 0, args.steps))  # load the models on the worker
            cache = PipelineCache()
            generate(tiny(models, 0, args.steps), cache=cache)  # and here

            local, remote = [], []
            for repeat in range(args.repeats):
                request = tiny(models, 100 + repeat, args.steps)
                began = time.perf_counter()
                frames_local = generate(request, cache=cache).frames
                local.append(time.perf_counter() - began)
                began = time.perf_counter()
                frames_remote = client.run(request).frames
                remote.append(time.perf_counter() - began)
                assert np.array_equal(frames_local, frames_remote), "remote frames differ from local"
            local_s, remote_s = statistics.median(local), statistics.median(remote)
            print(f"one job (64x64, 8 frames, {args.steps} steps), median of {args.repeats}:")
            print(f"  local  {local_s:.3f} s")
            print(f"  remote {remote_s:.3f} s  = {remote_s / local_s:.2f}x local; "
                  f"fixed cost {remote_s - local_s:+.3f} s per job")
            goal = 1.2 * local_s + 0.15
            print(f"  goal: remote <= 1.2 x local + 0.15 s = {goal:.3f} s -> "
                  f"{'met' if remote_s <= goal else 'NOT met'}")

            def batch(count: int) -> float:
                began = time.perf_counter()
                jobs = [client.submit(tiny(models, 200 + i, args.steps)) for i in range(count)]
                for job in jobs:
                    job.wait()
                return time.perf_counter() - began

            one = batch(args.jobs)
            second = WorkerProcess(url, "bench-b", scratch / "b.log").start().wait_ready()
            workers.append(second)
            warm = [client.submit(tiny(models, seed, args.steps)) for seed in (1, 2)]
            assert len({job.wait().worker for job in warm}) == 2, "one worker took both warm-up jobs"
            two = batch(args.jobs)
            print(f"{args.jobs} jobs: one worker {one:.2f} s, two workers {two:.2f} s "
                  f"-> {one / two:.2f}x throughput (goal >= 1.4x on 2 cores; "
                  f"this machine has {os.cpu_count()} CPUs; load average now "
                  f"{os.getloadavg()[0]:.1f}, so other work shares them)")
    finally:
        for worker in workers:
            worker.stop()
        if broker is not None:
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
