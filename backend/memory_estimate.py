"""A rough peak-memory estimate for a job, before anything loads.

Weights are summed from the .safetensors headers (no tensor is read). Activations follow the
SD1.5 UNet's layout: the skip connections the UNet keeps while it descends, plus the largest
transient working set (a transformer block's feed-forward at full latent resolution), for every
image in the batch (frames x 2 with classifier-free guidance); the VAE decoder's full-resolution
layers for the frames it decodes at once. The coefficients come from that layout and were
checked against measured peaks by benchmarks/full_size.py; treat the result as +-30%.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.request import GenerationRequest

# Channel-equivalents per latent pixel (x latent h*w x batch x bytes), from SD1.5's UNet.
UNET_SKIP_CHANNELS = 1720  # down-block outputs kept for the up blocks
UNET_WORK_CHANNELS = 6400  # GEGLU feed-forward (2560 + 1280 + 1280) and its neighbours at 320
# Channel-equivalents per output pixel, per decoded frame, in the VAE decoder's last blocks.
VAE_WORK_CHANNELS = 1024
DECODE_CHUNK = 16  # AnimateDiffPipeline.decode_latents' default decode_chunk_size
CPU_RUNTIME_BYTES = 600 * 2**20  # Python, torch and libraries, resident before any model
_COMPONENTS = ("unet", "text_encoder", "vae")


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int | None  # None when the models are not on disk here (Hub ids not cached)
    load_transient: int | None  # the UNet's 2D weights, held while the motion UNet is built
    activations: int
    decode: int
    runtime: int

    @property
    def peak(self) -> int | None:
        if self.weights is None:
            return None
        running = self.weights + max(self.activations, self.decode)
        return self.runtime + max(running, self.weights + (self.load_transient or 0))

    def describe(self) -> str:
        gib = 2**30
        if self.peak is None:
            return (f"estimated working memory {max(self.activations, self.decode) / gib:.1f} GiB "
                    "plus the model weights")
        return (f"estimated peak memory {self.peak / gib:.1f} GiB (weights {self.weights / gib:.1f}, "
                f"denoising {self.activations / gib:.1f}, decoding {self.decode / gib:.1f})")


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
    activations = (UNET_SKIP_CHANNELS + UNET_WORK_CHANNELS) * latent_pixels * batch * element_size
    chunk = 1 if request.model.vae_slicing else min(request.frames, DECODE_CHUNK)
    decode = VAE_WORK_CHANNELS * request.height * request.width * chunk * element_size
    weights = _weights(request.model.base_model, request.model.motion_adapter, element_size)
    offload = request.model.offload != "none" and device != "cpu"
    return MemoryEstimate(
        weights=None if weights is None else (weights[1] if offload else weights[0]),
        load_transient=None if weights is None or device != "cpu" else weights[1],
        activations=activations,
        decode=decode,
        runtime=CPU_RUNTIME_BYTES if device == "cpu" else 0,
    )


def estimate_for(request: GenerationRequest) -> MemoryEstimate:
    """The estimate on the device and in the number format the request resolves to."""
    import torch

    from backend.models import resolve_device, resolve_dtype

    device = resolve_device(request.model.device)
    element_size = torch.empty((), dtype=resolve_dtype(request.model.dtype, device)).element_size()
    return estimate_memory(request, device, element_size)
