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
    InputError,
    StudioError,
    cancel_check,
)
from backend.core.request import GenerationRequest, random_seed
from backend.engine.guided import guided_arguments, guided_pipeline, kept_inputs, read_guidance
from backend.models.embeddings import apply_embeddings
from backend.models.loading import PipelineCache, as_out_of_memory, remove_lora_layers
from backend.models.loras import apply_loras
from backend.models.schedulers import build_scheduler
from backend.models.sources import SourcePlan, resolve_sources
from backend.models.speed import apply_speed_options, compile_failure

PHASES = ("loading", "denoising", "decoding", "done")


@dataclass
class Progress:
    """One progress report. `latents` (denoising only) is the current latent tensor
    [1, 4, F, h, w], for a cheap preview; treat it as read-only."""

    phase: str
    step: int = 0
    total: int = 0
    elapsed: float = 0.0
    eta: float | None = None
    latents: Any = None

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
    # Guidance inputs as the job used them, for a project take to keep (backend/take_inputs.py).
    inputs: dict[str, np.ndarray] = field(default_factory=dict)


class _StepReporter:
    """The diffusers step callback: reports progress and raises Cancelled when asked."""

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
    pipe, request: GenerationRequest, cache: PipelineCache, sources: SourcePlan
) -> None:
    """Set every per-job option on the (possibly reused) pipeline, turning off what is unused."""
    pipe.scheduler = build_scheduler(request.scheduler, cache.scheduler_config)
    # FreeNoise swaps transformer blocks, so it must be set before LoRAs are injected. SparseCtrl
    # has none (its requests are refused with a window): turned off through the base pipeline.
    noise_pipe = pipe if hasattr(pipe, "enable_free_noise") else cache.pipelines()[0]
    set_free_noise(noise_pipe, free_noise_window(noise_pipe, request), cache)
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
    if request.model.vae_tiling:
        pipe.vae.enable_tiling()
    else:
        pipe.vae.disable_tiling()


def free_noise_window(pipe, request: GenerationRequest) -> tuple[int, int] | None:
    """(context length, stride) for FreeNoise, or None for off. Prompt travel runs through
    FreeNoise's per-frame prompt interpolation, so it turns FreeNoise on: without a context
    length, with one window as long as the clip or the motion module allows."""
    if request.context_length is None and not request.prompt_travel:
        return None
    max_window = pipe.motion_adapter.config.motion_max_seq_length
    length = request.context_length or min(request.frames, max_window)
    return length, min(request.context_stride, length)


def set_free_noise(pipe, window: tuple[int, int] | None, cache: PipelineCache) -> None:
    """Turn FreeNoise on or off on the UNet that all cached pipelines share.

    diffusers swaps the motion modules' transformer blocks to do this, copying their state dict,
    which fails while PEFT LoRA layers wrap them; those are removed first (apply_loras
    loads the wanted LoRAs again afterwards, a small file read, not a model reload).
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
    if window is None:
        pipe.disable_free_noise()
    else:
        pipe.enable_free_noise(context_length=window[0], context_stride=window[1])
    for other in cache.pipelines():
        if other is not pipe:
            other._free_noise_context_length = None


def pipeline_arguments(request: GenerationRequest, video=None) -> dict[str, Any]:
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


def generate(
    request: GenerationRequest,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: CancelCheck = None,
    cache: PipelineCache | None = None,
) -> GenerationResult:
    """Run one job. Raises InputError for bad input, Cancelled when cancelled (within one
    step), GenerationError for failures while running. The cache stays usable after any of them.
    """
    started = time.perf_counter()
    request.validate()
    if request.seed is None:
        request = request.replace(seed=random_seed())
    should_cancel = cancel_check(cancel)
    cache = cache if cache is not None else PipelineCache()
    timings: dict[str, float] = {}

    video = load_input_video(request) if request.mode == "video2video" else None
    request, guidance = read_guidance(request, video, on_progress)
    if should_cancel():
        raise Cancelled()

    def loading() -> None:
        if on_progress is not None:
            on_progress(Progress("loading", elapsed=time.perf_counter() - started))

    try:
        sources = resolve_sources(request.model)
        pipe = cache.pipeline(request.model, request.mode, on_loading=loading, sources=sources)
        pipe = guided_pipeline(cache, pipe, request)  # also takes off a previous job's IP-Adapter
        configure_pipeline(pipe, request, cache, sources)
        timings["load"] = time.perf_counter() - started
        if should_cancel():
            raise Cancelled()
        reporter = _StepReporter(request, on_progress, should_cancel)
        output = pipe(
            **pipeline_arguments(request, video),
            **guided_arguments(request, guidance),
            callback_on_step_end=reporter,
        )
        frames = to_uint8(output.frames[0])
    except StudioError:
        raise
    except Exception as exc:
        oom = as_out_of_memory(exc)
        if oom is not None:
            cache.unload()
            raise oom from exc
        failure = compile_failure(exc, request.model, cache.pipelines())
        if failure is not None:
            raise failure from exc
        if isinstance(exc, ValueError):
            raise InputError(str(exc).splitlines()[0]) from exc
        raise GenerationError(f"generation failed: {type(exc).__name__}: {exc}") from exc
    duration = time.perf_counter() - started
    timings["total"] = duration
    if on_progress is not None:
        on_progress(Progress("done", reporter.step, reporter.total, duration, 0.0))
    return GenerationResult(frames, request, duration, cache.device, timings,
                            kept_inputs(request, guidance))
