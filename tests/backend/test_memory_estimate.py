"""The memory estimate: its weights part is exactly what loads, its working part scales with
the job. (Its total is checked against measured peaks at full size by
benchmarks/full_size.py, which prints estimate/measured.)"""

from __future__ import annotations

from backend.memory_estimate import estimate_for, estimate_memory
from backend.request import GenerationRequest, ModelSpec


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
