"""The Wan section of the GPU check: a Wan2.1-1.3B-size model with random weights (UMT5-XXL-
size text encoder included), built in GPU memory in bfloat16 (nothing downloaded, nothing
written to disk).

Prints:
- seconds per denoising step through our family's code (place, configure, call arguments)
  against the plain WanPipeline on the same parts, and their ratio (goal <= 1.05);
- the peak video memory at 832x480, 33 frames, under an 8 GiB cap
  (`torch.cuda.set_per_process_memory_fraction`) with Wan's memory savers taken in the family's
  order until the job fits.

Needs a CUDA GPU; run on its own or call `run()` from benchmarks/gpu_check.py.

    python benchmarks/wan_gpu_section.py [--steps 4]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GIB = 2**30
CAP_BYTES = 8 * GIB


def build_parts(dtype):
    """Wan2.1-T2V-1.3B's shapes: transformer 30 layers, 12 heads of 128, FFN 8960; UMT5-XXL's
    encoder (24 layers, d_model 4096, 64 heads, FFN 10240); the Wan 2.1 VAE."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from backend.models.wan_demo_model import demo_tokenizer

    torch.manual_seed(0)
    with torch.device("cpu"):
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
    return dict(tokenizer=demo_tokenizer(), text_encoder=text_encoder, transformer=transformer,
                vae=vae, scheduler=scheduler)


def seconds_per_step(pipe, arguments, steps: int) -> float:
    import torch

    times = []

    def tick(pipe, index, timestep, kwargs):
        torch.cuda.synchronize()
        times.append(time.perf_counter())
        return {}

    pipe(**arguments, num_inference_steps=steps, callback_on_step_end=tick)
    return statistics.median(b - a for a, b in zip(times, times[1:], strict=False))


def run(steps: int = 4) -> dict[str, float]:
    import torch
    from diffusers import WanPipeline

    from backend.core.request import GenerationRequest
    from backend.families.base import ModelConfigs
    from backend.families.registry import family_named

    if not torch.cuda.is_available():
        print("wan section: no CUDA GPU, skipped")
        return {}
    family = family_named("wan")
    parts = build_parts(torch.bfloat16)
    request = GenerationRequest(prompt="a red fox in the snow", negative_prompt="blurry",
                                frames=33, width=832, height=480, steps=steps, guidance=5.0,
                                seed=1, scheduler="model_default")
    figures: dict[str, float] = {}

    # Speed: plain WanPipeline against the family's path, the same parts on the GPU.
    plain = WanPipeline(**parts)
    plain.set_progress_bar_config(disable=True)
    plain.to("cuda")
    plain_arguments = dict(prompt=request.prompt, negative_prompt=request.negative_prompt,
                           height=480, width=832, num_frames=33, guidance_scale=5.0,
                           generator=torch.Generator("cpu").manual_seed(1), output_type="latent")
    seconds_per_step(plain, plain_arguments, 2)  # warm-up
    plain_step = seconds_per_step(plain, plain_arguments, steps)
    ours = WanPipeline(**parts)
    ours.set_progress_bar_config(disable=True)
    family.place(ours, "cuda", frozenset())
    family.configure(ours, request, ModelConfigs(""), (), dict(plain.scheduler.config))
    ours_arguments = family.call_arguments(request, "text2video")
    ours_arguments.pop("num_inference_steps")
    ours_arguments["output_type"] = "latent"
    ours_step = seconds_per_step(ours, ours_arguments, steps)
    figures.update(plain_step=plain_step, ours_step=ours_step, ratio=ours_step / plain_step)
    print(f"wan 1.3B-size step at 832x480x33: ours {ours_step:.3f} s, plain diffusers "
          f"{plain_step:.3f} s, ratio {ours_step / plain_step:.3f} (goal <= 1.05)")
    del plain, ours
    for part in parts.values():
        if isinstance(part, torch.nn.Module):
            part.to("cpu")
    gc.collect()
    torch.cuda.empty_cache()

    # Memory: under an 8 GiB cap, the family's savers in order until the whole job runs.
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(CAP_BYTES / total)
    active: set[str] = set()
    for saver in (None, *family.memory_savers):
        if saver is not None:
            if saver.changes_frames and saver.name == "fp8_layerwise":
                print("wan memory: fp8 would change the frames; not tried")
                break
            active.add(saver.name)
        pipe = WanPipeline(**parts)
        pipe.set_progress_bar_config(disable=True)
        torch.cuda.reset_peak_memory_stats()
        try:
            family.place(pipe, "cuda", frozenset(active))
            arguments = family.call_arguments(request, "text2video")
            if "text_encoder_cpu" in active:
                del arguments["prompt"], arguments["negative_prompt"]
                arguments.update(family.encode_prompt(pipe, request, "cuda"))
            pipe(**arguments)
        except torch.cuda.OutOfMemoryError:
            print(f"wan memory: out of memory with {sorted(active) or 'no savers'}")
            pipe.remove_all_hooks()
            del pipe
            gc.collect()
            torch.cuda.empty_cache()
            continue
        peak = torch.cuda.max_memory_allocated()
        figures["peak_gib"] = peak / GIB
        print(f"wan memory at 832x480x33 under an 8 GiB cap: peak {peak / GIB:.2f} GiB with "
              f"{sorted(active) or 'no savers'}")
        break
    torch.cuda.set_per_process_memory_fraction(1.0)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    run(parser.parse_args().steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
