"""Single-file motion modules.

Two kinds of file exist. Files in diffusers' key names (AnimateDiff-Lightning's `*_diffusers`
files) carry no configuration: their model card builds `MotionAdapter()` and loads the state dict
into it. We read what the tensor shapes fix (channels, layers, window length, mid block) and keep
MotionAdapter's defaults for the rest, so the real files load exactly as the card loads them and
smaller ones load too. Files in the original AnimateDiff key names go through diffusers'
single-file loader, which knows their layout.
"""

from __future__ import annotations

import re
from typing import Any

from backend.core.errors import InputError

_MODULE = re.compile(r"^(down_blocks|up_blocks)\.(\d+)\.motion_modules\.(\d+)\.")
_TRANSFORMER = re.compile(r"^down_blocks\.0\.motion_modules\.0\.transformer_blocks\.(\d+)\.")
_MID = re.compile(r"^mid_block\.motion_modules\.(\d+)\.")
_MID_TRANSFORMER = re.compile(r"^mid_block\.motion_modules\.0\.transformer_blocks\.(\d+)\.")


def read_shapes(path: str, label: str) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from a .safetensors header, without reading the weights."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type
        raise InputError(
            f"{label}: the weights file is truncated or corrupt ({str(exc).strip()[:80]}); "
            "download it again"
        ) from None


def is_diffusers_motion_file(keys) -> bool:
    return any(_MODULE.match(key) and ".attn1." in key for key in keys)


def infer_adapter_config(shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """MotionAdapter arguments that the tensor shapes determine."""
    channels: dict[int, int] = {}
    down_layers: dict[int, int] = {}
    for key, shape in shapes.items():
        match = _MODULE.match(key)
        if match and match[1] == "down_blocks":
            block, index = int(match[2]), int(match[3])
            down_layers[block] = max(down_layers.get(block, 0), index + 1)
            if key.endswith(".proj_in.weight"):
                channels[block] = shape[0]
    if not channels or sorted(channels) != list(range(len(channels))):
        raise InputError("no motion modules in the down blocks")
    config: dict[str, Any] = {
        "block_out_channels": tuple(channels[i] for i in range(len(channels))),
        "motion_layers_per_block": down_layers[0],
    }
    transformer = [int(m[1]) for key in shapes if (m := _TRANSFORMER.match(key))]
    if transformer:
        config["motion_transformer_layers_per_block"] = max(transformer) + 1
    for key, shape in shapes.items():
        if key.endswith("pos_embed.pe") and len(shape) == 3:
            config["motion_max_seq_length"] = shape[1]
            break
    mid = [int(m[1]) for key in shapes if (m := _MID.match(key))]
    config["use_motion_mid_block"] = bool(mid)
    if mid:
        config["motion_mid_block_layers_per_block"] = max(mid) + 1
        mid_transformer = [int(m[1]) for key in shapes if (m := _MID_TRANSFORMER.match(key))]
        if mid_transformer:
            config["motion_transformer_layers_per_mid_block"] = max(mid_transformer) + 1
    return config


def load_motion_file(path: str, dtype, label: str):
    """A MotionAdapter from one .safetensors (or, when allowed, pickle) file."""
    from diffusers import MotionAdapter

    if not path.lower().endswith(".safetensors"):
        return MotionAdapter.from_single_file(path, dtype=dtype)
    shapes = read_shapes(path, f"motion adapter {label!r}")
    if not is_diffusers_motion_file(shapes):
        if not any("motion_modules" in key for key in shapes):
            raise InputError(
                f"motion adapter {label!r} holds no motion modules (is it a LoRA or a base "
                "model? those go in their own fields)"
            )
        return MotionAdapter.from_single_file(path, dtype=dtype)
    from safetensors.torch import load_file

    try:
        config = infer_adapter_config(shapes)
    except InputError as exc:
        raise InputError(f"motion adapter {label!r}: {exc}") from None
    adapter = MotionAdapter(**config)
    try:
        adapter.load_state_dict(load_file(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise InputError(
            f"motion adapter {label!r} does not match the motion adapter layout its shapes "
            f"suggest ({first[-1].strip()[:100] if first else exc})"
        ) from None
    return adapter.to(dtype=dtype)
