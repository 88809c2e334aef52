"""Whole-process time of `python main.py generate` on a tiny Wan model against a plain
diffusers WanPipeline script.

Both run the Wan demo model shaped like Wan2.1-T2V-1.3B (`demo-model --family wan`) with the
same parameters and write the same PNG frames; runs alternate so drift in machine load hits
both alike. Prints each pair and the median ratio (ours / plain); the goal is at most 1.05.

    python benchmarks/wan_overhead.py [--runs 5] [--frames 9] [--size 64] [--steps 4]
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
from diffusers import WanPipeline
base, out, frames, size, steps = sys.argv[1:6]
pipe = WanPipeline.from_pretrained(base)
output = pipe(
    prompt="a sunset over the sea", negative_prompt="blurry", num_frames=int(frames),
    width=int(size), height=int(size), guidance_scale=5.0, num_inference_steps=int(steps),
    generator=torch.Generator("cpu").manual_seed(42), output_type="pil",
)
os.makedirs(out, exist_ok=True)
for i, frame in enumerate(output.frames[0]):
    frame.save(os.path.join(out, f"frame_{i:05d}.png"))
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, str(ROOT / "main.py"), "demo-model", str(tmp / "demo"),
                        "--family", "wan"], env=env, check=True, stdout=subprocess.DEVNULL)
        base = tmp / "demo" / "wan-2.1"
        script = tmp / "plain.py"
        script.write_text(PLAIN_SCRIPT)
        ours_cmd = [sys.executable, str(ROOT / "main.py"), "generate", "--base-model", str(base),
                    "--prompt", "a sunset over the sea", "--negative-prompt", "blurry",
                    "--frames", str(args.frames), "--width", str(args.size), "--height",
                    str(args.size), "--steps", str(args.steps), "--guidance", "5.0",
                    "--seed", "42", "--device", "cpu", "--dtype", "float32", "--quiet",
                    "--output", str(tmp / "ours")]
        plain_cmd = [sys.executable, str(script), str(base), str(tmp / "plain"),
                     str(args.frames), str(args.size), str(args.steps)]
        timed(plain_cmd, env)  # warm the file cache for both
        ratios = []
        for run in range(args.runs):
            ours, plain = timed(ours_cmd, env), timed(plain_cmd, env)
            ratios.append(ours / plain)
            print(f"run {run + 1}: ours {ours:.2f} s, plain diffusers {plain:.2f} s, "
                  f"ratio {ours / plain:.3f}")
        import numpy as np
        from PIL import Image

        same = all(np.array_equal(np.asarray(Image.open(tmp / "ours" / p.name)),
                                  np.asarray(Image.open(p)))
                   for p in sorted((tmp / "plain").glob("*.png")))
        print(f"frames identical: {same}")
        print(f"median ratio (ours / plain): {statistics.median(ratios):.3f} (goal <= 1.05)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
