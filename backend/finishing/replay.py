"""Re-running the finishing steps a clip's metadata records: each step's model (checked by its
SHA-256, so a changed file is refused rather than giving another clip), factor and scale.

An interpolation followed by an upscale is one pass, as when both were asked for at once; any
other chain (a take finished twice, then exported with more) runs pass by pass in its order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backend.core.errors import CancelCheck, InputError
from backend.finishing.finish import FinishingOptions, FinishingPlan, finish_frames, plan_finishing
from backend.finishing.progress import ProgressCallback

STEPS = ("interpolate", "upscale")


def _step_options(step: Any, models: dict[str, str | None]) -> FinishingOptions:
    """One recorded step as options; `models` replaces a step's recorded model path (a file
    that moved), its SHA-256 still checked."""
    if not isinstance(step, dict) or step.get("step") not in STEPS:
        raise InputError(f"the metadata's finishing step {str(step)[:80]!r} is not one this "
                         "version knows (interpolate or upscale)")
    sha = step.get("sha256")
    model = step.get("model")
    if not isinstance(model, str) or not isinstance(sha, str) or len(sha) != 64:
        raise InputError(f"the metadata's {step['step']} step has no model file and SHA-256")
    try:
        if step["step"] == "interpolate":
            return FinishingOptions(
                interpolate=int(step["factor"]),
                interpolation_model=models.get("interpolate") or model,
                interpolation_scale=float(step.get("scale", 1.0)),
                interpolation_sha256=sha,
            )
        factor = float(step["factor"])
        own = step.get("model_scale")
        return FinishingOptions(
            upscale_model=models.get("upscale") or model,
            upscale=None if own is not None and float(own) == factor else factor,
            upscale_sha256=sha,
        )
    except (KeyError, TypeError, ValueError):
        raise InputError(f"the metadata's {step['step']} step has no valid factor") from None


def recorded_options(steps: Any, interpolation_model: str | None = None,
                     upscale_model: str | None = None,
                     allow_pickle: bool = False) -> list[FinishingOptions]:
    """The passes that reproduce `steps` (the metadata's "finishing" list)."""
    if not isinstance(steps, list):
        raise InputError("the metadata's finishing record is not a list of steps")
    models = {"interpolate": interpolation_model, "upscale": upscale_model}
    passes: list[FinishingOptions] = []
    for step in steps:
        options = _step_options(step, models)
        last = passes[-1] if passes else None
        if (options.upscaling and last is not None and last.interpolate is not None
                and not last.upscaling):
            options = FinishingOptions(
                interpolate=last.interpolate, interpolation_model=last.interpolation_model,
                interpolation_scale=last.interpolation_scale,
                interpolation_sha256=last.interpolation_sha256,
                upscale_model=options.upscale_model, upscale=options.upscale,
                upscale_sha256=options.upscale_sha256,
            )
            passes[-1] = options
        else:
            passes.append(options)
    if allow_pickle:
        from dataclasses import replace

        passes = [replace(options, allow_pickle=True) for options in passes]
    return passes


def plan_passes(
    passes: list[FinishingOptions],
    count: int,
    width: int,
    height: int,
    output_kind: str | None = None,
    output: str = "",
    on_download: ProgressCallback | None = None,
    cancel: CancelCheck = None,
) -> list[FinishingPlan]:
    """Each pass loaded and checked against the size the passes before it leave."""
    plans = []
    for options in passes:
        plan = plan_finishing(options, count, width, height, output_kind, output, on_download, cancel)
        count = plan.frame_count(count)
        width, height = plan.frame_size(width, height)
        plans.append(plan)
    return plans


def run_passes(
    plans: list[FinishingPlan],
    frames: np.ndarray,
    fps: float,
    device: str = "cpu",
    on_progress: ProgressCallback | None = None,
    cancel: CancelCheck = None,
) -> tuple[np.ndarray, float, list[dict[str, Any]]]:
    """(frames, fps, steps) after every pass."""
    steps: list[dict[str, Any]] = []
    for plan in plans:
        frames = finish_frames(frames, plan, device, on_progress, cancel)
        fps = plan.fps(fps)
        steps.extend(plan.steps)
    return frames, fps, steps
