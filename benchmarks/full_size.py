"""Full-size AnimateDiff against plain diffusers: seconds per step and peak memory.

Builds Stable Diffusion 1.5-architecture models with random weights (the real UNet, text
encoder, VAE and animatediff-motion-adapter-v1-5-2 configurations; a Lightning-style single-file
motion module and an AnimateLCM-style LoRA of the real sizes; the tokenizer is the demo model's
byte vocabulary), nothing downloaded. Then runs, each in its own process and alternating so that
machine load hits both alike: our engine (`backend.engine.generation.generate`) and a plain diffusers script
following the same recipe with the same settings, plus our engine with each speed option.

Each step is timed twice: wall-clock seconds, and the process's own CPU seconds (all its
threads), which other programs loading the machine change far less. Ours/plain ratios are given
for both: of the fastest runs, of the medians, and per round (a round is one ours run next to
one plain run; rounds alternate which goes first). On a shared machine trust the CPU ratio of
the fastest runs, and give several rounds (--runs): load only ever adds time, and it adds CPU
time too when the torch threads wait for each other.

Peak memory is the process's peak RSS on the CPU (loading included; "while generating" counts
from the pipeline call) and torch.cuda.max_memory_allocated on CUDA. The memory estimate
(backend/models/memory_estimate.py) is printed against both.

    python benchmarks/full_size.py                      # CPU: 256x256, 8 frames, 2 steps
    python benchmarks/full_size.py --device cuda        # 512x512, 16 frames, 25 steps, fp16,
                                                        # plus the Lightning and AnimateLCM recipes
    options: --models DIR (reuse built models) --runs N (rounds, default 2) --options
             channels_last,compile,sliced_attention --recipes standard,lightning,animatelcm
             --size --frames --steps
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT, NEGATIVE, SEED = "a sunset over the sea, fishing boats", "bad quality, worse quality", 42
LIGHTNING_FILE = "animatediff_lightning_4step_diffusers.safetensors"
LCM_LORA_FILE = "AnimateLCM_sd15_t2v_lora.safetensors"
RECIPE_STEPS = {"standard": 25, "lightning": 4, "animatelcm": 6}
RECIPE_CFG = {"standard": True, "lightning": False, "animatelcm": True}


# -- building the models ---------------------------------------------------------------------


def build_models(root: Path) -> None:
    """SD1.5-sized random models in the diffusers layouts, written under `root`."""
    import torch
    from diffusers import (
        AnimateDiffPipeline,
        AutoencoderKL,
        MotionAdapter,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from backend.models.demo_model import _write_tokenizer

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        _write_tokenizer(Path(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(tmp)
    # stable-diffusion-v1-5's unet/vae/text_encoder configurations (the rest are defaults).
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, max_position_embeddings=77, vocab_size=49408,
            hidden_act="quick_gelu", projection_dim=768, bos_token_id=0, eos_token_id=1,
            pad_token_id=1,
        )
    )
    scheduler = PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        num_train_timesteps=1000, set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1,
    )
    StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(root / "base", safe_serialization=True)
    del vae, text_encoder
    # guoyww/animatediff-motion-adapter-v1-5-2's configuration is MotionAdapter's default.
    for seed, kind in ((1, "folder"), (2, "lightning")):
        torch.manual_seed(seed)
        adapter = MotionAdapter()
        with torch.no_grad():
            for name, param in adapter.named_parameters():
                if "proj_out" in name:
                    param.normal_(0.0, 0.02)
        if kind == "folder":
            adapter.save_pretrained(root / "motion-adapter", safe_serialization=True)
        else:
            state = {k: v.detach().clone().contiguous() for k, v in adapter.state_dict().items()}
            save_file(state, str(root / LIGHTNING_FILE))
        del adapter
    # An AnimateLCM-sized LoRA (rank 64 on the spatial attention projections), PEFT layout.
    from peft import LoraConfig, get_peft_model_state_dict

    config = LoraConfig(
        r=64, lora_alpha=64, init_lora_weights=False,
        target_modules=r".*attentions.*\.(to_q|to_k|to_v|to_out\.0)",
    )
    unet.add_adapter(config)
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.002)
    AnimateDiffPipeline.save_lora_weights(
        root, unet_lora_layers=get_peft_model_state_dict(unet), weight_name=LCM_LORA_FILE,
        safe_serialization=True,
    )
    (root / "complete").write_text("ok")


# -- one measured run (child process) --------------------------------------------------------


def stamp() -> tuple[float, float, int]:
    """(wall seconds, this process's CPU seconds over all its threads, minor page faults).
    CPU time barely moves when other programs load the machine; wall time does."""
    import resource

    return time.perf_counter(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def peak_memory(device: str) -> int:
    """Peak since the process started, or since the last reset_peak()."""
    if device == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated())
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak(device: str, record: dict) -> None:
    """Note the peak so far (loading) and restart the count, so the run's own peak shows."""
    record["load_peak"] = peak_memory(device)
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
        return
    try:  # Linux: writing 5 to clear_refs resets the peak resident size (VmHWM)
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass


def run_plain(cfg: dict, record: dict) -> list[float]:
    """The recipe as a plain diffusers script writes it; returns the step times."""
    import torch
    from diffusers import (
        AnimateDiffPipeline,
        DDIMScheduler,
        EulerDiscreteScheduler,
        LCMScheduler,
        MotionAdapter,
    )
    from safetensors.torch import load_file

    root, recipe, device = Path(cfg["models"]), cfg["recipe"], cfg["device"]
    dtype = torch.float16 if device == "cuda" else torch.float32
    if recipe == "lightning":
        adapter = MotionAdapter().to(device, dtype)
        adapter.load_state_dict(load_file(str(root / LIGHTNING_FILE), device=device))
    else:
        adapter = MotionAdapter.from_pretrained(root / "motion-adapter", dtype=dtype)
    pipe = AnimateDiffPipeline.from_pretrained(root / "base", motion_adapter=adapter, dtype=dtype)
    if recipe == "standard":
        pipe.scheduler = DDIMScheduler.from_pretrained(
            root / "base", subfolder="scheduler", clip_sample=False,
            timestep_spacing="linspace", beta_schedule="linear", steps_offset=1,
        )
        guidance = 7.5
    elif recipe == "lightning":
        pipe.scheduler = EulerDiscreteScheduler.from_config(
            pipe.scheduler.config, timestep_spacing="trailing", beta_schedule="linear"
        )
        guidance = 1.0
    else:
        pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config, beta_schedule="linear")
        pipe.load_lora_weights(str(root), weight_name=LCM_LORA_FILE, adapter_name="lcm-lora")
        pipe.set_adapters(["lcm-lora"], [0.8])
        guidance = 1.5
    pipe.vae.enable_slicing()
    pipe.set_progress_bar_config(disable=True)
    if device == "cuda":
        pipe.to(device)
    stamps: list[tuple[float, float, int]] = []

    def on_step(pipe, index, timestep, kwargs):
        stamps.append(stamp())
        return {}

    reset_peak(device, record)
    stamps.append(stamp())
    pipe(
        prompt=PROMPT, negative_prompt=NEGATIVE, num_frames=cfg["frames"], width=cfg["size"],
        height=cfg["size"], guidance_scale=guidance, num_inference_steps=cfg["steps"],
        generator=torch.Generator("cpu").manual_seed(SEED), callback_on_step_end=on_step,
    )
    return stamps


def ours_request(cfg: dict):
    from backend.core.presets import apply_preset
    from backend.core.request import GenerationRequest, ImageLora, ModelSpec

    root = Path(cfg["models"])
    options = set(cfg.get("options", ()))
    adapter = str(root / (LIGHTNING_FILE if cfg["recipe"] == "lightning" else "motion-adapter"))
    request = GenerationRequest(
        prompt=PROMPT, negative_prompt=NEGATIVE, frames=cfg["frames"], width=cfg["size"],
        height=cfg["size"], steps=cfg["steps"], seed=SEED,
        model=ModelSpec(
            base_model=str(root / "base"), motion_adapter=adapter, device=cfg["device"],
            dtype="float16" if cfg["device"] == "cuda" else "float32",
            loras=(ImageLora(str(root / LCM_LORA_FILE), 0.8),)
            if cfg["recipe"] == "animatelcm" else (),
            channels_last="channels_last" in options, compile_unet="compile" in options,
        ),
    )
    return apply_preset(request, cfg["recipe"], {"model.motion_adapter", "model.loras", "steps"})


def run_ours(cfg: dict, record: dict) -> list[float]:
    from backend.engine.generation import generate
    from backend.models.loading import PipelineCache

    request = ours_request(cfg)
    cache = PipelineCache()
    pipe = cache.pipeline(request.model, request.mode)  # load first, as the plain script does
    if "sliced_attention" in cfg.get("options", ()):
        # What enable_attention_slicing would do if UNetMotionModel supported it.
        from diffusers.models.attention_processor import SlicedAttnProcessor

        pipe.unet.set_attn_processor(SlicedAttnProcessor(1))
    reset_peak(cfg["device"], record)
    stamps = [stamp()]

    def on_progress(progress) -> None:
        # Called from our step callback, where the plain script's own callback takes its stamp.
        if progress.phase == "denoising":
            stamps.append(stamp())

    generate(request, on_progress=on_progress, cache=cache)
    return stamps


def child(cfg: dict) -> None:
    if cfg["who"] == "ours":
        import backend  # noqa: F401 - before torch, as in the program (it sets torch's allocator)
    import torch

    torch.manual_seed(0)
    if cfg["device"] == "cuda":
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    record: dict = {}
    stamps = run_plain(cfg, record) if cfg["who"] == "plain" else run_ours(cfg, record)
    pairs = list(zip(stamps, stamps[1:], strict=False))
    run_peak = peak_memory(cfg["device"])
    print(json.dumps({"steps": [b[0] - a[0] for a, b in pairs],
                      "cpu_steps": [b[1] - a[1] for a, b in pairs],
                      "faults": [b[2] - a[2] for a, b in pairs],
                      "threads": torch.get_num_threads(),
                      "huge_pages": os.environ.get("THP_MEM_ALLOC_ENABLE", "0") == "1",
                      "peak": max(run_peak, record["load_peak"]),
                      "run_peak": run_peak, "load_peak": record["load_peak"],
                      "wall": time.perf_counter() - began}))


# -- the driver ------------------------------------------------------------------------------


def measure(cfg: dict, env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(cfg)], env=env, capture_output=True,
        text=True, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{cfg['who']} {cfg['recipe']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def steady(result: dict, key: str = "steps") -> float:
    """Seconds per step: later steps only when there are several (the first also warms up)."""
    steps = result[key]
    return statistics.median(steps[1:] if len(steps) > 1 else steps)


def ratio_text(runs: list[dict], plain_runs: list[dict], key: str) -> str:
    """ours/plain of the fastest runs (other programs only ever add time, so the fastest of
    several is the least disturbed), of the medians, and per round (a run against the plain
    run measured right next to it)."""
    mine, theirs = [steady(r, key) for r in runs], [steady(r, key) for r in plain_runs]
    paired = [a / b for a, b in zip(mine, theirs, strict=False)]
    return (f"x{min(mine) / min(theirs):.3f} fastest, x{statistics.median(mine) / statistics.median(theirs):.3f}"
            f" median (per round {', '.join(f'{x:.3f}' for x in paired)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--models", help="folder for the built models (reused when complete)")
    parser.add_argument("--size", type=int)
    parser.add_argument("--frames", type=int)
    parser.add_argument("--steps", type=int, help="CPU default 2; CUDA default: each recipe's own")
    parser.add_argument("--runs", type=int, default=2,
                        help="rounds of ours and plain per recipe, alternating which goes first")
    parser.add_argument("--recipes", help="comma list; CPU default standard,lightning")
    parser.add_argument("--options", default="channels_last,sliced_attention",
                        help="speed options measured on the standard recipe (add compile)")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0

    cuda = args.device == "cuda"
    size = args.size or (512 if cuda else 256)
    frames = args.frames or (16 if cuda else 8)
    recipes = (args.recipes or ("standard,lightning,animatelcm" if cuda else "standard,lightning")).split(",")
    options = [o for o in args.options.split(",") if o]
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT),
               TRANSFORMERS_VERBOSITY="error", DIFFUSERS_VERBOSITY="error")
    models = Path(args.models) if args.models else Path(tempfile.mkdtemp(prefix="full-size-"))
    if not (models / "complete").exists():
        started = time.perf_counter()
        models.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                        f"from benchmarks.full_size import build_models; from pathlib import Path; "
                        f"build_models(Path({str(models)!r}))"], env=env, check=True)
        print(f"built SD1.5-size random models in {models} ({time.perf_counter() - started:.0f} s)")
    print(f"device {args.device}, {size}x{size}, {frames} frames, "
          f"{'fp16' if cuda else 'fp32'}, VAE slicing on in both; load average "
          f"{os.getloadavg()[0]:.1f} at start on {os.cpu_count()} CPUs")

    from backend.models.memory_estimate import estimate_memory

    gib = 2**30
    per_step: dict[str, float] = {}
    rows = []
    for recipe in recipes:
        steps = args.steps or (RECIPE_STEPS[recipe] if cuda else 2)
        base = {"models": str(models), "recipe": recipe, "device": args.device, "size": size,
                "frames": frames, "steps": steps}
        variants = [("plain", ()), ("ours", ())]
        if recipe == "standard":
            variants += [("ours", (option,)) for option in options]
        results: dict[str, list[dict]] = {}
        for run in range(args.runs):
            # Rounds alternate which of ours and plain goes first, so an order effect (page
            # cache, load drift) cancels; options run once, in the first round.
            pair = variants[:2] if run % 2 == 0 else variants[1::-1]
            for who, opts in pair + (variants[2:] if run == 0 else []):
                label = who + "".join(f"+{o}" for o in opts)
                result = measure({**base, "who": who, "options": opts}, env)
                results.setdefault(label, []).append(result)
                print(f"  [{recipe} round {run + 1}] {label}: wall s/step "
                      f"{', '.join(f'{x:.2f}' for x in result['steps'])}; CPU s/step "
                      f"{', '.join(f'{x:.2f}' for x in result['cpu_steps'])}; load average "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
        estimate = estimate_memory(ours_request({**base, "who": "ours"}), args.device,
                                   2 if cuda else 4)
        plain = results["plain"]
        plain_peak = statistics.median(r["peak"] for r in plain)
        plain_run_peak = statistics.median(r["run_peak"] for r in plain)
        per_step[recipe] = statistics.median(steady(r, "cpu_steps") for r in results["ours"])
        print(f"\n{recipe}: {steps} steps, guidance {'on' if RECIPE_CFG[recipe] else 'off'}, "
              f"{args.runs} round(s); {estimate.describe()}")
        for label, runs in results.items():
            step = statistics.median(steady(r) for r in runs)
            cpu = statistics.median(steady(r, "cpu_steps") for r in runs)
            peak = statistics.median(r["peak"] for r in runs)
            run_peak = statistics.median(r["run_peak"] for r in runs)
            first = statistics.median(r["steps"][0] for r in runs)
            print(f"  {label:22s} wall {step:7.2f} s/step  CPU {cpu:7.2f} s/step  (first step "
                  f"{first:6.1f} s)  peak {peak / gib:5.2f} GiB, while generating "
                  f"{run_peak / gib:5.2f} GiB  ({runs[0]['threads']} threads"
                  f"{', huge pages' if runs[0].get('huge_pages') else ''}; page faults/step "
                  f"{statistics.median(steady(r, 'faults') for r in runs) / 1e6:.2f} M)")
            if label != "plain":
                print(f"  {'':22s} ours/plain: wall {ratio_text(runs, plain, 'steps')}  "
                      f"CPU {ratio_text(runs, plain, 'cpu_steps')}  "
                      f"memory x{peak / plain_peak:.3f} (generating x{run_peak / plain_run_peak:.3f})")
            if label == "ours" and estimate.peak:
                print(f"  {'':22s} estimate/measured: while generating "
                      f"{estimate.generating / run_peak:.2f}, whole run {estimate.peak / peak:.2f}")
            if "compile" in label:
                ours_first = statistics.median(r["steps"][0] for r in results["ours"])
                print(f"  {'':22s} compile time ~{first - ours_first:.0f} s (first step minus "
                      "ours' first step)")
            rows.append({"recipe": recipe, "variant": label, "s_per_step": step,
                         "cpu_s_per_step": cpu, "peak": peak, "run_peak": run_peak,
                         "first_step": first, "runs": runs})
    if "standard" in per_step and "lightning" in per_step:
        standard_unet = per_step["standard"] * RECIPE_STEPS["standard"]
        lightning_unet = per_step["lightning"] * RECIPE_STEPS["lightning"]
        print(f"\nLightning 4 steps / standard 25 steps (UNet CPU time, from per-step times): "
              f"{lightning_unet / standard_unet:.3f} (goal <= 0.125)")
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    print("JSON " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
