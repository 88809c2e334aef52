"""The Wan section of the GPU check: a Wan2.1-1.3B-size model with random weights (UMT5-XXL-
size text encoder included), built in GPU memory in bfloat16 (nothing downloaded, nothing
written to disk).

Lines:
- seconds per denoising step through our family's code (place, configure, call arguments)
  against the plain WanPipeline on the same parts, and their ratio (goal <= 1.05);
- the peak video memory at 832x480, 33 frames, under an 8 GiB cap
  (`torch.cuda.set_per_process_memory_fraction`) with Wan's memory savers taken in the family's
  order until the job fits (fp8, which changes the frames, is not tried).

With `tiny` (the smoke test on the CPU) the parts are the tiny demo Wan model's, the size is
64x64 and 9 frames, the speed limit is loose (shared CPUs), and every saver but fp8 is run
once instead of the capped search (on the CPU only VAE tiling changes anything).

    python benchmarks/wan_gpu_section.py [--steps 4]      # on its own, on a CUDA GPU
    benchmarks/gpu_check.py runs it as its "wan" lines.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GIB = 2**30
CAP_BYTES = 8 * GIB
RATIO_LIMIT = 1.05
SMOKE_RATIO_LIMIT = 1.5
FP8 = "fp8_layerwise"


def build_parts(dtype, device: str, tiny: bool) -> dict:
    """Wan2.1-T2V-1.3B's shapes: transformer 30 layers, 12 heads of 128, FFN 8960; UMT5-XXL's
    encoder (24 layers, d_model 4096, 64 heads, FFN 10240); the Wan 2.1 VAE. Drawn on `device`
    (random initialisation of 7B weights is minutes on a CPU, seconds on a GPU), then moved to
    the CPU, where a pipeline's placement starts from."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from backend.models.wan_demo_model import demo_parts, demo_tokenizer

    if tiny:
        return demo_parts("2.1")
    torch.manual_seed(0)
    with torch.device(device):
        transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128,
            in_channels=16, out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960,
            num_layers=30, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        ).to(dtype)
        text_encoder = UMT5EncoderModel(UMT5Config(
            vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
            feed_forward_proj="gated-gelu", is_encoder_decoder=False)).to(dtype)
        vae = AutoencoderKLWan().to(torch.float32)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        num_train_timesteps=1000, flow_shift=3.0)
    parts = dict(tokenizer=demo_tokenizer(), text_encoder=text_encoder, transformer=transformer,
                 vae=vae, scheduler=scheduler)
    to_cpu(parts)
    return parts


def to_cpu(parts: dict) -> None:
    import torch

    for part in parts.values():
        if isinstance(part, torch.nn.Module):
            part.to("cpu")
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def seconds_per_step(pipe, arguments: dict, steps: int, cuda: bool) -> list[float]:
    import torch

    times = []

    def tick(pipe, index, timestep, kwargs):
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter())
        return {}

    pipe(**arguments, num_inference_steps=steps, callback_on_step_end=tick)
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def print_row(name: str, text: str, ok: bool) -> None:
    """One line of the check's table (gpu_check.py prints its own lines with it too)."""
    print(f"  {'ok  ' if ok else 'FAIL'} {name:<28} {text}", flush=True)


def run(device: str = "cuda", tiny: bool = False, steps: int = 4,
        row: Callable[[str, str, bool], None] = print_row) -> dict[str, float]:
    """The Wan lines, reported through `row(name, text, passed)`; returns the figures."""
    import torch
    from diffusers import WanPipeline

    from backend.core.request import GenerationRequest
    from backend.families.base import ModelConfigs
    from backend.families.registry import family_named

    cuda = device == "cuda"
    if cuda and not torch.cuda.is_available():
        row("wan", "no CUDA GPU here", False)
        return {}
    family = family_named("wan")
    dtype = torch.bfloat16 if cuda else torch.float32
    width, height, frames = (64, 64, 9) if tiny else (832, 480, 33)
    request = GenerationRequest(prompt="a red fox in the snow", negative_prompt="blurry",
                                frames=frames, width=width, height=height, steps=steps,
                                guidance=5.0, seed=1, scheduler="model_default")
    figures: dict[str, float] = {}

    # Speed: plain WanPipeline against the family's path, the same parts on the device, taken
    # in turns after a warm-up so that neither gets the other's warm caches only.
    parts = build_parts(dtype, device, tiny)
    plain = WanPipeline(**parts)
    plain.set_progress_bar_config(disable=True)
    plain.to(device)
    plain_arguments = dict(prompt=request.prompt, negative_prompt=request.negative_prompt,
                           height=height, width=width, num_frames=frames, guidance_scale=5.0,
                           generator=torch.Generator("cpu").manual_seed(1), output_type="latent")
    ours = WanPipeline(**parts)
    ours.set_progress_bar_config(disable=True)
    family.place(ours, device, frozenset())
    # As the cache keeps it after loading a folder (a config built in memory lacks the name).
    scheduler_config = {**plain.scheduler.config, "_class_name": type(plain.scheduler).__name__}
    family.configure(ours, request, ModelConfigs(""), (), scheduler_config)
    ours_arguments = family.call_arguments(request, "text2video")
    ours_arguments.pop("num_inference_steps")
    ours_arguments["output_type"] = "latent"
    seconds_per_step(plain, plain_arguments, 2, cuda)  # warm-up
    plain_steps: list[float] = []
    ours_steps: list[float] = []
    for _ in range(2):
        plain_steps += seconds_per_step(plain, plain_arguments, steps, cuda)
        ours_steps += seconds_per_step(ours, ours_arguments, steps, cuda)
    plain_step, ours_step = statistics.median(plain_steps), statistics.median(ours_steps)
    ratio = ours_step / plain_step
    figures.update(plain_step=plain_step, ours_step=ours_step, ratio=ratio)
    row("wan s/step", f"ours {ours_step:.3f}  plain {plain_step:.3f}  x{ratio:.3f} "
        f"({width}x{height}x{frames})", ratio <= (SMOKE_RATIO_LIMIT if tiny else RATIO_LIMIT))
    del plain, ours, parts
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()

    if tiny:  # every saver once: the code each one runs, not a memory figure
        for saver in family.memory_savers:
            if saver.name == FP8:
                continue
            peak, error = wan_job(family, request, device, tiny, frozenset({saver.name}))
            row(f"wan plan {saver.name}", error or "completes, frames finite", error is None)
        return figures

    # Memory: under an 8 GiB cap, the family's savers in order until the whole job runs. Each
    # try starts from freshly built parts, so no offloading hook of an earlier try is left.
    active: set[str] = set()
    result = "out of memory with every saver but fp8"
    fits = False
    for saver in (None, *family.memory_savers):
        if saver is not None:
            if saver.name == FP8:  # 8-bit weights change the frames: not part of this check
                break
            active.add(saver.name)
        peak, error = wan_job(family, request, device, tiny, frozenset(active))
        names = ", ".join(sorted(active)) or "no savers"
        if error is None:
            figures["peak_gib"] = peak / GIB
            fits = peak <= CAP_BYTES
            result = f"peak {peak / GIB:.2f} GiB with {names}"
            break
        print(f"    wan memory: {error} with {names}", flush=True)
    row("wan peak under 8 GiB", f"{result} ({width}x{height}x{frames})", fits)
    return figures


def wan_job(family, request, device: str, tiny: bool, active: frozenset[str]):
    """One whole job (prompt, denoising, decode) with the savers in `active`, on freshly built
    parts; under CUDA, the 8 GiB cap. (peak bytes, None) or (None, what went wrong)."""
    import numpy as np
    import torch
    from diffusers import WanPipeline

    cuda = device == "cuda"
    parts = build_parts(torch.bfloat16 if cuda else torch.float32, device, tiny)
    pipe = WanPipeline(**parts)
    pipe.set_progress_bar_config(disable=True)
    if cuda:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(CAP_BYTES / total)
        torch.cuda.reset_peak_memory_stats()
    try:
        family.place(pipe, device, active)
        arguments = family.call_arguments(request, "text2video")
        if "text_encoder_cpu" in active:
            del arguments["prompt"], arguments["negative_prompt"]
            arguments.update(family.encode_prompt(pipe, request, device))
        frames = pipe(**arguments).frames
        if not np.isfinite(np.asarray(frames)).all():
            return None, "frames not finite"
        peak = torch.cuda.max_memory_allocated() if cuda else 0
        return peak, None
    except torch.OutOfMemoryError:
        return None, "out of memory"
    finally:
        if cuda:
            torch.cuda.set_per_process_memory_fraction(1.0)
        del pipe, parts
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--tiny", action="store_true", help="the tiny demo Wan model: a smoke test")
    args = parser.parse_args()
    rows: list[bool] = []

    def row(name: str, text: str, ok: bool) -> None:
        rows.append(ok)
        print_row(name, text, ok)

    run(args.device, args.tiny, args.steps, row)
    return 0 if rows and all(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
