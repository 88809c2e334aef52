"""Whole-process time of `python main.py generate` against a plain diffusers script.

Both run the same tiny demo model with the same parameters and write the same PNG frames; runs
alternate so drift in machine load hits both alike. Prints each pair and the median ratio
(ours / plain); the goal is at most 1.05.

    python benchmarks/engine_overhead.py [--runs 11] [--frames 16] [--size 64] [--steps 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLAIN_SCRIPT = """
import sys, os, torch
from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter
base, adapter_path, out, frames, size, steps = sys.argv[1:7]
adapter = MotionAdapter.from_pretrained(adapter_path)
pipe = AnimateDiffPipeline.from_pretrained(base, motion_adapter=adapter)
pipe.scheduler = DDIMScheduler.from_pretrained(
    base, subfolder="scheduler", clip_sample=False, timestep_spacing="linspace",
    beta_schedule="linear", steps_offset=1,
)
output = pipe(
    prompt="a sunset over the sea", negative_prompt="bad quality, worse quality",
    num_frames=int(frames), width=int(size), height=int(size), guidance_scale=7.5,
    num_inference_steps=int(steps), generator=torch.Generator("cpu").manual_seed(42),
)
os.makedirs(out, exist_ok=True)
for i, frame in enumerate(output.frames[0]):
    frame.save(os.path.join(out, f"frame_{i:05d}.png"))
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, str(ROOT / "main.py"), "demo-model", str(tmp / "demo")],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base, adapter = tmp / "demo" / "base", tmp / "demo" / "motion-adapter"
        script = tmp / "plain.py"
        script.write_text(PLAIN_SCRIPT)
        plain = [sys.executable, str(script), str(base), str(adapter), str(tmp / "plain"),
                 str(args.frames), str(args.size), str(args.steps)]
        ours = [sys.executable, str(ROOT / "main.py"), "generate", "--prompt", "a sunset over the sea",
                "--negative-prompt", "bad quality, worse quality", "--base-model", str(base),
                "--motion-adapter", str(adapter), "--output", str(tmp / "ours"),
                "--frames", str(args.frames), "--width", str(args.size), "--height", str(args.size),
                "--steps", str(args.steps), "--seed", "42", "--no-vae-slicing", "--device", "cpu"]
        timed(plain, env)  # warm the file cache for both
        timed(ours, env)
        ratios, plain_times, our_times = [], [], []
        for run in range(args.runs):
            first_ours = run % 2 == 1
            t_a = timed(ours if first_ours else plain, env)
            t_b = timed(plain if first_ours else ours, env)
            t_ours, t_plain = (t_a, t_b) if first_ours else (t_b, t_a)
            our_times.append(t_ours)
            plain_times.append(t_plain)
            ratios.append(t_ours / t_plain)
            print(f"run {run + 1}: plain diffusers {t_plain:.3f} s, ours {t_ours:.3f} s, ratio {t_ours / t_plain:.3f}")
        median = statistics.median(ratios)
        print(f"median plain {statistics.median(plain_times):.3f} s, median ours {statistics.median(our_times):.3f} s")
        print(f"median ratio ours/plain: {median:.3f} (goal <= 1.05): {'PASS' if median <= 1.05 else 'FAIL'}")
        return 0 if median <= 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())
