"""Model upscaling with spandrel's core architectures (Real-ESRGAN and its kin).

Weights load through the one pickle rule; spandrel finds the architecture from the state dict.
Frames run in 512-pixel tiles with 32 pixels of overlap, blended linearly across the overlap as
ComfyUI does; on out-of-memory the tile halves. A frame no larger than a tile is one plain call
of spandrel's model. Another factor than the model's resizes its output with Lanczos.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.core.errors import CancelCheck, InputError, OutOfMemoryError, cancel_check
from backend.finishing.progress import ProgressCallback, StepCounter
from backend.models.weights import load_weights

TILE = 512
OVERLAP = 32
SMALLEST_TILE = 64
MAX_FACTOR = 8.0


@dataclass
class Upscaler:
    model: object  # spandrel's ImageModelDescriptor
    path: Path

    @property
    def scale(self) -> int:
        return int(self.model.scale)

    @property
    def name(self) -> str:
        return f"{self.model.architecture.name} x{self.scale}"


def load_upscaler(path: str | Path, allow_pickle: bool = False) -> Upscaler:
    """spandrel's model for `path`; InputError when it is not an image-to-image upscaler."""
    from backend.finishing.spandrel_import import import_spandrel

    spandrel = import_spandrel()
    path = Path(path)
    state = load_weights(path, allow_pickle=allow_pickle, role="upscale model")
    if not isinstance(state, dict):
        raise InputError(f"upscale model {str(path)!r} does not hold a state dict of tensors")
    try:
        model = spandrel.ModelLoader(device="cpu").load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise InputError(
            f"{str(path)!r} is not an upscaling model spandrel knows (Real-ESRGAN, ESRGAN, "
            "SwinIR, HAT, ...); give an image upscaler's weights"
        ) from None
    except Exception as exc:
        raise InputError(f"{str(path)!r} could not be loaded as an upscaler ({exc})") from None
    is_image = isinstance(model, spandrel.ImageModelDescriptor)
    if not is_image or model.purpose != "SR" or model.scale < 2 or model.input_channels != 3 \
            or model.output_channels != 3:
        what = f"a {model.architecture.name} {model.purpose} model (x{model.scale})"
        raise InputError(
            f"{str(path)!r} is {what}, not an image-to-image upscaler; give an upscaler's weights"
        )
    return Upscaler(model.eval(), path)


def check_factor(factor: float | None) -> None:
    if factor is not None and not 1.0 < factor <= MAX_FACTOR:  # False for NaN
        raise InputError(f"--upscale takes a factor above 1 and up to {MAX_FACTOR:g}, got {factor:g}")


def output_size(width: int, height: int, factor: float) -> tuple[int, int]:
    return round(width * factor), round(height * factor)


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def _ramp(length: int, feather: int, at_start: bool, at_end: bool):
    import torch

    weight = torch.ones(length)
    ramp = torch.arange(1, feather + 1, dtype=torch.float32) / (feather + 1)
    if at_start:
        weight[:feather] = ramp
    if at_end:
        weight[length - feather :] = ramp.flip(0)
    return weight


def upscale_tiled(model, image, tile: int = TILE, overlap: int = OVERLAP):
    """Upscale one image (1, 3, H, W) in overlapping tiles, each a plain call of `model`."""
    import torch

    _, _, height, width = image.shape
    if height <= tile and width <= tile:
        return model(image)
    scale = model.scale
    out = torch.zeros((1, 3, height * scale, width * scale), dtype=torch.float32, device=image.device)
    weights = torch.zeros((1, 1, height * scale, width * scale), dtype=torch.float32, device=image.device)
    ys, xs = _starts(height, tile, overlap), _starts(width, tile, overlap)
    feather = overlap * scale
    for y in ys:
        for x in xs:
            part = model(image[:, :, y : y + tile, x : x + tile]).float()
            h, w = part.shape[2], part.shape[3]
            wy = _ramp(h, feather, y > 0, y + tile < height).to(image.device)
            wx = _ramp(w, feather, x > 0, x + tile < width).to(image.device)
            mask = wy.view(1, 1, h, 1) * wx.view(1, 1, 1, w)
            oy, ox = y * scale, x * scale
            out[:, :, oy : oy + h, ox : ox + w] += part * mask
            weights[:, :, oy : oy + h, ox : ox + w] += mask
    return (out / weights).to(image.dtype)


def upscale_frames(
    frames: np.ndarray,
    upscaler: Upscaler,
    factor: float | None = None,
    device: str = "cpu",
    on_progress: ProgressCallback | None = None,
    cancel: CancelCheck = None,
    tile: int = TILE,
) -> np.ndarray:
    """`frames` (uint8 [F, H, W, 3]) upscaled by `factor` (default: the model's own scale)."""
    import torch

    factor = float(factor or upscaler.scale)
    check_factor(factor)
    count, height, width = frames.shape[:3]
    target_w, target_h = output_size(width, height, factor)
    model = upscaler.model.to(torch.device(device))
    if torch.device(device).type == "cuda" and model.supports_half:
        model = model.half()
    else:
        model = model.float()
    dtype = model.dtype
    out = np.empty((count, target_h, target_w, 3), dtype=np.uint8)
    counter = StepCounter("upscaling", count, on_progress, cancel_check(cancel))
    for index in range(count):
        image = torch.from_numpy(np.ascontiguousarray(frames[index])).to(model.device)
        image = image.permute(2, 0, 1).unsqueeze(0).to(dtype) / 255.0
        while True:
            try:
                result = upscale_tiled(model, image, tile)
                break
            except Exception as exc:
                if not _is_out_of_memory(exc) or tile // 2 < SMALLEST_TILE:
                    if _is_out_of_memory(exc):
                        raise OutOfMemoryError(
                            "out of memory while upscaling, even in small tiles; free memory "
                            "or upscale on the CPU"
                        ) from exc
                    raise
                tile //= 2
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
        pixels = (result[0].float().clamp(0, 1) * 255.0).round().to(torch.uint8)
        pixels = pixels.permute(1, 2, 0).cpu().numpy()
        if pixels.shape[:2] != (target_h, target_w):
            from PIL import Image

            resized = Image.fromarray(pixels).resize((target_w, target_h), Image.Resampling.LANCZOS)
            pixels = np.asarray(resized)
        out[index] = pixels
        counter.advance()
    return out
