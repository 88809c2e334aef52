"""A peak-memory estimate for a job, before anything loads.

Weights are summed from the .safetensors headers (no tensor is read). The working memory is
what the run adds on top of them, measured on SD1.5-architecture models (benchmarks/full_size.py
and a probe of single UNet and VAE calls at 256x256): the UNet's activations grow with the
latent pixels times the batch (frames, x2 with classifier-free guidance), the VAE decoder's with
the output pixels times the frames it decodes at once. Models with narrower layers (the demo
model) scale by their first block's channels, read from their config.json. On the CPU the
process also holds the Python libraries, and loading leaves freed memory in the C allocator's
heap that stays resident. The peak while generating is weights + runtime + the larger of the
UNet's and the VAE's working memory; the estimate errs high by up to ~15% on SD1.5 models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from backend.core.request import GenerationRequest
from backend.families.registry import detect_family, model_configs

# Working memory in float-sized values per latent pixel per image in the UNet's batch:
# measured 725 MiB for 16 images of 32x32 latents (fp32) in SD1.5's motion UNet; 370 MiB for 8.
UNET_CHANNELS = 11600
UNET_BASE_CHANNELS = 320  # SD1.5's first block, for scaling other widths
# With split inference (backend/models/memory_savers.py) the layers work on 16 images at a time,
# but the whole batch's skip connections (~1600 values per latent pixel in SD1.5) and the tensors
# each split block takes in and gives back (~2400) stay held.
UNET_SPLIT_HELD_CHANNELS = 4000
SPLIT_BATCH = 16
# Per output pixel per decoded frame in SD1.5's VAE decoder: measured 776 (256x256), 960 (512).
VAE_WORK_CHANNELS = 1024
VAE_BASE_CHANNELS = 128
DECODE_CHUNK = 16  # AnimateDiffPipeline.decode_latents' default decode_chunk_size
VAE_TILE = 512  # AutoencoderKL's tile for SD1.5 (its config's sample_size)
# The decoded clip in float32: the decoded chunks and their concatenation on the device; on the
# CPU also the numpy copy and our rounding to uint8.
OUTPUT_COPIES = {"cpu": 3, "accelerator": 2}
SEQUENTIAL_SHARE = 40  # sequential offload keeps about one layer of the UNet on the device
FAMILY_VAE_TILE = 256  # AutoencoderKLWan's tile_sample_min_height/width
CPU_RUNTIME_BYTES = 600 * 2**20  # Python, torch and libraries, resident before any model
CPU_HEAP_SLACK = 0.34  # of the weights: freed while loading, still resident (0.23-0.27 measured)
_COMPONENTS = ("unet", "text_encoder", "vae")
# Parameter counts of the guidance models named by Hub id (not on disk to measure): an SD1.5
# ControlNet (v1.1: 1.45 GB in float32), SparseCtrl (1.99 GB) and IP-Adapter SD1.5's weights
# plus its ViT-H image encoder (44.6 MB in float16, 2.53 GB in float32).
CONTROLNET_PARAMS = 361_000_000
SPARSECTRL_PARAMS = 497_000_000
IP_ADAPTER_PARAMS = 22_000_000 + 632_000_000
# Each ControlNet's residuals are held while the UNet runs, and its own pass adds working
# memory like the UNet's down half: counted as this share of the UNet's activations.
CONTROLNET_WORK_SHARE = 0.25


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int | None  # None when the models are not on disk here (Hub ids not cached)
    load_transient: int | None  # a second UNet, held while a single file's motion UNet is built
    activations: int
    decode: int
    runtime: int

    @property
    def generating(self) -> int | None:
        """The peak while the job runs: models, plus the larger of denoising and decoding."""
        if self.weights is None:
            return None
        return self.runtime + self.weights + max(self.activations, self.decode)

    @property
    def peak(self) -> int | None:
        """The whole run's peak, loading included (on the CPU loading briefly holds a second
        copy of the UNet's weights)."""
        if self.generating is None:
            return None
        return max(self.generating, self.runtime + self.weights + (self.load_transient or 0))

    def describe(self) -> str:
        if self.peak is None:
            return (f"estimated working memory {gib(max(self.activations, self.decode))} GiB "
                    "plus the model weights")
        text = (f"estimated peak memory {gib(self.generating)} GiB while generating "
                f"(weights {gib(self.weights)}, denoising {gib(self.activations)}, "
                f"decoding {gib(self.decode)})")
        if self.peak > self.generating:
            text += f", {gib(self.peak)} GiB for a moment while loading"
        return text


def gib(count: int) -> str:
    """Bytes in GiB to one decimal; "< 0.1" for a small nonzero amount (the tiny models' terms
    printed as a misleading 0.0)."""
    value = count / 2**30
    return "< 0.1" if 0 < value < 0.05 else f"{value:.1f}"


def _tensor_bytes(files, element_size: int, allow_pickle: bool, role: str) -> int:
    """Bytes of every tensor in `files` from their headers, after the pickle rule (a pickle is
    never read before the rule allows it)."""
    from backend.models.weights import tensor_shapes

    total = 0
    for path in files:
        for shape in tensor_shapes(path, role=role, label=str(path),
                                   allow_pickle=allow_pickle).values():
            count = 1
            for size in shape:
                count *= size
            total += count * element_size
    return total


def _weights(
    base: str, adapter: str, element_size: int, allow_pickle: bool = False
) -> tuple[int, int] | None:
    """(all weights, the UNet's own weights) from local files, or None."""
    base_path, adapter_path = Path(base).expanduser(), Path(adapter).expanduser()
    if not base_path.exists() or not adapter_path.exists():
        return None
    adapter_files = [adapter_path] if adapter_path.is_file() else sorted(adapter_path.glob("*.safetensors"))
    motion = _tensor_bytes(adapter_files, element_size, allow_pickle, "motion adapter")
    if base_path.is_file():
        everything = _tensor_bytes([base_path], element_size, allow_pickle, "base model")
        return everything + motion, everything * 3 // 4  # SD1.5: the UNet is ~3/4 of a checkpoint
    unet = _tensor_bytes(sorted((base_path / "unet").glob("*.safetensors")), element_size, False,
                         "base model")
    rest = sum(
        _tensor_bytes(sorted((base_path / name).glob("*.safetensors")), element_size, False,
                      "base model")
        for name in _COMPONENTS[1:]
    )
    return unet + rest + motion, unet


def _local_or(text: str, params: int, element_size: int, extra: str = "") -> int:
    """The weights of a local guidance model (file, or folder of .safetensors, plus `extra`, a
    folder beside a file); `params` values when it is a Hub id."""
    path = Path(text).expanduser()
    if not path.exists():
        return params * element_size
    files = [path] if path.is_file() else sorted(path.glob("*.safetensors"))
    if extra and path.is_file():
        files += sorted((path.parent / extra).glob("*.safetensors"))
    files = [f for f in files if f.suffix == ".safetensors"]
    return _tensor_bytes(files, element_size, False, "") if files else params * element_size


def guidance_weights(request: GenerationRequest, element_size: int) -> int:
    """Bytes of the ControlNets, SparseCtrl model and IP-Adapter (with its image encoder)."""
    total = sum(_local_or(c.model, CONTROLNET_PARAMS, element_size) for c in request.controls)
    if request.sparse_control is not None:
        total += _local_or(request.sparse_control.model, SPARSECTRL_PARAMS, element_size)
    if request.ip_adapter is not None:
        total += _local_or(request.ip_adapter_model, IP_ADAPTER_PARAMS, element_size,
                           extra="image_encoder")
    return total


def family_estimate(family, request: GenerationRequest, device: str, element_size: int,
                    savers: frozenset[str] = frozenset()) -> MemoryEstimate:
    """The estimate from a family's own terms (backend/families): weights counted from the
    folder's .safetensors headers where it is on disk, the family's sizes otherwise; with the
    family's memory savers named in `savers` on (offloading means nothing on the CPU)."""
    configs = model_configs(request.model.base_model, family)
    folder = Path(request.model.base_model).expanduser()
    weights: dict[str, int] = {}
    if folder.is_dir():
        for part, names in (("text_encoder", ("text_encoder",)), ("vae", ("vae",)),
                            ("transformer", ("transformer", "transformer_2"))):
            files = [f for name in names for f in sorted((folder / name).glob("*.safetensors"))]
            if files:
                weights[part] = _tensor_bytes(files, element_size, request.model.allow_pickle,
                                              part.replace("_", " "))
    savers = set(savers) | family.user_savers(request.model)
    terms = family.memory_terms(configs, request, element_size, weights)
    cpu = device == "cpu"
    held = {t.name: t.bytes for t in terms if t.phase == "weights"}
    if not cpu and "fp8_layerwise" in savers and "transformer" in held:
        held["transformer"] = held["transformer"] // element_size  # one byte per weight
    if not cpu and "text_encoder_cpu" in savers:
        held.pop("text_encoder", None)
    if cpu:
        on_device = sum(held.values())
    elif "group_offload" in savers or "sequential_offload" in savers:
        on_device = sum(held.values()) // SEQUENTIAL_SHARE
    elif "model_offload" in savers:
        on_device = max(held.values(), default=0)
    else:
        on_device = sum(held.values())
    work = {t.phase: t.bytes for t in terms if t.phase != "weights"}
    decode = work.get("decode", 0)
    if "vae_tiling" in savers:
        tile = min(request.height, FAMILY_VAE_TILE) * min(request.width, FAMILY_VAE_TILE)
        decode = decode * tile // (request.height * request.width)
    return MemoryEstimate(
        weights=on_device,
        load_transient=None,
        activations=work.get("denoise", 0),
        decode=decode,
        runtime=CPU_RUNTIME_BYTES if cpu else 0,
    )


def estimate_memory(request: GenerationRequest, device: str, element_size: int,
                    savers: frozenset[str] = frozenset()) -> MemoryEstimate:
    """The estimate for `request` on `device` ("cpu", "cuda", ...) with weights of
    `element_size` bytes (4 for float32, 2 for float16/bfloat16), with the memory savers named
    in `savers` on (backend/models/memory_plan.py). The request's own offload and VAE tiling
    count as savers too."""
    family = detect_family(request.model.base_model)
    if family.loads_itself:
        return family_estimate(family, request, device, element_size, savers)
    cpu = device == "cpu"
    savers = set(savers)
    if request.model.vae_tiling:
        savers.add("vae_tiling")
    if request.model.offload != "none":
        savers.add(f"{request.model.offload}_offload")
    batch = request.frames * (2 if request.guidance > 1.0 else 1)
    latent_pixels = (request.height // 8) * (request.width // 8)
    unet_scale = _width(request.model.base_model, "unet", UNET_BASE_CHANNELS)
    per_image = UNET_CHANNELS * unet_scale * latent_pixels * element_size
    if "split_inference" in savers:
        held = UNET_SPLIT_HELD_CHANNELS * unet_scale * latent_pixels * element_size * batch
        activations = int(held + per_image * min(batch, SPLIT_BATCH))
    else:
        activations = int(per_image * batch)
    controlnets = len(request.controls) + (request.sparse_control is not None)
    activations += int(activations * CONTROLNET_WORK_SHARE * controlnets)
    sliced = request.model.vae_slicing or "chunked_decode" in savers
    chunk = 1 if sliced else min(request.frames, DECODE_CHUNK)
    vae_scale = _width(request.model.base_model, "vae", VAE_BASE_CHANNELS)
    pixels = request.height * request.width
    if "vae_tiling" in savers:
        pixels = min(request.height, VAE_TILE) * min(request.width, VAE_TILE)
    output = request.frames * request.height * request.width * 3 * 4
    decode = int(VAE_WORK_CHANNELS * vae_scale * pixels * chunk * element_size
                 + output * OUTPUT_COPIES["cpu" if cpu else "accelerator"])
    weights = _weights(request.model.base_model, request.model.motion_adapter, element_size,
                       request.model.allow_pickle)
    if weights is not None:
        weights = (weights[0] + guidance_weights(request, element_size), weights[1])
    on_device = None
    if weights is not None:
        on_device = weights[0]
        if not cpu and "sequential_offload" in savers:
            on_device = weights[1] // SEQUENTIAL_SHARE
        elif not cpu and "model_offload" in savers:
            on_device = weights[1]
    return MemoryEstimate(
        weights=on_device,
        # Only a single-file base model still builds the motion UNet beside a second copy of the
        # UNet (backend/models/motion_unet.py builds it in place from a diffusers folder).
        load_transient=(weights[1] if weights is not None and cpu
                        and Path(request.model.base_model).expanduser().is_file() else None),
        activations=activations,
        decode=decode,
        runtime=(CPU_RUNTIME_BYTES + int(CPU_HEAP_SLACK * (weights[0] if weights else 0))
                 if cpu else 0),
    )


def _width(base: str, component: str, reference: int) -> float:
    """The component's first block width over SD1.5's, from a diffusers folder's config.json;
    1.0 when there is none to read (single files and Hub ids are taken to be SD1.5)."""
    config = Path(base).expanduser() / component / "config.json"
    try:
        channels = json.loads(config.read_text(encoding="utf-8"))["block_out_channels"][0]
        return int(channels) / reference
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return 1.0


def estimate_for(request: GenerationRequest) -> MemoryEstimate:
    """The estimate on the device and in the number format the request resolves to."""
    import torch

    from backend.models.loading import resolve_device, resolve_dtype

    device = resolve_device(request.model.device)
    element_size = torch.empty((), dtype=resolve_dtype(request.model.dtype, device)).element_size()
    return estimate_memory(request, device, element_size)
