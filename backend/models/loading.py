"""Finding, loading and keeping the models.

A model is named by a Hugging Face Hub id (downloaded into huggingface_hub's shared cache), a
local diffusers folder, or a single checkpoint file. Loading errors are turned into one sentence
that says what is wrong and what to do: a person should never have to read a tensor-shape dump.
"""

from __future__ import annotations

import gc
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.core.errors import InputError, OutOfMemoryError, exception_chain
from backend.core.request import ModelSpec
from backend.core.sources import (
    ModelSource,
)
from backend.hub.load_errors import explain_load_error
from backend.models.motion_unet import build_motion_unet
from backend.models.sources import SourcePlan, resolve_sources
from backend.models.weights import safetensors_flag


def check_single_file_checkpoint(source: ModelSource) -> None:
    """Read a .safetensors checkpoint's header (not its weights) and refuse what is not an
    SD1.5-style model, before diffusers guesses and fails somewhere deeper."""
    if source.is_pickle:
        return
    from safetensors import safe_open

    try:
        with safe_open(source.location, framework="pt") as handle:
            keys = list(handle.keys())
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type
        raise InputError(
            f"base model {source.label!r}: the weights file is truncated or corrupt "
            f"({str(exc).strip()[:80]}); download it again"
        ) from None
    if any(key.startswith("conditioner.embedders.1") for key in keys):
        raise InputError(
            f"base model {source.label!r} is an SDXL checkpoint; these motion adapters need a "
            "Stable Diffusion 1.5-based model"
        )
    if not any(key.startswith("model.diffusion_model.") for key in keys):
        raise InputError(
            f"base model {source.label!r} is not a Stable Diffusion checkpoint (no UNet weights "
            "in it); a motion adapter or LoRA file goes in its own field"
        )


def resolve_device(name: str) -> str:
    import torch

    if name != "auto":
        if name == "cuda" and not torch.cuda.is_available():
            raise InputError("device cuda: no CUDA GPU is available here; use --device cpu or auto")
        if name == "mps" and not torch.backends.mps.is_available():
            raise InputError("device mps: Apple Metal is not available here; use --device cpu or auto")
        return name
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(name: str, device: str):
    import torch

    if name == "auto":
        return torch.float16 if device in ("cuda", "mps") else torch.float32
    if name == "float16" and device == "cpu":
        raise InputError(
            "float16 on the CPU is not supported: it is slow there and overflows into black "
            "frames; use --dtype float32 (or bfloat16)"
        )
    return getattr(torch, name)


def _check_adapter_fits(adapter, unet_config: dict[str, Any], spec: ModelSpec) -> None:
    adapter_channels = list(adapter.config.block_out_channels)
    unet_channels = list(unet_config.get("block_out_channels", adapter_channels))
    if adapter_channels != unet_channels:
        raise InputError(
            f"motion adapter {spec.motion_adapter!r} does not fit base model {spec.base_model!r}: "
            f"it is built for a UNet with channels {adapter_channels}, the base model has "
            f"{unet_channels} (an SD1.5 motion adapter needs an SD1.5-based model)"
        )


def load_motion_adapter(source: ModelSource, dtype, allow_pickle: bool):
    from diffusers import MotionAdapter

    from backend.models.motion_checkpoint import load_motion_file

    try:
        if source.kind == "file":
            return load_motion_file(source.location, dtype, source.label)
        return MotionAdapter.from_pretrained(
            source.location, dtype=dtype, use_safetensors=safetensors_flag(allow_pickle)
        )
    except Exception as exc:
        raise explain_load_error(exc, "motion adapter", source) from exc


def load_pipeline(spec: ModelSpec, sources: SourcePlan):
    """Load the text-to-video pipeline for `spec` from its resolved sources, placed on its
    device. Returns (pipe, raw scheduler config, device)."""
    from diffusers import AnimateDiffPipeline, DDIMScheduler, UNet2DConditionModel

    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    if device == "cpu":
        from backend.models.speed import tune_cpu_allocator

        tune_cpu_allocator()
    base = sources.base
    adapter = load_motion_adapter(sources.adapter, dtype, spec.allow_pickle)
    try:
        if base.kind == "file":
            check_single_file_checkpoint(base)
            pipe = AnimateDiffPipeline.from_single_file(
                base.location, motion_adapter=adapter, dtype=dtype
            )
            scheduler_config = dict(pipe.scheduler.config)
        else:
            unet_config = UNet2DConditionModel.load_config(base.location, subfolder="unet")
            _check_adapter_fits(adapter, unet_config, spec)
            # The motion UNet made in place, sharing the adapter's modules; None: the usual way.
            unet = build_motion_unet(base.location, adapter, dtype)
            pipe = AnimateDiffPipeline.from_pretrained(
                base.location,
                motion_adapter=adapter,
                dtype=dtype,
                use_safetensors=safetensors_flag(spec.allow_pickle),
                **({} if unet is None else {"unet": unet}),
            )
            del unet
            # The raw file, so scheduler presets resolve defaults as from_pretrained does.
            scheduler_config = DDIMScheduler.load_config(base.location, subfolder="scheduler")
    except Exception as exc:
        raise explain_load_error(exc, "base model", base) from exc
    pipe.set_progress_bar_config(disable=True)
    _clip_skip_compat(pipe.text_encoder)
    place_pipeline(pipe, spec, device)
    return pipe, scheduler_config, device


def _clip_skip_compat(text_encoder) -> None:
    """diffusers' encode_prompt applies clip skip through `text_encoder.text_model`, which
    transformers >= 5.6 removed when it flattened CLIPTextModel (diffusers issue #14124).
    Point that old path at the model itself; a plain instance attribute, not a submodule, so
    weights and state dicts are untouched."""
    if not hasattr(text_encoder, "text_model") and hasattr(text_encoder, "final_layer_norm"):
        object.__setattr__(text_encoder, "text_model", text_encoder)


def place_pipeline(pipe, spec: ModelSpec, device: str) -> None:
    """Move the pipeline to its device, or install CPU offload hooks. Offload only means
    something with an accelerator; on the CPU the models are already where they run."""
    if device == "cpu":
        return  # from_pretrained already loaded the weights into CPU memory
    if spec.offload == "none":
        pipe.to(device)
    elif spec.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.enable_sequential_cpu_offload(device=device)


def lora_adapter_name(source: str) -> str:
    """A PEFT adapter name for a LoRA source: readable, unique per source, no dots."""
    stem = re.sub(r"\W+", "_", Path(source.rstrip("/\\")).stem or source)[:40].strip("_")
    digest = hashlib.sha1(source.encode("utf-8")).hexdigest()[:8]
    return f"{stem or 'lora'}_{digest}"


def remove_lora_layers(pipe) -> None:
    """Take every LoRA out of the model, unwrapping PEFT's layers (deleting adapters leaves
    the wrappers in place)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    if any(isinstance(m, BaseTunerLayer) for m in pipe.unet.modules()):
        pipe.unload_lora_weights()


class PipelineCache:
    """Holds one loaded model set and the pipelines built on it.

    Text-to-video and video-to-video share one set of weights: the second pipeline is made
    with `from_pipe`, which reuses the same modules. A job with another ModelSpec (other than
    LoRAs and VAE options) replaces the set, so only one set ever occupies the GPU.
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._pipes: dict[str, Any] = {}
        self._scheduler_config: dict[str, Any] = {}
        self._device = "cpu"
        self._spec: ModelSpec | None = None
        self._offload_owner: str | None = None
        self.loads = 0  # how many times models were read from disk; tests and the UI use it
        # Models that live on top of the loaded set (ControlNets, an IP-Adapter), dropped with it.
        self.attached: dict[str, Any] = {}

    @property
    def loaded_spec(self) -> ModelSpec | None:
        return self._spec

    @property
    def device(self) -> str:
        return self._device

    @property
    def scheduler_config(self) -> dict[str, Any]:
        return self._scheduler_config

    def pipelines(self) -> list[Any]:
        return list(self._pipes.values())

    def pipeline(
        self,
        spec: ModelSpec,
        mode: str,
        on_loading: Callable[[], None] | None = None,
        sources: SourcePlan | None = None,
        family=None,
        savers: frozenset[str] | None = None,
    ):
        """The pipeline for `spec` in `mode`, loaded from `sources` (resolved here when not
        given) unless the same models are loaded already. A family that loads itself (see
        backend/families) is asked to load, place and derive the mode's pipeline."""
        if family is not None and family.loads_itself:
            return self._family_pipeline(spec, mode, on_loading, sources, family, savers)
        if self._key != spec.cache_key():
            sources = sources if sources is not None else resolve_sources(spec)
            self.unload()
            if on_loading:
                on_loading()
            try:
                pipe, scheduler_config, device = load_pipeline(spec, sources)
            except Exception as exc:
                oom = as_out_of_memory(exc)
                if oom is None:
                    raise
                raise oom from exc
            self._keep(spec, pipe, scheduler_config, device)
        if mode not in self._pipes:
            from diffusers import AnimateDiffVideoToVideoPipeline

            base = self._pipes["text2video"]
            pipe = AnimateDiffVideoToVideoPipeline.from_pipe(base)
            pipe.set_progress_bar_config(disable=True)
            self._pipes[mode] = pipe
        pipe = self._pipes[mode]
        if spec.offload != "none" and self._device != "cpu" and self._offload_owner != mode:
            # Offload hooks live on the shared modules; re-install them for this pipeline.
            place_pipeline(pipe, spec, self._device)
            self._offload_owner = mode
        return pipe

    def _keep(self, spec: ModelSpec, pipe, scheduler_config: dict[str, Any], device: str) -> None:
        self._pipes = {"text2video": pipe}
        self._scheduler_config = scheduler_config
        self._device = device
        self._key = spec.cache_key()
        self._spec = spec
        self._offload_owner = "text2video"
        self.loads += 1

    def _family_pipeline(self, spec, mode, on_loading, sources, family, savers):
        # The memory plan's savers place the parts on load, so a different set loads again
        # (VAE tiling aside: the family's configure switches it per job).
        savers = savers if savers is not None else family.user_savers(spec)
        key = (spec.cache_key(), savers - {"vae_tiling"})
        if self._key != key:
            sources = sources if sources is not None else resolve_sources(spec)
            self.unload()
            if on_loading:
                on_loading()
            device = resolve_device(spec.device)
            dtype = resolve_dtype(spec.dtype, device)
            base = sources.base
            try:
                if base.kind == "file":
                    pipe = family.load(family.single_file_repo(base.location), dtype,
                                       transformer_file=base.location)
                else:
                    if base.kind == "folder":
                        family.check_parts(base.location, base.label)
                    pipe = family.load(base.location, dtype,
                                       use_safetensors=safetensors_flag(spec.allow_pickle))
                family.place(pipe, device, savers)
            except Exception as exc:
                oom = as_out_of_memory(exc)
                if oom is not None:
                    raise oom from exc
                raise explain_load_error(exc, "base model", base) from exc
            # The loaded set is kept under the first key whatever its own class.
            self._keep(spec, pipe, dict(pipe.scheduler.config), device)
            self._key = key
        if mode not in self._pipes:
            self._pipes[mode] = family.pipeline_for(self._pipes["text2video"], mode)
        pipe = self._pipes[mode]
        if self._device != "cpu" and self._offload_owner != mode and savers:
            family.place(pipe, self._device, savers)
            self._offload_owner = mode
        return pipe

    def unload(self) -> int:
        """Free the loaded models. Returns the bytes the device (or, on the CPU, the process)
        holds less afterwards, measured; the caller must hold no pipeline of its own."""
        if not self._pipes:
            return 0
        device = self._device
        before = resident_bytes(device)
        for pipe in self._pipes.values():
            try:
                pipe.remove_all_hooks()
            except Exception:  # noqa: BLE001 - best effort: we are dropping the pipeline anyway
                pass
        self._pipes = {}
        self.attached.clear()
        self._key = None
        self._spec = None
        self._offload_owner = None
        pipe = None
        gc.collect()
        empty_device_cache()
        trim_heap()
        return max(0, before - resident_bytes(device))


def resident_bytes(device: str) -> int:
    """What the process holds on `device` now: torch's reserved memory on a GPU, its resident
    set on the CPU."""
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.memory_reserved())
    if device == "mps":
        return int(torch.mps.driver_allocated_memory())
    import psutil

    return int(psutil.Process().memory_info().rss)


def trim_heap() -> None:
    """Give the C allocator's free pages back to the system (glibc keeps freed memory below its
    trim threshold, which tune_cpu_allocator raises). Linux/glibc only."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def empty_device_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        mps.empty_cache()


# How torch's CPU allocator says it got no memory (a RuntimeError, not torch.OutOfMemoryError).
CPU_ALLOCATOR_FAILED = "DefaultCPUAllocator: can't allocate memory"


def as_out_of_memory(exc: BaseException) -> OutOfMemoryError | None:
    for item in exception_chain(exc):
        text = str(item)
        if (type(item).__name__ in ("OutOfMemoryError", "MemoryError")
                or "out of memory" in text.lower() or CPU_ALLOCATOR_FAILED in text):
            return OutOfMemoryError(
                "out of memory: try fewer frames or a smaller size, turn on VAE slicing/tiling, "
                "or use --offload model (or sequential, slowest but smallest)"
            )
    return None
