"""Long clips in bounded memory: peak memory for 16, 32, 64 (and 128) frames, ours against plain.

Builds Stable Diffusion 1.5-architecture models with random weights (benchmarks/full_size.py's,
nothing downloaded), then runs each clip length in its own process, one step, alternating our
engine (`generate`, with its memory plan: long clips get context windows and split inference)
and a plain diffusers script (the documentation's long-video recipe: FreeNoise context windows
of 16 frames, stride 4, once the clip is longer than the motion module's 32 frames; VAE slicing
as our default has it).

On the CPU it prints each run's whole-process peak RSS (loading included) and the peak while
generating (counted again from the pipeline call, after loading); with --device cuda, peak VRAM
(torch.cuda.max_memory_allocated) in float16. The goal: ours at 64 frames within 1 GiB of ours
at 16 frames, whole process.

    nice python benchmarks/long_clip_memory.py                 # CPU: 128 and 256 px, 16/32/64
    python benchmarks/long_clip_memory.py --device cuda        # 512 px, 16/32/64/128 frames
    options: --models DIR (reuse built models) --sizes 128,256 --frames 16,32,64 --who ours,plain
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from full_size import build_models, peak_memory, reset_peak  # noqa: E402

PROMPT, NEGATIVE, SEED = "a sunset over the sea, fishing boats", "bad quality, worse quality", 42
MOTION_LENGTH = 32  # animatediff-motion-adapter-v1-5-2's motion_max_seq_length
GIB = 2**30


def run_plain(cfg: dict, record: dict) -> None:
    import torch
    from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter

    root, device = Path(cfg["models"]), cfg["device"]
    dtype = torch.float16 if device == "cuda" else torch.float32
    began = time.perf_counter()
    adapter = MotionAdapter.from_pretrained(root / "motion-adapter", dtype=dtype)
    pipe = AnimateDiffPipeline.from_pretrained(root / "base", motion_adapter=adapter, dtype=dtype)
    pipe.scheduler = DDIMScheduler.from_pretrained(
        root / "base", subfolder="scheduler", clip_sample=False, timestep_spacing="linspace",
        beta_schedule="linear", steps_offset=1)
    if cfg["frames"] > MOTION_LENGTH:
        pipe.enable_free_noise(context_length=16, context_stride=4)
    pipe.vae.enable_slicing()
    pipe.set_progress_bar_config(disable=True)
    if device == "cuda":
        pipe.to(device)
    record["load_s"] = time.perf_counter() - began
    reset_peak(device, record)
    pipe(prompt=PROMPT, negative_prompt=NEGATIVE, num_frames=cfg["frames"], width=cfg["size"],
         height=cfg["size"], num_inference_steps=cfg["steps"], output_type="np",
         generator=torch.Generator("cpu").manual_seed(SEED))


def run_ours(cfg: dict, record: dict) -> None:
    from backend.core.request import GenerationRequest, ModelSpec
    from backend.engine.generation import generate
    from backend.models.loading import PipelineCache

    root = Path(cfg["models"])
    request = GenerationRequest(
        prompt=PROMPT, negative_prompt=NEGATIVE, frames=cfg["frames"], width=cfg["size"],
        height=cfg["size"], steps=cfg["steps"], seed=SEED,
        model=ModelSpec(base_model=str(root / "base"), motion_adapter=str(root / "motion-adapter"),
                        device=cfg["device"],
                        dtype="float16" if cfg["device"] == "cuda" else "float32"))
    cache = PipelineCache()
    began = time.perf_counter()
    cache.pipeline(request.model, request.mode)  # load first, as the plain script does
    record["load_s"] = time.perf_counter() - began
    messages: list[str] = []

    def on_progress(progress) -> None:
        if progress.message:
            messages.append(progress.message)

    reset_peak(cfg["device"], record)
    generate(request, on_progress=on_progress, cache=cache)
    record["plan"] = " | ".join(messages)


def child(cfg: dict) -> None:
    if cfg["who"] == "ours":
        import backend  # noqa: F401 - before torch, as in the program
    import torch

    if cfg["device"] == "cuda":
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    record: dict = {}
    (run_plain if cfg["who"] == "plain" else run_ours)(cfg, record)
    run_peak = peak_memory(cfg["device"])
    print(json.dumps({"peak": max(run_peak, record["load_peak"]), "run_peak": run_peak,
                      "load_peak": record["load_peak"], "plan": record.get("plan", ""),
                      "load_s": record["load_s"],
                      "wall": time.perf_counter() - began}))


def measure(cfg: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:100]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--models", help="folder for the built models (reused when complete)")
    parser.add_argument("--sizes", help="comma list; CPU default 128,256, CUDA 512")
    parser.add_argument("--frames", help="comma list; CPU default 16,32,64, CUDA 16,32,64,128")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--who", default="ours,plain")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0
    cuda = args.device == "cuda"
    sizes = [int(x) for x in (args.sizes or ("512" if cuda else "128,256")).split(",")]
    frame_counts = [int(x) for x in (args.frames or ("16,32,64,128" if cuda else "16,32,64")).split(",")]
    who = args.who.split(",")
    models = Path(args.models) if args.models else Path(tempfile.mkdtemp(prefix="long-clip-"))
    if not (models / "complete").exists():
        print(f"building SD1.5-size random models in {models} ...", flush=True)
        build_models(models)
    unit = "peak VRAM" if cuda else "whole-process peak RSS / peak while generating"
    print(f"\n{args.device}, {args.steps} step(s); {unit}, GiB")
    results: dict[tuple, dict] = {}
    for size in sizes:
        for frames in frame_counts:
            for name in who:
                cfg = {"who": name, "models": str(models), "device": args.device, "size": size,
                       "frames": frames, "steps": args.steps}
                result = results[(size, frames, name)] = measure(cfg)
                if "error" in result:
                    figure = f"failed: {result['error']}"
                elif cuda:
                    figure = f"{result['peak'] / GIB:.2f}"
                else:
                    figure = (f"{result['peak'] / GIB:.2f} / {result['run_peak'] / GIB:.2f}"
                              f"  (loading {result['load_peak'] / GIB:.2f} GiB, "
                              f"{result['load_s']:.1f} s)")
                plan = f"  [{result['plan']}]" if result.get("plan") else ""
                print(f"{size:>4}px {frames:>4} frames  {name:<5} {figure}{plan}", flush=True)
        ours = [results.get((size, f, "ours"), {}) for f in frame_counts]
        if "ours" in who and all("peak" in r for r in ours) and len(ours) > 1:
            growth = (ours[-1]["peak"] - ours[0]["peak"]) / GIB
            verdict = "goal met" if growth <= 1.0 else "goal missed"
            print(f"{size:>4}px ours: {frame_counts[-1]} frames minus {frame_counts[0]} frames "
                  f"= {growth:+.2f} GiB whole process ({verdict}: within 1 GiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
