"""Out of memory and non-finite values, with real failures inside the real pipeline: a forward
hook raises torch.OutOfMemoryError in the middle of a UNet call, or writes NaN into an output."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import psutil
import pytest
import torch

from backend.core.errors import GenerationError, InputError, OutOfMemoryError
from backend.engine.generation import generate
from backend.models.loading import PipelineCache
from tests.backend.test_memory_plan import request_for


def raise_out_of_memory(times: int, seen: dict):
    """A forward hook that raises a real torch.OutOfMemoryError the first `times` calls, noting
    the process's RSS at that moment."""
    calls = {"n": 0}

    def hook(module, args, output):
        calls["n"] += 1
        if calls["n"] <= times:
            seen["rss_at_failure"] = psutil.Process().memory_info().rss
            raise torch.OutOfMemoryError("CPU out of memory (raised by the test's hook)")

    return hook


def test_out_of_memory_retries_once_with_the_next_saver(demo_models):
    cache = PipelineCache()
    request = request_for(demo_models)
    pipe = cache.pipeline(request.model, request.mode)
    pipe.unet.mid_block.register_forward_hook(raise_out_of_memory(1, {}))
    del pipe
    messages = []
    result = generate(request, cache=cache, free_memory=64 * 2**30,
                      on_progress=lambda p: messages.append(p.message) if p.message else None)
    assert any("out of memory" in m and "retrying once with chunked decoding" in m
               for m in messages), messages
    direct = generate(request, cache=PipelineCache(), savers=frozenset({"chunked_decode"}))
    assert np.array_equal(result.frames, direct.frames)


def test_out_of_memory_frees_the_models_and_the_next_job_works(demo_models):
    cache = PipelineCache()
    # Big enough activations that freeing them shows in the RSS.
    request = request_for(demo_models, frames=24, width=256, height=256,
                          model={"memory": "off"})
    pipe = cache.pipeline(request.model, request.mode)
    seen: dict = {}
    pipe.unet.mid_block.register_forward_hook(raise_out_of_memory(1, seen))
    unet = weakref.ref(pipe.unet)
    del pipe
    with pytest.raises(OutOfMemoryError) as failure:
        generate(request, cache=cache)
    message = str(failure.value)
    assert message.startswith("out of memory") and "freed" in message and "lower" in message
    assert failure.value.__cause__ is None and failure.value.__context__ is None
    failure = None
    gc.collect()
    assert unet() is None, "the failed pipeline's UNet is still alive"
    after = psutil.Process().memory_info().rss
    assert after < seen["rss_at_failure"] - 50 * 2**20, (seen["rss_at_failure"], after)
    again = generate(request_for(demo_models), cache=cache)
    assert again.frames.shape == (8, 64, 64, 3)


def test_nan_in_the_latents_is_named(demo_models):
    cache = PipelineCache()
    request = request_for(demo_models)
    pipe = cache.pipeline(request.model, request.mode)

    def poison(module, args, output):
        output[0].fill_(float("nan"))

    handle = pipe.unet.register_forward_hook(poison)
    try:
        with pytest.raises(GenerationError, match=r"latents became NaN.*step 1 of 2.*--dtype"):
            generate(request, cache=cache)
    finally:
        handle.remove()


def test_nan_in_the_decoded_frames_is_named(demo_models):
    cache = PipelineCache()
    request = request_for(demo_models)
    pipe = cache.pipeline(request.model, request.mode)

    def poison(module, args, output):
        output.fill_(float("inf"))

    handle = pipe.vae.decoder.register_forward_hook(poison)
    try:
        with pytest.raises(GenerationError, match=r"decoded frames.*--vae-dtype float32"):
            generate(request, cache=cache)
    finally:
        handle.remove()
    assert generate(request, cache=cache).frames.any()


def test_float16_on_the_cpu_is_refused(demo_models):
    request = request_for(demo_models, model={"dtype": "float16"})
    with pytest.raises(InputError, match="float16 on the CPU"):
        generate(request, cache=PipelineCache())


def test_vae_in_float32_under_a_bfloat16_model(demo_models):
    """--vae-dtype float32: the VAE runs in float32 while the rest stays bfloat16 (its inputs
    are cast on the way in), and the job finishes."""
    cache = PipelineCache()
    request = request_for(demo_models, model={"dtype": "bfloat16", "vae_dtype": "float32"})
    result = generate(request, cache=cache)
    pipe = cache.pipelines()[0]
    assert pipe.vae.dtype == torch.float32 and pipe.unet.dtype == torch.bfloat16
    assert np.isfinite(result.frames).all() and result.frames.any()


def test_the_cpu_allocator_failing_is_out_of_memory(demo_models):
    """On the CPU, memory runs out as torch's allocator failing (a RuntimeError naming
    DefaultCPUAllocator, as under a memory limit); it is out of memory too, retried with the
    next saver, not a program failure. The hook asks torch for more bytes than exist."""
    cache = PipelineCache()
    request = request_for(demo_models)
    pipe = cache.pipeline(request.model, request.mode)
    calls = {"n": 0}

    def allocate_too_much(module, args, output):
        calls["n"] += 1
        if calls["n"] == 1:
            torch.empty(2**60, dtype=torch.uint8)

    pipe.unet.mid_block.register_forward_hook(allocate_too_much)
    del pipe
    messages = []
    result = generate(request, cache=cache, free_memory=64 * 2**30,
                      on_progress=lambda p: messages.append(p.message) if p.message else None)
    assert any("out of memory" in m and "retrying once" in m for m in messages), messages
    assert result.frames.shape == (8, 64, 64, 3)
