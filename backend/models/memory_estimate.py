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

# Working memory in float-sized values per latent pixel per image in the UNet's batch:
# measured 725 MiB for 16 images of 32x32 latents (fp32) in SD1.5's motion UNet; 370 MiB for 8.
UNET_CHANNELS = 11600
UNET_BASE_CHANNELS = 320  # SD1.5's first block, for scaling other widths
# Per output pixel per decoded frame in SD1.5's VAE decoder: measured 776 (256x256), 960 (512).
VAE_WORK_CHANNELS = 1024
VAE_BASE_CHANNELS = 128
DECODE_CHUNK = 16  # AnimateDiffPipeline.decode_latents' default decode_chunk_size
CPU_RUNTIME_BYTES = 600 * 2**20  # Python, torch and libraries, resident before any model
CPU_HEAP_SLACK = 0.34  # of the weights: freed while loading, still resident (0.23-0.27 measured)
_COMPONENTS = ("unet", "text_encoder", "vae")


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int | None  # None when the models are not on disk here (Hub ids not cached)
    load_transient: int | None  # the UNet's 2D weights, held while the motion UNet is built
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


def _safetensors_bytes(files, element_size: int) -> int:
    from safetensors import safe_open

    total = 0
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                count = 1
                for size in handle.get_slice(key).get_shape():
                    count *= size
                total += count * element_size
    return total


def _weights(base: str, adapter: str, element_size: int) -> tuple[int, int] | None:
    """(all weights, the UNet's own weights) from local files, or None."""
    base_path, adapter_path = Path(base).expanduser(), Path(adapter).expanduser()
    if not base_path.exists() or not adapter_path.exists():
        return None
    adapter_files = [adapter_path] if adapter_path.is_file() else sorted(adapter_path.glob("*.safetensors"))
    motion = _safetensors_bytes(adapter_files, element_size)
    if base_path.is_file():
        everything = _safetensors_bytes([base_path], element_size)
        return everything + motion, everything * 3 // 4  # SD1.5: the UNet is ~3/4 of a checkpoint
    unet = _safetensors_bytes(sorted((base_path / "unet").glob("*.safetensors")), element_size)
    rest = sum(
        _safetensors_bytes(sorted((base_path / name).glob("*.safetensors")), element_size)
        for name in _COMPONENTS[1:]
    )
    return unet + rest + motion, unet


def estimate_memory(request: GenerationRequest, device: str, element_size: int) -> MemoryEstimate:
    """The estimate for `request` on `device` ("cpu", "cuda", ...) with weights of
    `element_size` bytes (4 for float32, 2 for float16/bfloat16)."""
    batch = request.frames * (2 if request.guidance > 1.0 else 1)
    latent_pixels = (request.height // 8) * (request.width // 8)
    unet_scale = _width(request.model.base_model, "unet", UNET_BASE_CHANNELS)
    activations = int(UNET_CHANNELS * unet_scale * latent_pixels * batch * element_size)
    chunk = 1 if request.model.vae_slicing else min(request.frames, DECODE_CHUNK)
    vae_scale = _width(request.model.base_model, "vae", VAE_BASE_CHANNELS)
    decode = int(VAE_WORK_CHANNELS * vae_scale * request.height * request.width * chunk
                 * element_size)
    weights = _weights(request.model.base_model, request.model.motion_adapter, element_size)
    offload = request.model.offload != "none" and device != "cpu"
    cpu = device == "cpu"
    return MemoryEstimate(
        weights=None if weights is None else (weights[1] if offload else weights[0]),
        load_transient=None if weights is None or not cpu else weights[1],
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
