"""Turning a GenerationRequest into frames.

`generate()` is a plain function taking the request, a progress callback and a cancel check, so
the command line, the window's worker thread and the tests all run the same code. The pipeline
is called exactly as the diffusers documentation's recipe calls it; options are set on the
cached pipeline before each job, so a job never inherits the previous job's settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.core.errors import (
    CancelCheck,
    Cancelled,
    GenerationError,
    StudioError,
    cancel_check,
)
from backend.core.request import GenerationRequest, MotionLora, random_seed
from backend.engine.guided import (
    guided_arguments,
    guided_pipeline,
    kept_inputs,
    read_guidance,
    read_start_image,
)
from backend.engine.memory import (
    context_window,
    motion_length,
    need_function,
    out_of_memory_error,
    plan_memory,
    release_failure,
    spec_with_plan,
)
from backend.engine.preflight import check_plan_fits
from backend.families.registry import checked_family, model_configs
from backend.models.embeddings import apply_embeddings
from backend.models.free_noise_blocks import swap_free_noise_blocks
from backend.models.loading import (
    PipelineCache,
    as_out_of_memory,
    empty_device_cache,
    remove_lora_layers,
    resident_bytes,
    resolve_device,
    resolve_dtype,
    trim_heap,
)
from backend.models.loras import apply_loras
from backend.models.memory_plan import GIB, MemoryPlan, next_plan
from backend.models.memory_savers import (
    DECODE_CHUNK_ONE,
    apply_split_inference,
    remove_split_inference,
)
from backend.models.schedulers import build_scheduler
from backend.models.sources import IMAGE_LORA, SourcePlan, resolve_sources
from backend.models.speed import apply_speed_options, compile_failure
from backend.models.vae_precision import (
    decoder_overflowed,
    set_vae_dtype,
    vae_dtype_for,
    watch_decoder,
)

PHASES = ("plan", "loading", "denoising", "decoding", "done")


@dataclass
class Progress:
    """One progress report. `latents` (denoising only) is the current latent tensor
    [1, 4, F, h, w], for a cheap preview; treat it as read-only. Phase "plan" carries a
    `message` for the person: the memory plan, context windows turned on, a retry."""

    phase: str
    step: int = 0
    total: int = 0
    elapsed: float = 0.0
    eta: float | None = None
    latents: Any = None
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


@dataclass
class GenerationResult:
    frames: np.ndarray  # uint8 [F, H, W, 3]
    request: GenerationRequest  # with the seed that was used (and its inputs' sha256)
    duration: float
    device: str
    timings: dict[str, float] = field(default_factory=dict)
    plan: MemoryPlan | None = None  # the memory plan the frames were made with
    # Guidance inputs and the start image as the job used them, for a project take to keep
    # (backend/project/take_inputs.py).
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    family: str = ""  # the model family that made them (backend/families)


class _StepReporter:
    """The diffusers step callback: reports progress, raises Cancelled when asked, and stops
    the job at the first step whose latents are not finite."""

    def __init__(self, request, on_progress, should_cancel) -> None:
        self.total = max(1, request.denoising_steps())
        self.on_progress = on_progress
        self.should_cancel = should_cancel
        self.step = 0
        self.started = time.perf_counter()

    def __call__(self, pipe, index, timestep, callback_kwargs):
        self.step += 1
        self.total = max(self.total, self.step)
        if self.should_cancel():
            raise Cancelled()
        latents = callback_kwargs.get("latents")
        if latents is not None and not bool(latents.isfinite().all()):
            raise GenerationError(
                f"the latents became NaN or infinite at step {self.step} of {self.total}, so "
                "the frames would be black: the UNet overflowed, usually float16 on a GPU; use "
                "--dtype bfloat16 or float32, or a lower guidance")
        if self.on_progress is not None:
            elapsed = time.perf_counter() - self.started
            eta = elapsed / self.step * (self.total - self.step)
            self.on_progress(
                Progress(
                    "denoising",
                    self.step,
                    self.total,
                    elapsed,
                    eta,
                    callback_kwargs.get("latents"),
                )
            )
            if self.step == self.total:
                self.on_progress(Progress("decoding", self.step, self.total, elapsed, 0.0))
        return {}


def configure_pipeline(
    pipe, request: GenerationRequest, cache: PipelineCache, sources: SourcePlan,
    savers: frozenset[str] = frozenset(),
) -> None:
    """Set every per-job option on the (possibly reused) pipeline, turning off what is unused.
    `savers` are the memory plan's (backend/models/memory_plan.py)."""
    # Split inference wraps the UNet's blocks; FreeNoise and LoRAs find blocks by name and type,
    # so they always work on the unwrapped UNet, and the wrappers go back on last.
    remove_split_inference(pipe)
    pipe.scheduler = build_scheduler(request.scheduler, cache.scheduler_config)
    # FreeNoise swaps transformer blocks, so it must be set before LoRAs are injected. SparseCtrl
    # has none (its requests are refused with a window): turned off through the base pipeline,
    # whose UNet it shares.
    noise_pipe = pipe if hasattr(pipe, "enable_free_noise") else cache.pipelines()[0]
    window, _ = context_window(request, noise_pipe.motion_adapter.config.motion_max_seq_length)
    set_free_noise(noise_pipe, window, cache)
    apply_loras(pipe, request.model, sources)
    apply_embeddings(pipe, request.model, sources)
    apply_speed_options(pipe, request.model)
    if request.free_init_iters:
        pipe.enable_free_init(
            num_iters=request.free_init_iters,
            use_fast_sampling=request.free_init_fast,
            method=request.free_init_method,
        )
    else:
        pipe.disable_free_init()
    if request.freeu is not None:
        s1, s2, b1, b2 = request.freeu
        pipe.enable_freeu(s1=s1, s2=s2, b1=b1, b2=b2)
    else:
        pipe.disable_freeu()
    if request.model.vae_slicing:
        pipe.vae.enable_slicing()
    else:
        pipe.vae.disable_slicing()
    if request.model.vae_tiling or "vae_tiling" in savers:
        pipe.vae.enable_tiling()
    else:
        pipe.vae.disable_tiling()
    set_vae_dtype(pipe, vae_dtype_for(pipe, request.model.vae_dtype, pipe.unet.dtype))
    watch_decoder(pipe)
    if "split_inference" in savers:
        apply_split_inference(noise_pipe, request.frames, request.height, request.width,
                              2 if request.guidance > 1.0 else 1)


def set_free_noise(pipe, window: tuple[int, int] | None, cache: PipelineCache) -> None:
    """Turn FreeNoise on or off on the UNet that all cached pipelines share.

    This swaps the motion modules' transformer blocks (backend/models/free_noise_blocks.py,
    sharing their weights). The swap goes through their state dicts, which PEFT LoRA layers
    change; those are removed first (apply_loras loads the wanted LoRAs again afterwards, a
    small file read, not a model reload).
    """
    from diffusers.models.attention import FreeNoiseTransformerBlock

    has_blocks = any(isinstance(m, FreeNoiseTransformerBlock) for m in pipe.unet.modules())
    if (window is None) == (not has_blocks):
        if window is not None:
            pipe.enable_free_noise(context_length=window[0], context_stride=window[1])
        else:
            pipe._free_noise_context_length = None
        return
    remove_lora_layers(pipe)
    # Swapped here sharing the weights; diffusers' calls then only set FreeNoise's properties.
    if window is None:
        swap_free_noise_blocks(pipe.unet, on=False)
        pipe.disable_free_noise()
    else:
        swap_free_noise_blocks(pipe.unet, on=True, context_length=window[0],
                               context_stride=window[1])
        pipe.enable_free_noise(context_length=window[0], context_stride=window[1])
    for other in cache.pipelines():
        if other is not pipe:
            other._free_noise_context_length = None


def pipeline_arguments(request: GenerationRequest, video=None,
                       savers: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The keyword arguments of the diffusers call, as the documentation's recipe writes them."""
    import torch

    prompt: Any = request.travel_prompts() if request.prompt_travel else request.prompt
    kwargs: dict[str, Any] = {
        "prompt": prompt,
        "negative_prompt": request.negative_prompt or None,
        "width": request.width,
        "height": request.height,
        "guidance_scale": request.guidance,
        "num_inference_steps": request.steps,
        "generator": torch.Generator("cpu").manual_seed(request.seed),
        "clip_skip": request.clip_skip,
        "output_type": "np",
    }
    if request.mode == "text2video":
        kwargs["num_frames"] = request.frames
    else:
        kwargs["video"] = video
        kwargs["strength"] = request.strength
    if "chunked_decode" in savers:
        kwargs["decode_chunk_size"] = DECODE_CHUNK_ONE
    return kwargs


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] to uint8 exactly as diffusers' numpy_to_pil rounds them."""
    return (frames * 255).round().astype(np.uint8)


def load_input_video(request: GenerationRequest) -> list:
    """The input clip for video-to-video as PIL images at the request's size (scaled to cover
    it and centre-cropped), at most `request.frames` of them."""
    from PIL import Image

    from backend.media.reader import read_input_video

    return [Image.fromarray(frame) for frame in read_input_video(request)]


def _family_loras(request: GenerationRequest, sources: SourcePlan) -> tuple[MotionLora, ...]:
    return tuple(MotionLora(sources.extra(IMAGE_LORA, lora.source).location, lora.weight)
                 for lora in request.model.loras)


def generate(
    request: GenerationRequest,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: CancelCheck = None,
    cache: PipelineCache | None = None,
    *,
    free_memory: int | None = None,
    savers: frozenset[str] | None = None,
) -> GenerationResult:
    """Run one job. Raises InputError for bad input, Cancelled when cancelled (within one
    step), GenerationError for failures while running. The cache stays usable after any of them.

    Before loading, the memory plan (backend/engine/memory.py) picks the savers the job needs
    for the device's free memory (`free_memory` replaces the measured figure; `savers` replaces
    the plan's choice). Out of memory frees what the failure held and retries once with the
    next saver; a second failure unloads the models and says what to lower.
    """
    started = time.perf_counter()
    request.validate()
    if request.seed is None:
        request = request.replace(seed=random_seed())
    should_cancel = cancel_check(cancel)
    cache = cache if cache is not None else PipelineCache()
    timings: dict[str, float] = {}

    def notify(message: str) -> None:
        if message and on_progress is not None:
            on_progress(Progress("plan", elapsed=time.perf_counter() - started, message=message))

    family, configs = checked_family(request)
    video = load_input_video(request) if request.mode == "video2video" else None
    request, image = read_start_image(request)
    request, guidance = read_guidance(request, video, on_progress)
    if should_cancel():
        raise Cancelled()
    sources = resolve_sources(request.model)
    if family.loads_itself and sources.base.kind == "folder":
        # A part missing is the user's problem to fix, not memory (its estimate would guess).
        family.check_parts(sources.base.location, sources.base.label)
    device = resolve_device(request.model.device)
    import torch

    element_size = torch.empty((), dtype=resolve_dtype(request.model.dtype, device)).element_size()
    window = None
    if not family.loads_itself:  # context windows are AnimateDiff's (FreeNoise)
        window, window_message = context_window(request, motion_length(sources, cache))
        notify(window_message)
    plan = plan_memory(request, device, element_size, free=free_memory,
                       held=0 if free_memory is not None else resident_bytes(device),
                       long_clip=window is not None and request.frames > window[0],
                       forced=savers, family=family)
    check_plan_fits(request, plan)  # before loading: refused, never started
    notify(plan.describe())
    inputs = (family, configs, sources, video, image, guidance)
    for attempt in (1, 2):
        try:
            frames, reporter = _run(request, plan, cache, inputs, on_progress,
                                    should_cancel, started, timings)
            break
        except Exception as exc:
            if as_out_of_memory(exc) is None:
                if isinstance(exc, StudioError):
                    raise
                raise _failure(exc, request, cache) from exc
            held = resident_bytes(device)
            release_failure(exc)
        # Out of the except block: nothing refers to the failure any more.
        empty_device_cache()
        trim_heap()
        freed = max(0, held - resident_bytes(device))
        retry = next_plan(plan, need_function(request, device, element_size))
        if attempt == 2 or plan.mode != "auto" or retry is None:
            freed += cache.unload()
            raise out_of_memory_error(plan, freed, retried=attempt == 2)
        notify(f"out of memory (freed {freed / GIB:.1f} GiB); retrying once with "
               f"{retry.savers[-1].label}")
        plan = retry
    duration = time.perf_counter() - started
    timings["total"] = duration
    if on_progress is not None:
        on_progress(Progress("done", reporter.step, reporter.total, duration, 0.0))
    return GenerationResult(frames, request, duration, cache.device, timings, plan,
                            kept_inputs(request, guidance, image), family.name)


def _run(request, plan, cache, inputs, on_progress, should_cancel, started, timings):
    """One try: (uint8 frames, the step reporter). The pipeline lives only in this frame, so
    a failure's traceback is the last thing holding it (release_failure clears that)."""
    family, configs, sources, video, image, guidance = inputs

    def loading() -> None:
        if on_progress is not None:
            on_progress(Progress("loading", elapsed=time.perf_counter() - started))

    if family.loads_itself:
        if not configs.index:  # a Hub model just downloaded, or a single file's repo
            configs = model_configs(request.model.base_model, family)
        active = plan.active | family.user_savers(request.model)
        pipe = cache.pipeline(request.model, request.run_mode, on_loading=loading,
                              sources=sources, family=family, savers=active)
        family.configure(pipe, request, configs, _family_loras(request, sources),
                         cache.scheduler_config, active)
        arguments = family.call_arguments(request, request.run_mode, video=video, image=image)
    else:
        spec = spec_with_plan(request.model, plan)
        pipe = cache.pipeline(spec, request.run_mode, on_loading=loading, sources=sources)
        pipe = guided_pipeline(cache, pipe, request)  # also takes off a previous job's IP-Adapter
        configure_pipeline(pipe, request, cache, sources, plan.active)
        arguments = {**pipeline_arguments(request, video, plan.active),
                     **guided_arguments(request, guidance)}
    timings["load"] = time.perf_counter() - started
    if should_cancel():
        raise Cancelled()
    reporter = _StepReporter(request, on_progress, should_cancel)
    output = pipe(**arguments, callback_on_step_end=reporter)
    if decoder_overflowed(pipe) or not np.isfinite(output.frames[0]).all():
        raise GenerationError(
            "the decoded frames hold NaN or infinite values (the latents were finite), so they "
            "would be black: the VAE overflowed, usually in float16; use --vae-dtype float32")
    return to_uint8(output.frames[0]), reporter


def _failure(exc: BaseException, request: GenerationRequest, cache: PipelineCache) -> Exception:
    """The error to raise for a library's failure that is not out of memory."""
    failure = compile_failure(exc, request.model, cache.pipelines())
    if failure is not None:
        return failure
    # A library's ValueError is the library's failure, not the user's input: our own
    # checks (request.validate, the loaders) raise InputError for what the user gave.
    return GenerationError(f"generation failed: {type(exc).__name__}: {exc}")
