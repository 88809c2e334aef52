"""Each option, byte for byte a plain diffusers script of the same settings (CPU, float32, VAE
slicing off), as the DDIM recipe is in test_reference.py: FreeU, FreeInit with each filter and
fast sampling, FreeNoise, clip skip, prompt travel and every scheduler preset. A swapped FreeU
order, a wrong filter or a mis-built scheduler fails here, where "differs from the baseline"
would pass."""

from __future__ import annotations

import numpy as np
import pytest

from backend.cli.commands import main as cli_main
from backend.core.request import SCHEDULER_NAMES
from tests.backend import reference
from tests.backend.test_reference import common_args, read_png_folder

NEGATIVE = "bad quality, worse quality"
SIZE = dict(guidance_scale=7.5, num_inference_steps=4, width=64, height=64)


def ours(models, tmp_path, prompt: str, frames: int, *options: str) -> np.ndarray:
    out = tmp_path / "frames"
    argv = ["generate", "--prompt", prompt, "--frames", str(frames), "--output", str(out), *options]
    assert cli_main(argv + common_args(models)) == 0
    return read_png_folder(out)


def plain(models, prompt, frames, **options) -> np.ndarray:
    return reference.text2video_options(
        models.base, models.motion_adapter, prompt, NEGATIVE, 42, num_frames=frames,
        **SIZE, **options,
    )


def test_freeu_matches_diffusers(demo_models, tmp_path):
    # Four different numbers, so a swapped order (s1/s2, b1/b2) changes the frames.
    frames = ours(demo_models, tmp_path, "a red fox", 8, "--freeu", "0.9,0.2,1.2,1.4")
    expected = plain(demo_models, "a red fox", 8, freeu=(0.9, 0.2, 1.2, 1.4))
    assert np.array_equal(frames, expected)
    swapped = plain(demo_models, "a red fox", 8, freeu=(0.2, 0.9, 1.4, 1.2))
    assert not np.array_equal(frames, swapped)  # the check can fail


@pytest.mark.parametrize("method", ["butterworth", "ideal", "gaussian"])
def test_free_init_each_filter_matches_diffusers(demo_models, tmp_path, method):
    frames = ours(demo_models, tmp_path, "a red fox", 8, "--free-init", "2",
                  "--free-init-method", method)
    expected = plain(demo_models, "a red fox", 8,
                     free_init=dict(num_iters=2, use_fast_sampling=False, method=method))
    assert np.array_equal(frames, expected)


def test_free_init_fast_sampling_matches_diffusers(demo_models, tmp_path):
    frames = ours(demo_models, tmp_path, "a red fox", 8, "--free-init", "3", "--free-init-fast")
    expected = plain(demo_models, "a red fox", 8,
                     free_init=dict(num_iters=3, use_fast_sampling=True, method="butterworth"))
    assert np.array_equal(frames, expected)


def test_free_noise_matches_diffusers(demo_models, tmp_path):
    frames = ours(demo_models, tmp_path, "a red fox", 12, "--context-length", "8",
                  "--context-stride", "2")
    expected = plain(demo_models, "a red fox", 12, free_noise=(8, 2))
    assert frames.shape == (12, 64, 64, 3)
    assert np.array_equal(frames, expected)


def test_clip_skip_matches_diffusers(demo_models, tmp_path):
    frames = ours(demo_models, tmp_path, "a red fox", 8, "--clip-skip", "2")
    expected = plain(demo_models, "a red fox", 8, clip_skip=2)
    assert np.array_equal(frames, expected)


def test_prompt_travel_matches_diffusers(demo_models, tmp_path):
    """The diffusers FreeNoise docs' prompt travel: a dict of frame -> prompt, FreeNoise with
    one window over the clip and the usual stride of 4."""
    frames = ours(demo_models, tmp_path, "a red fox", 8, "--prompt-at", "4:a green frog")
    expected = reference.text2video_options(
        demo_models.base, demo_models.motion_adapter, {0: "a red fox", 4: "a green frog"},
        NEGATIVE, 42, num_frames=8, free_noise=(8, 4), **SIZE,
    )
    assert np.array_equal(frames, expected)


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_scheduler_matches_diffusers(demo_models, tmp_path, name):
    frames = ours(demo_models, tmp_path, "a red fox", 8, "--scheduler", name)
    expected = plain(demo_models, "a red fox", 8, scheduler=name)
    assert np.array_equal(frames, expected)
