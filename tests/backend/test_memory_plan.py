"""The memory plan: its choices for a given free memory (fed in), and each saver's frames
against diffusers with the same saver on."""

from __future__ import annotations

import numpy as np
import pytest

from backend.core.request import GenerationRequest, ModelSpec
from backend.engine.generation import generate
from backend.engine.memory import context_window, plan_memory
from backend.models.memory_estimate import estimate_memory
from backend.models.memory_plan import GIB, choose_plan
from backend.models.memory_savers import feed_forward_chunk
from tests.backend import reference


def request_for(models, **changes) -> GenerationRequest:
    spec = dict(base_model=str(models.base), motion_adapter=str(models.motion_adapter),
                device="cpu", dtype="float32", vae_slicing=False)
    spec.update(changes.pop("model", {}))
    values = dict(prompt="a red fox", frames=8, width=64, height=64, steps=2, seed=3,
                  model=ModelSpec(**spec))
    values.update(changes)
    return GenerationRequest(**values)


# -- the plan's choices ----------------------------------------------------------------------

SAVES = {"chunked_decode": 1, "split_inference": 4, "vae_tiling": 2, "model_offload": 3,
         "sequential_offload": 5}


def toy_need(savers: frozenset[str]) -> int:
    """16 GiB, less what each saver saves (sequential offload replaces model offload)."""
    saved = sum(SAVES[name] for name in savers)
    if {"model_offload", "sequential_offload"} <= savers:
        saved -= SAVES["model_offload"]
    return (16 - saved) * GIB


@pytest.mark.parametrize("free, chosen", [
    (17, []),
    (15, ["chunked_decode"]),
    (11, ["chunked_decode", "split_inference"]),
    (9, ["chunked_decode", "split_inference", "vae_tiling"]),
    (6, ["chunked_decode", "split_inference", "vae_tiling", "model_offload"]),
    (4.5, ["chunked_decode", "split_inference", "vae_tiling", "model_offload",
           "sequential_offload"]),
])
def test_fewest_savers_cheapest_first(free, chosen):
    plan = choose_plan(toy_need, int(free * GIB), "cuda")
    assert [s.name for s in plan.savers] == chosen
    assert plan.fits
    text = plan.describe()
    assert text.startswith(f"memory plan: fits in {plan.need / GIB:.1f} of {free:.1f} GiB")
    assert ("no savers needed" in text) == (not chosen)


def test_when_nothing_fits_every_saver_is_on_and_it_says_what_to_lower():
    plan = choose_plan(toy_need, GIB, "cuda", advice=lambda: "lower the frames to 8")
    assert not plan.fits
    assert "sequential_offload" in plan.active and "model_offload" not in plan.active
    assert "does not fit" in plan.describe() and "lower the frames to 8" in plan.describe()


def test_offload_is_not_used_on_the_cpu():
    plan = choose_plan(toy_need, GIB, "cpu")
    assert not {"model_offload", "sequential_offload"} & plan.active
    assert plan.need == 9 * GIB


def test_user_switches_win_and_off_adds_nothing():
    plan = choose_plan(toy_need, 14 * GIB, "cuda", user_savers=frozenset({"vae_tiling"}))
    assert plan.savers == () and "vae_tiling" in plan.active
    off = choose_plan(toy_need, GIB, "cuda", mode="off")
    assert off.savers == () and "only your own switches" in off.describe()


def test_plan_from_the_estimate_with_free_memory_fed_in(demo_models):
    request = request_for(demo_models, frames=24)
    need = estimate_memory(request, "cpu", 4).peak
    roomy = plan_memory(request, "cpu", 4, free=need + GIB)
    assert roomy.savers == () and roomy.fits
    split = estimate_memory(request, "cpu", 4, frozenset({"chunked_decode", "split_inference"}))
    tight = plan_memory(request, "cpu", 4, free=split.peak)
    assert [s.name for s in tight.savers] == ["chunked_decode", "split_inference"]
    assert tight.fits
    hopeless = plan_memory(request, "cpu", 4, free=GIB // 16)
    assert not hopeless.fits and "models alone" in hopeless.describe()


def test_long_clips_turn_on_context_windows_with_a_message(demo_models):
    window, message = context_window(request_for(demo_models, frames=64), 32)
    assert window == (16, 4) and "64 frames" in message and "context windows" in message
    assert context_window(request_for(demo_models, frames=32), 32) == (None, "")


def test_feed_forward_chunk_divides_every_batch():
    chunk = feed_forward_chunk(frames=20, height=72, width=64, cfg_batch=2, levels=4)
    for size in (16, 40 % 16, 2 * 9 * 8 % 256, 2 * 5 * 4, 2 * 3 * 2, 2 * 2 * 1):
        assert size % chunk == 0


# -- each saver against diffusers with the same saver -----------------------------------------


def plain(models, request, saver: str) -> np.ndarray:
    """diffusers' own call for the saver, in a plain script (tests/backend/reference.py)."""
    params = dict(num_frames=request.frames, width=request.width, height=request.height,
                  num_inference_steps=request.steps, output_type="np")
    # 20 frames x CFG at 96x64: spatial batches of 16 and 8, motion rows 192 and 48 -> chunk 8.
    return reference.text2video_with_saver(models.base, models.motion_adapter, request.prompt,
                                           None, request.seed, saver, ff_chunk=8, **params)


@pytest.mark.parametrize("saver", ["chunked_decode", "split_inference", "vae_tiling"])
def test_each_saver_matches_diffusers(demo_models, cache, saver):
    # 96 px wide: wider than the demo VAE's 64-pixel tiles, so tiling really tiles.
    request = request_for(demo_models, frames=20, width=96)
    ours = generate(request, cache=cache, savers=frozenset({saver})).frames
    assert np.array_equal(ours, plain(demo_models, request, saver))


def test_split_inference_keeps_frames_byte_identical(demo_models, cache):
    request = request_for(demo_models, frames=20)
    without = generate(request, cache=cache, savers=frozenset()).frames
    split = generate(request, cache=cache, savers=frozenset({"split_inference"})).frames
    assert np.array_equal(without, split)
    # ...and the next job runs on the plain UNet again.
    again = generate(request, cache=cache, savers=frozenset()).frames
    assert np.array_equal(without, again)
