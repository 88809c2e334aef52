"""The memory estimate: its weights part is exactly what loads, its working part scales with
the job and matches what a run adds to the loaded process. (Its total is checked against
measured peaks at full size by benchmarks/full_size.py, which prints estimate/measured.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backend.core.request import GenerationRequest, ModelSpec
from backend.models.memory_estimate import estimate_for, estimate_memory


def request_for(models, **changes) -> GenerationRequest:
    spec = ModelSpec(base_model=str(models.base), motion_adapter=str(models.motion_adapter),
                     device="cpu", dtype="float32")
    return GenerationRequest(prompt="x", model=spec, **changes)


def test_weights_are_what_the_pipeline_loads(demo_models, cache):
    request = request_for(demo_models, frames=8, width=64, height=64)
    pipe = cache.pipeline(request.model, "text2video")
    loaded = sum(
        p.numel() * p.element_size()
        for module in (pipe.unet, pipe.text_encoder, pipe.vae)
        for p in module.parameters()
    )
    # The pipeline's UNet holds the motion modules; the estimate counts the adapter file too
    # (the same tensors, so the sums match), plus buffers such as positional encodings.
    buffers = sum(b.numel() * b.element_size() for b in pipe.unet.buffers())
    estimate = estimate_for(request)
    assert estimate.weights == loaded + buffers
    assert estimate.peak > estimate.weights


def test_working_memory_scales_with_the_job(demo_models):
    small = estimate_memory(request_for(demo_models, frames=8), "cuda", 2)
    double = estimate_memory(request_for(demo_models, frames=16), "cuda", 2)
    no_cfg = estimate_memory(request_for(demo_models, frames=8, guidance=1.0), "cuda", 2)
    assert double.activations == 2 * small.activations
    assert no_cfg.activations * 2 == small.activations
    hub = estimate_memory(GenerationRequest(prompt="x"), "cuda", 2)
    assert hub.peak is None and "plus the model weights" in hub.describe()


# Run in a process of its own: in a long test session earlier jobs leave freed heap resident
# (the CPU path raises glibc's trim threshold), and a run then grows the process by less than
# it uses.
PROBE = r"""
import dataclasses, gc, json, sys
from backend.engine.generation import generate
from backend.models.memory_estimate import estimate_memory
from backend.models.loading import PipelineCache
from backend.core.request import GenerationRequest, ModelSpec

def resident(field):
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

base, adapter, changes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
slicing = changes.pop("vae_slicing", True)
spec = ModelSpec(base_model=base, motion_adapter=adapter, device="cpu", dtype="float32",
                 vae_slicing=slicing)
request = GenerationRequest(prompt="x", model=spec, steps=1, seed=1, **changes)
cache = PipelineCache()
generate(request.replace(width=64, height=64, frames=2), cache=cache)  # load, warm up
gc.collect()
before = resident("VmRSS")
with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
    refs.write("5")  # restart the peak (VmHWM) from the current resident size
generate(request, cache=cache)
estimate = estimate_memory(request, "cpu", 4)
print(json.dumps([resident("VmHWM") - before, max(estimate.activations, estimate.decode)]))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    "changes",
    [
        dict(width=256, height=256, frames=16),  # the UNet's activations, with guidance
        dict(width=384, height=384, frames=16),
    ],
    ids=["unet-256", "unet-384"],
)
def test_working_memory_matches_the_measured_peak(demo_models, changes):
    """What a run adds to the resident memory of the loaded process, against the estimate's
    working part (the demo model's narrower layers are scaled from its config.json). The VAE's
    decode term is checked on SD1.5's real VAE widths below: on the demo model its measured
    growth ranged from 0.5x to 1.6x the estimate between runs, too unsteady to test here."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(demo_models.base), str(demo_models.motion_adapter),
         json.dumps(changes)],
        cwd=root, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    measured, working = json.loads(done.stdout.strip().splitlines()[-1])
    # Resident growth varies with the allocator's state and the installed libraries: at 256x256
    # it measured 0.75-1.0x the estimate at earlier stops, 0.64-0.73x (198-225 MB against 145)
    # with this stop's fresh install, on the old code as on the new. A wrong term is off 2x or
    # more, so the bounds stay well inside that.
    assert 0.6 * measured <= working <= 1.5 * measured, (working / 2**20, measured / 2**20)


VAE_PROBE = r"""
import gc, json, sys
import torch
from diffusers import AutoencoderKL

def resident(field):
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

size = int(sys.argv[1])
torch.manual_seed(0)
# Stable Diffusion 1.5's VAE configuration, random weights.
vae = AutoencoderKL(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
    block_out_channels=(128, 256, 512, 512), sample_size=512,
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
).eval()
with torch.no_grad():
    vae.decode(torch.randn(1, 4, 8, 8))  # warm up
    gc.collect()
    latents = torch.randn(1, 4, size // 8, size // 8)
    before = resident("VmRSS")
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")
    vae.decode(latents)
    print(resident("VmHWM") - before)
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("size", [384, 512])
def test_vae_decode_term_matches_the_measured_peak(size):
    """The estimate's VAE term (VAE_WORK_CHANNELS per output pixel per decoded frame) against
    what decoding one frame adds to the process, on SD1.5's real VAE widths: stable there
    (measured 1.00x at 384 and 0.95x at 512 over repeated runs), unlike on the narrow demo VAE,
    where the allocator's noise is as large as the term."""
    from backend.models.memory_estimate import VAE_WORK_CHANNELS

    done = subprocess.run([sys.executable, "-c", VAE_PROBE, str(size)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    measured = int(done.stdout.strip().splitlines()[-1])
    term = VAE_WORK_CHANNELS * size * size * 4  # one frame (slicing), float32
    assert 0.8 * measured <= term <= 1.25 * measured, (term / 2**20, measured / 2**20)
