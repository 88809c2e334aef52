"""One prepared GPU check: speed and memory against plain diffusers, each memory plan, recovery
after out of memory, NaN in a float16 VAE, and torch.compile. Prints one table; exits 1 when a
line fails.

    python benchmarks/gpu_check.py                      # one CUDA GPU, within ~8 minutes
    python benchmarks/gpu_check.py --device cpu --tiny  # smoke test of the same lines here

No network: SD1.5-size random weights are built on the spot (benchmarks/full_size.py's; --tiny
uses the demo model). Ours and a plain diffusers script run in the same process, one after the
other, each loading its own models and freeing them before the next.

Lines (CUDA: float16, 512x512, 16 frames; --tiny: float32, 64x64, 8 frames, fewer steps):
- standard (DDIM, 25 steps, guidance 7.5) and Lightning-style (Euler trailing, 4 steps, no
  CFG): seconds per step (median after the first) and peak VRAM, ours/plain <= 1.05;
- plan <saver>: ours with each memory saver forced on: completes, peak VRAM printed, and no
  higher than with no saver (x1.05);
- out of memory: a job that runs out (CUDA: the allocator capped below what the job needs, with
  --memory off; CPU: torch.OutOfMemoryError raised from a hook inside the UNet), then a normal
  job in the same process: the first fails with our message, the memory comes back, the
  second succeeds;
- fp16 VAE: latents decoded by the VAE in float16 in a plain script (NaN reported), and ours
  (the VAE in float32 when its config asks, force_upcast): ours finite, or our NaN message;
- wan (benchmarks/wan_gpu_section.py): a Wan2.1-1.3B-size model (UMT5-XXL-size text encoder
  included) in bfloat16: seconds per step against plain WanPipeline, ratio <= 1.05, and the
  peak VRAM at 832x480, 33 frames under an 8 GiB cap with Wan's savers taken in order (--tiny:
  the tiny demo Wan model, each saver once);
- torch.compile: ours with --compile-unet against without, seconds per step; passes when it
  runs and the frames are finite.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import backend  # noqa: E402,F401 - before torch, as in the program

PROMPT, NEGATIVE, SEED = "a sunset over the sea, fishing boats", "bad quality, worse quality", 42
RATIO_LIMIT = 1.05
DEADLINE = 7.5 * 60  # seconds; lines not reached by then fail as "not run"
GIB = 2**30
SAVERS = ("chunked_decode", "split_inference", "vae_tiling", "model_offload",
          "sequential_offload")


class Check:
    def __init__(self, device: str, tiny: bool, models: Path) -> None:
        import torch

        self.device, self.tiny, self.models = device, tiny, models
        self.cuda = device == "cuda"
        self.dtype = torch.float16 if self.cuda else torch.float32
        self.size = 64 if tiny else 512
        self.frames = 8 if tiny else 16
        self.steps = {"standard": 3 if tiny else 25, "lightning": 4}
        self.rows: list[tuple[str, str, bool]] = []
        self.started = time.perf_counter()

    # -- measuring ---------------------------------------------------------------------------

    def reset_peak(self) -> None:
        import torch

        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    def peak(self) -> int:
        import torch

        if self.cuda:
            return int(torch.cuda.max_memory_allocated())
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def row(self, name: str, text: str, ok: bool) -> None:
        from wan_gpu_section import print_row

        self.rows.append((name, text, ok))
        print_row(name, text, ok)

    def out_of_time(self, name: str) -> bool:
        if time.perf_counter() - self.started < DEADLINE:
            return False
        self.row(name, "not run: the check's time ran out", False)
        return True

    # -- the two programs --------------------------------------------------------------------

    def plain(self, recipe: str, frames: int | None = None, decode=True):
        """The recipe as a plain diffusers script writes it: (step seconds, peak, frames)."""
        import torch
        from diffusers import (
            AnimateDiffPipeline,
            DDIMScheduler,
            EulerDiscreteScheduler,
            MotionAdapter,
        )

        root = self.models
        adapter = MotionAdapter.from_pretrained(root / "motion-adapter", dtype=self.dtype)
        pipe = AnimateDiffPipeline.from_pretrained(root / "base", motion_adapter=adapter,
                                                   dtype=self.dtype)
        if recipe == "standard":
            pipe.scheduler = DDIMScheduler.from_pretrained(
                root / "base", subfolder="scheduler", clip_sample=False,
                timestep_spacing="linspace", beta_schedule="linear", steps_offset=1)
            guidance = 7.5
        else:
            pipe.scheduler = EulerDiscreteScheduler.from_config(
                pipe.scheduler.config, timestep_spacing="trailing", beta_schedule="linear")
            guidance = 1.0
        pipe.vae.enable_slicing()
        pipe.set_progress_bar_config(disable=True)
        if self.cuda:
            pipe.to("cuda")
        stamps: list[float] = []

        def on_step(pipe, index, timestep, kwargs):
            self.sync()
            stamps.append(time.perf_counter())
            return {}

        self.reset_peak()
        self.sync()
        stamps.append(time.perf_counter())
        output = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, num_frames=frames or self.frames,
                      width=self.size, height=self.size, guidance_scale=guidance,
                      num_inference_steps=self.steps[recipe], output_type="np",
                      generator=torch.Generator("cpu").manual_seed(SEED),
                      callback_on_step_end=on_step)
        peak = self.peak()
        del pipe, adapter
        self.reset_peak()
        return step_seconds(stamps), peak, output.frames[0]

    def request(self, recipe: str, **model):
        from backend.core.request import GenerationRequest, ModelSpec

        spec = ModelSpec(base_model=str(self.models / "base"),
                         motion_adapter=str(self.models / "motion-adapter"),
                         device=self.device, dtype="float16" if self.cuda else "float32", **model)
        lightning = recipe == "lightning"
        return GenerationRequest(
            prompt=PROMPT, negative_prompt=NEGATIVE, frames=self.frames, width=self.size,
            height=self.size, steps=self.steps[recipe], seed=SEED, model=spec,
            scheduler="euler_trailing" if lightning else "ddim",
            guidance=1.0 if lightning else 7.5)

    def ours(self, request, savers=None, cache=None):
        """Our engine: (step seconds, peak, frames); loads first, as the plain script does."""
        from backend.engine.generation import generate
        from backend.models.loading import PipelineCache

        own = cache is None
        cache = cache or PipelineCache()
        cache.pipeline(request.model, request.mode)
        stamps: list[float] = []

        def on_progress(progress) -> None:
            if progress.phase == "denoising":
                self.sync()
                stamps.append(time.perf_counter())

        self.reset_peak()
        self.sync()
        stamps.append(time.perf_counter())
        result = generate(request, on_progress=on_progress, cache=cache, savers=savers)
        peak = self.peak()
        if own:
            cache.unload()
        self.reset_peak()
        return step_seconds(stamps), peak, result.frames

    def sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    # -- the lines ---------------------------------------------------------------------------

    def against_plain(self, recipe: str) -> None:
        if self.out_of_time(recipe):
            return
        plain_step, plain_peak, _ = self.plain(recipe)
        our_step, our_peak, _ = self.ours(self.request(recipe))
        speed, memory = our_step / plain_step, our_peak / plain_peak
        limit = RATIO_LIMIT if self.cuda else 1.5  # shared CPUs: a smoke test, not a figure
        self.row(f"{recipe} s/step", f"ours {our_step:.3f}  plain {plain_step:.3f}  "
                 f"x{speed:.3f}", speed <= limit)
        self.row(f"{recipe} peak memory", f"ours {our_peak / GIB:.2f}  plain "
                 f"{plain_peak / GIB:.2f} GiB  x{memory:.3f}", self.tiny or memory <= RATIO_LIMIT)

    def plans(self) -> None:
        request = self.request("standard").replace(steps=2)
        if self.out_of_time("plan none"):
            return
        _, base_peak, _ = self.ours(request, savers=frozenset())
        self.row("plan none", f"peak {base_peak / GIB:.2f} GiB", True)
        for saver in SAVERS:
            if self.out_of_time(f"plan {saver}"):
                return
            try:
                if saver.endswith("_offload"):  # loaded with its offload, as the plan would
                    offload = saver.removesuffix("_offload")
                    planned = request.replace(model=dataclasses.replace(request.model,
                                                                        offload=offload))
                    _, peak, frames = self.ours(planned, savers=frozenset())
                else:
                    _, peak, frames = self.ours(request, savers=frozenset({saver}))
            except Exception as exc:  # noqa: BLE001 - reported as the line's failure
                self.row(f"plan {saver}", f"failed: {type(exc).__name__}: {exc}"[:90], False)
                continue
            ok = bool(frames.any()) and (self.tiny or peak <= base_peak * RATIO_LIMIT)
            self.row(f"plan {saver}", f"peak {peak / GIB:.2f} GiB", ok)

    def out_of_memory(self) -> None:
        import torch

        from backend.core.errors import OutOfMemoryError
        from backend.engine.generation import generate
        from backend.models.loading import PipelineCache

        if self.out_of_time("out of memory, then a job"):
            return
        cache = PipelineCache()
        request = self.request("standard").replace(steps=2)
        failing = request.replace(model=dataclasses.replace(request.model, memory="off"))
        pipe = cache.pipeline(failing.model, failing.mode)
        weights = torch.cuda.memory_allocated() if self.cuda else 0
        if self.cuda:  # room for the weights and 256 MiB more: the UNet's first layers fail
            total = torch.cuda.get_device_properties(0).total_memory
            torch.cuda.set_per_process_memory_fraction((weights + 2**28) / total)
            hook = None
        else:
            def fail(module, args, output):
                raise torch.OutOfMemoryError("CUDA out of memory (raised by the check)")

            hook = pipe.unet.mid_block.register_forward_hook(fail)
        del pipe
        message = "no failure"
        try:
            generate(failing, cache=cache)
        except OutOfMemoryError as exc:
            message = str(exc)
        finally:
            if self.cuda:
                torch.cuda.set_per_process_memory_fraction(1.0)
            elif hook is not None:
                hook.remove()
        after = torch.cuda.memory_allocated() if self.cuda else 0
        failed_right = message.startswith("out of memory")
        try:
            frames = generate(request, cache=cache).frames
            next_ok = bool(frames.any())
        except Exception as exc:  # noqa: BLE001 - reported as the line's failure
            next_ok, message = False, f"next job failed: {exc}"
        cache.unload()
        freed = f"held {after / GIB:.2f} GiB after (weights were {weights / GIB:.2f})"
        self.row("out of memory, then a job", f"{message[:60]}; {freed}; next job "
                 f"{'ok' if next_ok else 'failed'}",
                 failed_right and next_ok and after < max(weights // 4, 2**26))

    def vae_nan(self) -> None:
        import torch
        from diffusers import AutoencoderKL

        if self.out_of_time("fp16 VAE decode"):
            return
        vae_dtype = torch.float16 if self.cuda else torch.float32
        vae = AutoencoderKL.from_pretrained(self.models / "base", subfolder="vae",
                                            dtype=vae_dtype).to(self.device)
        latents = torch.randn(4, 4, self.size // 8, self.size // 8,
                              generator=torch.Generator("cpu").manual_seed(SEED))
        with torch.no_grad():
            image = vae.decode(latents.to(self.device, vae_dtype) / vae.config.scaling_factor).sample
        plain_nan = not bool(torch.isfinite(image).all())
        del vae, image
        try:
            frames = self.ours(self.request("lightning"))[2]
            ours = "finite" if frames.any() or frames.size else "empty"
            ok = True
        except Exception as exc:  # noqa: BLE001 - our NaN message passes, anything else fails
            ours = str(exc)[:50]
            ok = "not finite" in ours
        self.row("fp16 VAE decode", f"plain {'NaN' if plain_nan else 'finite'}; ours {ours}", ok)

    def wan(self) -> None:
        if self.out_of_time("wan s/step"):
            return
        from wan_gpu_section import run

        try:
            run(self.device, self.tiny, row=self.row)
        except Exception as exc:  # noqa: BLE001 - reported as the line's failure
            self.row("wan", f"failed: {type(exc).__name__}: {exc}"[:90], False)

    def compile(self) -> None:
        if self.out_of_time("torch.compile"):
            return
        request = self.request("lightning")
        plain_step, _, _ = self.ours(request)
        try:
            compiled = request.replace(model=dataclasses.replace(request.model, compile_unet=True))
            step, _, frames = self.ours(compiled)
        except Exception as exc:  # noqa: BLE001 - reported as the line's failure
            self.row("torch.compile", f"failed: {exc}"[:90], False)
            return
        self.row("torch.compile", f"on {step:.3f}  off {plain_step:.3f} s/step  "
                 f"x{step / plain_step:.3f}", bool(frames.size))


def step_seconds(stamps: list[float]) -> float:
    steps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return statistics.median(steps[1:] if len(steps) > 1 else steps)


def build(tiny: bool) -> Path:
    root = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    if tiny:
        from backend.models.demo_model import write_demo_model

        write_demo_model(root)
    else:
        from full_size import build_models

        build_models(root)
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--tiny", action="store_true", help="the demo model: a smoke test")
    parser.add_argument("--models", help="a folder of models built by an earlier run")
    parser.add_argument("--skip", default="", help="comma list of lines to skip (e.g. compile)")
    args = parser.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here; use --device cpu --tiny for the smoke test",
              file=sys.stderr)
        return 2
    from backend.cli.commands import quiet_libraries

    quiet_libraries()
    began = time.perf_counter()
    models = Path(args.models) if args.models else build(args.tiny)
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    print(f"gpu_check on {name}: models ready in {time.perf_counter() - began:.0f} s")
    check = Check(args.device, args.tiny, models)
    skip = set(filter(None, args.skip.split(",")))
    for line, run in (("standard", lambda: check.against_plain("standard")),
                      ("lightning", lambda: check.against_plain("lightning")),
                      ("plans", check.plans), ("oom", check.out_of_memory),
                      ("vae", check.vae_nan), ("wan", check.wan), ("compile", check.compile)):
        if line not in skip:
            run()
    failed = [name for name, _, ok in check.rows if not ok]
    print(f"{len(check.rows) - len(failed)} of {len(check.rows)} lines passed in "
          f"{time.perf_counter() - began:.0f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
