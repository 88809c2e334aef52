"""Whole-process time of a controlled job, `python main.py generate --control ...`, against a
plain diffusers script (AnimateDiffControlNetPipeline) doing the same.

Both run the tiny demo model with a tiny random ControlNet (tests/backend/guided_files.py) and
a control video of PNG frames (canny edges, made by each side from the same source frames),
and write the same PNG frames; runs alternate so drift in machine load hits both alike. Prints
each pair and the median ratio (ours / plain); the goal is at most 1.05.

    python benchmarks/guided_overhead.py [--runs 9] [--frames 16] [--size 64] [--steps 4]
    python benchmarks/guided_overhead.py --device cuda --dtype float16      # on a GPU
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
import sys, os, cv2, numpy as np, torch
from PIL import Image
from diffusers import AnimateDiffControlNetPipeline, ControlNetModel, DDIMScheduler, MotionAdapter
base, adapter_path, controlnet_path, source, out, size, steps, device, dtype = sys.argv[1:10]
dtype = getattr(torch, dtype)
frames = [np.asarray(Image.open(os.path.join(source, n)).convert("RGB"))
          for n in sorted(os.listdir(source))]
control = [Image.fromarray(np.repeat(cv2.Canny(f, 100, 200)[:, :, None], 3, 2)) for f in frames]
adapter = MotionAdapter.from_pretrained(adapter_path, torch_dtype=dtype)
controlnet = ControlNetModel.from_pretrained(controlnet_path, torch_dtype=dtype)
pipe = AnimateDiffControlNetPipeline.from_pretrained(
    base, motion_adapter=adapter, controlnet=controlnet, torch_dtype=dtype).to(device)
pipe.scheduler = DDIMScheduler.from_pretrained(
    base, subfolder="scheduler", clip_sample=False, timestep_spacing="linspace",
    beta_schedule="linear", steps_offset=1,
)
output = pipe(
    prompt="a dancer on a beach", negative_prompt="bad quality, worse quality",
    num_frames=len(control), conditioning_frames=control, width=int(size), height=int(size),
    guidance_scale=7.5, num_inference_steps=int(steps),
    generator=torch.Generator("cpu").manual_seed(42),
)
os.makedirs(out, exist_ok=True)
for i, frame in enumerate(output.frames[0]):
    frame.save(os.path.join(out, f"frame_{i:05d}.png"))
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def make_inputs(folder: Path, frames: int, size: int) -> tuple[Path, Path, Path, Path]:
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from backend.models.demo_model import write_demo_model
    from tests.backend.guided_files import write_controlnet

    models = write_demo_model(folder / "demo")
    controlnet = write_controlnet(folder / "controlnet", seed=11)
    source = folder / "source"
    source.mkdir()
    yy, xx = np.mgrid[0:size, 0:size]
    for index in range(frames):
        disc = ((xx - size // 4 - index * size // (2 * frames)) ** 2 + (yy - size // 2) ** 2) < (size // 6) ** 2
        frame = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 96)], -1).astype(np.uint8)
        frame[disc] = (250, 220, 40)
        Image.fromarray(frame).save(source / f"frame_{index:05d}.png")
    return models.base, models.motion_adapter, controlnet, source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Our preprocessed-frame cache lives here, so every run of ours finds it warm, as a
        # second job on the same control video does.
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT),
                   ANIMATEDIFF_STUDIO_CACHE_DIR=str(tmp / "cache"))
        base, adapter, controlnet, source = make_inputs(tmp, args.frames, args.size)
        script = tmp / "plain.py"
        script.write_text(PLAIN_SCRIPT)
        plain = [sys.executable, str(script), str(base), str(adapter), str(controlnet), str(source),
                 str(tmp / "plain"), str(args.size), str(args.steps), args.device, args.dtype]
        ours = [sys.executable, str(ROOT / "main.py"), "generate", "--prompt", "a dancer on a beach",
                "--negative-prompt", "bad quality, worse quality", "--base-model", str(base),
                "--motion-adapter", str(adapter), "--output", str(tmp / "ours"),
                "--control", f"model={controlnet},source={source},preprocess=canny",
                "--width", str(args.size), "--height", str(args.size), "--steps", str(args.steps),
                "--seed", "42", "--no-vae-slicing", "--device", args.device, "--dtype", args.dtype,
                "--quiet"]
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
            print(f"run {run + 1}: plain diffusers {t_plain:.3f} s, ours {t_ours:.3f} s, "
                  f"ratio {t_ours / t_plain:.3f}")
        if args.device == "cpu" and args.dtype == "float32":
            import numpy as np
            from PIL import Image

            same = all(
                np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
                for a, b in zip(sorted((tmp / "plain").iterdir()), sorted((tmp / "ours").iterdir()),
                                strict=True)
            )
            print(f"frames byte-identical to the plain script: {same}")
        median = statistics.median(ratios)
        print(f"median plain {statistics.median(plain_times):.3f} s, "
              f"median ours {statistics.median(our_times):.3f} s")
        print(f"median ratio ours/plain: {median:.3f} (goal <= 1.05): "
              f"{'PASS' if median <= 1.05 else 'FAIL'}")
        return 0 if median <= 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())
