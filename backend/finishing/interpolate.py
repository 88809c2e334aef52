"""Frame interpolation with RIFE v4.25/v4.26: 2x or 4x the frames, the same length of clip.

2x puts the frame at t = 1/2 between each pair (2n - 1 frames); 4x puts t = 1/4, 2/4, 3/4
directly, as Practical-RIFE's `--multi` does for v4 models (4n - 3 frames). Frames are padded on
the right and bottom to a multiple of 128/scale as the reference inference does, and each
frame is moved to the device and encoded once, never twice.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from backend.core.errors import CancelCheck, InputError, cancel_check
from backend.finishing.progress import ProgressCallback, StepCounter
from backend.models.weights import load_weights

if TYPE_CHECKING:  # the network needs torch: loaded when a model is, not with the CLI
    from backend.finishing.ifnet import IFNet

FACTORS = (2, 4)
SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
EXPECTED = "a RIFE v4.25/v4.26 IFNet (Practical-RIFE's train_log/flownet.pkl, or it as .safetensors)"


def check_factor(factor: int) -> None:
    if factor not in FACTORS:
        raise InputError(f"--interpolate takes 2 or 4, got {factor}")


def check_scale(scale: float) -> None:
    if scale not in SCALES:
        raise InputError(f"--interpolation-scale takes 0.25, 0.5, 1, 2 or 4, got {scale:g}")


def interpolated_count(frames: int, factor: int) -> int:
    return (frames - 1) * factor + 1 if frames else 0


def _state_dict_from_zip(path: Path, allow_pickle: bool) -> dict:
    """The official release is a zip of train_log/: read its flownet.pkl, nothing else."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "flownet.pkl"]
        if not names:
            raise InputError(f"{str(path)!r} holds no flownet.pkl; expected {EXPECTED}")
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "flownet.pkl"
            target.write_bytes(archive.read(names[0]))
            return load_weights(target, allow_pickle=allow_pickle, role="interpolation model")


def load_ifnet(path: str | Path, allow_pickle: bool = False) -> IFNet:
    """An IFNet with the weights of `path` (.safetensors, .pkl/.pth, or the release .zip);
    InputError naming the expected model when they are not a v4.25/v4.26 IFNet."""
    from backend.finishing.ifnet import ENCODER_CHANNELS, IFNet

    path = Path(path)
    if path.suffix.lower() == ".zip":
        state = _state_dict_from_zip(path, allow_pickle)
    else:
        state = load_weights(path, allow_pickle=allow_pickle, role="interpolation model")
    if not isinstance(state, dict):
        raise InputError(f"{str(path)!r} is not {EXPECTED}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    encoder = state.get("encode.cnn3.weight")
    channels = int(encoder.shape[1]) if encoder is not None and encoder.ndim == 4 else None
    if channels not in ENCODER_CHANNELS:
        raise InputError(f"{str(path)!r} is not {EXPECTED}")
    net = IFNet(channels)
    expected = net.state_dict()
    wrong = [k for k, v in expected.items() if getattr(state.get(k), "shape", None) != v.shape]
    extra = [k for k in state if k not in expected]
    if wrong or extra:
        first = (wrong or extra)[0]
        raise InputError(f"{str(path)!r} is not {EXPECTED} (key {first!r} differs)")
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval()


def _to_tensor(frame: np.ndarray, padding: tuple[int, int, int, int], device, dtype):
    import torch
    from torch.nn import functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(frame)).to(device).permute(2, 0, 1)
    tensor = tensor.unsqueeze(0).to(dtype) / 255.0
    return F.pad(tensor, padding)


def interpolate_frames(
    frames: np.ndarray,
    net: IFNet,
    factor: int,
    scale: float = 1.0,
    device: str = "cpu",
    on_progress: ProgressCallback | None = None,
    cancel: CancelCheck = None,
    dtype=None,
) -> np.ndarray:
    """`frames` (uint8 [F, H, W, 3]) with factor - 1 new frames between each pair."""
    import torch

    from backend.finishing.ifnet import padding_multiple

    check_factor(factor)
    check_scale(scale)
    count, height, width = frames.shape[0], frames.shape[1], frames.shape[2]
    dtype = dtype or torch.float32
    multiple = padding_multiple(scale)
    padded_h = -(-height // multiple) * multiple
    padded_w = -(-width // multiple) * multiple
    padding = (0, padded_w - width, 0, padded_h - height)
    out = np.empty((interpolated_count(count, factor), height, width, 3), dtype=np.uint8)
    counter = StepCounter("interpolating", max(0, count - 1), on_progress, cancel_check(cancel))
    if count == 0:
        return out
    net = net.to(device=device, dtype=dtype)
    times = torch.tensor([(i + 1) / factor for i in range(factor - 1)], device=device, dtype=dtype)
    t_map = times.view(-1, 1, 1, 1).expand(-1, 1, padded_h, padded_w)
    with torch.inference_mode():
        current = _to_tensor(frames[0], padding, device, dtype)
        current_features = net.features(current)
        out[0] = frames[0]
        for index in range(1, count):
            following = _to_tensor(frames[index], padding, device, dtype)
            following_features = net.features(following)
            batch = factor - 1
            middle = net(
                current.expand(batch, -1, -1, -1),
                following.expand(batch, -1, -1, -1),
                t_map,
                scale,
                current_features.expand(batch, -1, -1, -1),
                following_features.expand(batch, -1, -1, -1),
            )
            start = (index - 1) * factor
            out[start + 1 : start + factor] = _to_uint8(middle[:, :, :height, :width])
            out[start + factor] = frames[index]
            current, current_features = following, following_features
            counter.advance()
    return out


def _to_uint8(images) -> np.ndarray:
    """(N, 3, H, W) in [0, 1] to uint8 (N, H, W, 3), rounded."""
    import torch

    scaled = (images.float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()
