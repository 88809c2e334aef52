"""Scheduler presets are built from the base model's scheduler config with linear betas and no
sample clipping; `ddim` is exactly the documentation's recipe."""

from __future__ import annotations

import pytest

from backend.core.request import SCHEDULER_NAMES
from backend.models.schedulers import PRESETS, build_scheduler


@pytest.fixture(scope="module")
def base_config(demo_models):
    from diffusers import DDIMScheduler

    return DDIMScheduler.load_config(demo_models.base, subfolder="scheduler")


def test_ddim_is_the_documented_recipe(demo_models, base_config):
    from diffusers import DDIMScheduler

    documented = DDIMScheduler.from_pretrained(
        demo_models.base,
        subfolder="scheduler",
        clip_sample=False,
        timestep_spacing="linspace",
        beta_schedule="linear",
        steps_offset=1,
    )
    ours = build_scheduler("ddim", base_config)
    assert type(ours) is DDIMScheduler
    assert dict(ours.config) == dict(documented.config)


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_preset(base_config, name):
    import diffusers

    scheduler = build_scheduler(name, base_config)
    assert type(scheduler) is getattr(diffusers, PRESETS[name][0])
    assert scheduler.config.beta_schedule == "linear"
    # Inherited from the base model's config, not the class defaults.
    assert scheduler.config.beta_start == base_config["beta_start"] == 0.00085
    assert scheduler.config.beta_end == base_config["beta_end"] == 0.012
    if "clip_sample" in scheduler.config:
        assert scheduler.config.clip_sample is False


def test_preset_specifics(base_config):
    assert build_scheduler("dpmpp_2m_karras", base_config).config.use_karras_sigmas is True
    assert build_scheduler("dpmpp_2m", base_config).config.use_karras_sigmas is False
    assert build_scheduler("dpmpp_2m", base_config).config.algorithm_type == "dpmsolver++"
    assert build_scheduler("pndm", base_config).config.skip_prk_steps is True


def test_every_preset_is_first_order(base_config):
    # denoising_steps() relies on it for progress totals.
    for name in SCHEDULER_NAMES:
        assert build_scheduler(name, base_config).order == 1


def test_unknown_scheduler(base_config):
    from backend.core.errors import InputError

    with pytest.raises(InputError, match="scheduler must be one of"):
        build_scheduler("nope", base_config)
