"""Scheduler presets, each built from the base model's own scheduler config.

AnimateDiff's motion modules were trained with linear betas and are hurt by sample clipping, so
every preset sets `beta_schedule="linear"` and turns clipping off where the scheduler has it.
`ddim` is exactly the diffusers documentation's recipe.
"""

from __future__ import annotations

from typing import Any

from backend.core.errors import InputError
from backend.core.request import SCHEDULER_NAMES

_COMMON = {"beta_schedule": "linear", "timestep_spacing": "linspace", "steps_offset": 1}

# name -> (diffusers class name, overrides on top of the base config and _COMMON)
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {"clip_sample": False}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp_2m": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
    ),
    "dpmpp_2m_karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "lcm": ("LCMScheduler", {"clip_sample": False}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    # AnimateDiff-Lightning's model card and the diffusers AnimateLCM recipe: from the loaded
    # scheduler's config with only these overrides (no _COMMON).
    "euler_trailing": (
        "EulerDiscreteScheduler",
        {"timestep_spacing": "trailing", "beta_schedule": "linear"},
    ),
    "lcm_linear": ("LCMScheduler", {"beta_schedule": "linear"}),
}
_RECIPES = {"euler_trailing", "lcm_linear"}
assert tuple(PRESETS) == SCHEDULER_NAMES

LABELS = {
    "ddim": "DDIM",
    "euler": "Euler",
    "euler_ancestral": "Euler Ancestral",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_karras": "DPM++ 2M Karras",
    "lcm": "LCM (for AnimateLCM models)",
    "pndm": "PNDM",
    "euler_trailing": "Euler trailing (AnimateDiff-Lightning)",
    "lcm_linear": "LCM linear (AnimateLCM recipe)",
}


def build_scheduler(name: str, base_config: dict[str, Any]):
    """A new scheduler for preset `name` from the base model's raw scheduler config (the dict in
    its scheduler_config.json, so defaults resolve exactly as `from_pretrained` resolves them)."""
    import diffusers

    if name not in PRESETS:
        raise InputError(f"scheduler must be one of {', '.join(SCHEDULER_NAMES)}; got {name!r}")
    class_name, overrides = PRESETS[name]
    cls = getattr(diffusers, class_name)
    if name in _RECIPES:
        return cls.from_config(loaded_config(base_config), **overrides)
    return cls.from_config(base_config, **{**_COMMON, **overrides})


def loaded_config(base_config: dict[str, Any]) -> dict[str, Any]:
    """`pipe.scheduler.config` as loading the base model makes it: the raw file with the
    defaults of the scheduler class it names filled in."""
    import diffusers

    original = getattr(diffusers, str(base_config.get("_class_name", "")), None)
    if original is None or not hasattr(original, "from_config"):
        return dict(base_config)
    return dict(original.from_config(base_config).config)
