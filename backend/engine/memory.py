"""A job's memory: its plan before it runs, context windows for long clips, and what happens
when it runs out of memory anyway (free for real, plan again with the next saver, retry once).
"""

from __future__ import annotations

import dataclasses
import gc
import sys

from backend.core.errors import InputError, OutOfMemoryError
from backend.core.request import GenerationRequest, ModelSpec
from backend.models.memory_estimate import estimate_memory
from backend.models.memory_plan import (
    ANIMATEDIFF_SAVERS,
    MemoryPlan,
    choose_plan,
    free_memory,
)

DEFAULT_WINDOW = 16  # frames per FreeNoise window: what the motion modules were trained on
DEFAULT_STRIDE = 4
FALLBACK_MOTION_LENGTH = 32  # animatediff-motion-adapter-v1-5-2's, MotionAdapter's default


def context_window(request: GenerationRequest, motion_length: int) -> tuple[tuple[int, int] | None, str]:
    """(FreeNoise window (length, stride) or None, a message when it was turned on by itself).

    Prompt travel runs through FreeNoise's per-frame prompts, so it turns windows on too; a clip
    longer than the motion module's positional table (32 frames for v1-5-2) cannot run in one
    window, so it gets windows of 16 frames, stride 4, as diffusers' documentation sets them."""
    if request.context_length is not None:
        if request.context_length > motion_length:
            raise InputError(
                f"context length {request.context_length} is longer than the motion module's "
                f"{motion_length} frames; use --context-length {min(DEFAULT_WINDOW, motion_length)}"
            )
        return (request.context_length, min(request.context_stride, request.context_length)), ""
    if request.frames > motion_length:
        length = min(DEFAULT_WINDOW, motion_length)
        stride = min(request.context_stride, length)
        return (length, stride), (
            f"{request.frames} frames is more than the motion module's {motion_length}: context "
            f"windows turned on ({length} frames, stride {stride})")
    if request.prompt_travel:
        return (min(request.frames, motion_length), min(request.context_stride, request.frames)), ""
    return None, ""


def user_savers(spec: ModelSpec) -> frozenset[str]:
    """The savers the user's own switches turn on."""
    names = set()
    if spec.vae_tiling:
        names.add("vae_tiling")
    if spec.offload == "model":
        names.add("model_offload")
    elif spec.offload == "sequential":
        names.add("sequential_offload")
    return frozenset(names)


def spec_with_plan(spec: ModelSpec, plan: MemoryPlan) -> ModelSpec:
    """The ModelSpec the job loads and runs with: the plan's offload and tiling added."""
    active = plan.active
    offload = ("sequential" if "sequential_offload" in active
               else "model" if "model_offload" in active else spec.offload)
    return dataclasses.replace(spec, offload=offload,
                               vae_tiling=spec.vae_tiling or "vae_tiling" in active)


def plan_memory(request: GenerationRequest, device: str, element_size: int, *,
                free: int | None = None, held: int = 0, long_clip: bool = False,
                forced: frozenset[str] | None = None, family=None) -> MemoryPlan:
    """The job's plan. `free` is the device's free memory (measured when None); `held` what
    loaded models hold that this job frees or reuses. A long clip (context windows on) always
    runs with split inference, as diffusers' FreeNoise documentation pairs them: byte-identical,
    and it keeps the memory of the UNet's layers flat in the clip's length. `forced` replaces the
    plan's own choice (tests and benchmarks run each saver so). A model family that loads
    itself (backend/families) brings its own savers in its own order."""
    need = need_function(request, device, element_size)
    measured = free_memory(device) if free is None else free
    budget = None if measured is None else measured + held
    if family is not None and family.loads_itself:
        order, own = family.memory_savers, family.user_savers(request.model)
    else:
        order, own = ANIMATEDIFF_SAVERS, user_savers(request.model)
    if forced is not None:
        chosen = tuple(s for s in order if s.name in forced and s.name not in own)
        mine = tuple(s for s in order if s.name in own)
        return MemoryPlan(device, "forced", chosen, mine, need(own | forced), budget,
                          order=tuple(order))
    always = frozenset({"split_inference"}) if long_clip else frozenset()
    return choose_plan(need, budget, device, mode=request.model.memory, user_savers=own,
                       always=always, order=order,
                       advice=lambda: what_to_lower(request, device, element_size, budget, order))


def what_to_lower(request: GenerationRequest, device: str, element_size: int,
                  free: int | None, order=ANIMATEDIFF_SAVERS) -> str:
    """Advice when no plan fits: the most frames that would, or that the models alone do not."""
    every = frozenset(saver.name for saver in order)  # offload: ignored on the CPU
    if free is None:
        return "lower the frames or the size"
    one = estimate_memory(request.replace(frames=1), device, element_size, every).peak
    if one is not None and one > free:
        return ("the models alone do not fit: use a smaller number format (--dtype float16 on a "
                "GPU), offloading, or close other programs")
    low, high = 1, request.frames
    while low < high:  # the most frames that fit with every saver
        middle = (low + high + 1) // 2
        peak = estimate_memory(request.replace(frames=middle), device, element_size, every).peak
        if peak is not None and peak <= free:
            low = middle
        else:
            high = middle - 1
    return (f"lower the frames to {low} or the size below {request.width}x{request.height}, "
            "or close other programs")


def release_failure(exc: BaseException) -> None:
    """Drop what a failed call keeps alive: its traceback's frames hold the pipeline, the
    latents and every activation, and so does each exception chained to it."""
    import traceback

    seen = set()
    item: BaseException | None = exc
    while item is not None and id(item) not in seen:
        seen.add(id(item))
        if item.__traceback__ is not None:
            traceback.clear_frames(item.__traceback__)
        item.__traceback__ = None
        item = item.__cause__ or item.__context__
    if hasattr(sys, "last_exc"):
        sys.last_exc = None
    gc.collect()


def out_of_memory_error(plan: MemoryPlan, freed: int, retried: bool) -> OutOfMemoryError:
    """The message when a job ran out of memory and will not be retried."""
    from backend.models.memory_plan import GIB

    done = f"freed {freed / GIB:.1f} GiB by unloading the models"
    lower = "lower the frames or the size"
    if retried:
        why = f"again after retrying with {plan.savers[-1].label}"
    elif plan.mode == "auto":
        why = "with every memory saver on"
    else:
        why = "with the memory plan off"
        lower = "turn it on (--memory auto) to retry with a saver, or " + lower
    if plan.device != "cpu" and "sequential_offload" not in plan.active:
        lower += ", or use --offload sequential"
    return OutOfMemoryError(f"out of memory {why}; {done}; {lower}")


def need_function(request: GenerationRequest, device: str, element_size: int):
    """The plan's need(savers) for this job: the estimate's peak with those savers on."""

    def need(savers: frozenset[str]) -> int | None:
        return estimate_memory(request, device, element_size, savers).peak

    return need


def motion_length(sources, cache) -> int:
    """The motion module's frame positions (motion_max_seq_length), before loading when it can
    be read: from the loaded pipeline, or an adapter folder's config.json; else v1-5-2's 32."""
    import json
    from pathlib import Path

    for pipe in cache.pipelines():  # another family's pipeline has no motion adapter
        adapter = getattr(pipe, "motion_adapter", None)
        if adapter is not None:
            return int(adapter.config.motion_max_seq_length)
    adapter = sources.adapter
    if adapter.kind == "folder":
        try:
            config = json.loads((Path(adapter.location) / "config.json").read_text("utf-8"))
            return int(config.get("motion_max_seq_length", FALLBACK_MOTION_LENGTH))
        except (OSError, ValueError, TypeError):
            pass
    return FALLBACK_MOTION_LENGTH
