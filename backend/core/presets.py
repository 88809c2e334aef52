"""Quality presets: the documented recipes of the distilled motion models.

A preset sets the motion adapter, scheduler, guidance, steps and image LoRAs of a request; any
of those the user gives explicitly stays as given (for LoRAs, the whole list).

- standard: the diffusers AnimateDiff documentation's DDIM recipe (the program's defaults).
- lightning: AnimateDiff-Lightning (ByteDance/AnimateDiff-Lightning model card): its motion
  module, Euler with trailing timesteps and linear betas, guidance 1.0 (no classifier-free
  guidance pass), as many steps as the checkpoint was distilled for.
- animatelcm: the diffusers documentation's AnimateLCM recipe: its motion adapter, LCM with
  linear betas, the AnimateLCM LoRA at 0.8, guidance 1.5, 6 steps.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import PurePath

from backend.core.errors import InputError
from backend.core.request import (
    DEFAULT_MOTION_ADAPTER,
    PRESET_NAMES,
    GenerationRequest,
    ImageLora,
)

LIGHTNING_REPO = "ByteDance/AnimateDiff-Lightning"
LIGHTNING_STEPS = (1, 2, 4, 8)
ANIMATELCM_ADAPTER = "wangfuyun/AnimateLCM"
ANIMATELCM_LORA = "wangfuyun/AnimateLCM/AnimateLCM_sd15_t2v_lora.safetensors"

# The request fields a preset sets, as the command line names them in `explicit`.
PRESET_FIELDS = ("model.motion_adapter", "scheduler", "guidance", "steps", "model.loras")


def lightning_file(steps: int) -> str:
    """The Hub file of the Lightning checkpoint distilled for `steps` steps."""
    if steps not in LIGHTNING_STEPS:
        raise InputError(
            f"AnimateDiff-Lightning comes in {', '.join(map(str, LIGHTNING_STEPS))} steps; "
            f"got {steps} (give --motion-adapter to use another checkpoint)"
        )
    return f"{LIGHTNING_REPO}/animatediff_lightning_{steps}step_diffusers.safetensors"


def steps_from_name(source: str) -> int | None:
    """The step count in a distilled checkpoint's file name (`..._4step...`), if any."""
    match = re.search(r"(?<![0-9])(\d+)[-_]?steps?(?![a-z])", PurePath(source).name.lower())
    return int(match[1]) if match else None


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    help: str
    motion_adapter: str
    scheduler: str
    guidance: float
    steps: int
    loras: tuple[ImageLora, ...] = ()


PRESETS: dict[str, Preset] = {
    "standard": Preset(
        "standard", "Standard (25 steps)",
        "The AnimateDiff documentation's recipe: DDIM, 25 steps, guidance 7.5.",
        DEFAULT_MOTION_ADAPTER, "ddim", 7.5, 25,
    ),
    "animatelcm": Preset(
        "animatelcm", "AnimateLCM (6 steps)",
        "AnimateLCM motion adapter and LoRA (0.8) with the LCM scheduler: 6 steps, guidance 1.5.",
        ANIMATELCM_ADAPTER, "lcm_linear", 1.5, 6, (ImageLora(ANIMATELCM_LORA, 0.8),),
    ),
    "lightning": Preset(
        "lightning", "Lightning (4 steps)",
        "AnimateDiff-Lightning motion module with Euler trailing: 4 steps, guidance 1.0, "
        "several times faster.",
        lightning_file(4), "euler_trailing", 1.0, 4,
    ),
}
assert tuple(PRESETS) == PRESET_NAMES

# Every LoRA some preset adds: switching presets in the window swaps these, keeping the rest.
PRESET_LORA_SOURCES = frozenset(lora.source for p in PRESETS.values() for lora in p.loras)


def apply_preset(
    request: GenerationRequest, name: str, explicit: set[str] | frozenset[str] = frozenset()
) -> GenerationRequest:
    """`request` with preset `name`'s values, except the fields named in `explicit`."""
    if name not in PRESETS:
        raise InputError(f"preset must be one of {', '.join(PRESET_NAMES)}; got {name!r}")
    preset = PRESETS[name]
    adapter, steps = preset.motion_adapter, preset.steps
    if name == "lightning":
        if "model.motion_adapter" in explicit:
            steps = steps_from_name(request.model.motion_adapter) or steps
        elif "steps" in explicit:
            adapter = lightning_file(request.steps)
    changes = {"preset": name}
    model_changes = {}
    if "model.motion_adapter" not in explicit:
        model_changes["motion_adapter"] = adapter
    if "model.loras" not in explicit:
        model_changes["loras"] = preset.loras
    for field, value in (("scheduler", preset.scheduler), ("guidance", preset.guidance),
                         ("steps", steps)):
        if field not in explicit:
            changes[field] = value
    changes["model"] = dataclasses.replace(request.model, **model_changes)
    return request.replace(**changes)
