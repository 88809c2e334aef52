"""The motion UNet built without a second copy of the weights.

diffusers' AnimateDiffPipeline loads the 2D UNet, then `UNetMotionModel.from_unet2d` makes a new
motion UNet with fresh (random, float32) weights and copies the 2D UNet's and the adapter's into
it: for a moment the process holds the UNet twice, the float16 files widened to float32 beside
them, and the adapter's motion modules stay loaded as a second copy for as long as the pipeline
lives. Here the motion UNet's modules are made on the meta device (no memory), each 2D weight
is read from the base model's file straight into its place in the target number format, and the
motion modules are the adapter's own modules, shared, not copied. The weights are the same
values, so the frames are byte-identical (tests/backend/test_motion_unet.py).

Anything unusual (a base model that is one checkpoint file, pickle weights, a key this mapping
does not know) returns None, and the caller loads the diffusers way.
"""

from __future__ import annotations

import json
from pathlib import Path

WEIGHTS = "diffusion_pytorch_model.safetensors"
INDEX = "diffusion_pytorch_model.safetensors.index.json"


def unet_files(base: str) -> list[Path] | None:
    """The base model's UNet weight files as from_pretrained picks them (no variant), or None."""
    folder = Path(base) / "unet"
    if (folder / WEIGHTS).is_file():
        return [folder / WEIGHTS]
    if (folder / INDEX).is_file():
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        return [folder / name for name in sorted(set(index["weight_map"].values()))]
    return None


def _motion_module_lists(model):
    """(name, ModuleList) of every block's motion modules, in a fixed order."""
    blocks = [(f"down_blocks.{i}", b) for i, b in enumerate(model.down_blocks)]
    blocks += [(f"up_blocks.{i}", b) for i, b in enumerate(model.up_blocks)]
    if getattr(model, "mid_block", None) is not None:
        blocks.append(("mid_block", model.mid_block))
    return [(name, block) for name, block in blocks
            if getattr(block, "motion_modules", None) is not None]


def build_motion_unet(base: str, adapter, dtype):
    """The UNetMotionModel for the base model's UNet and `adapter` (a loaded MotionAdapter),
    or None when this base model must load the diffusers way."""
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel, UNetMotionModel
    from safetensors import safe_open

    files = unet_files(base)
    if files is None or getattr(adapter.config, "conv_in_channels", None):
        return None  # no safetensors UNet here, or a PIA adapter (its conv_in is merged)
    config = UNet2DConditionModel.load_config(base, subfolder="unet")
    with init_empty_weights():
        # from_unet2d moves the adapter it is given to the UNet's device: give it an empty one.
        unet_2d = UNet2DConditionModel.from_config(config)
        shape = type(adapter).from_config(adapter.config)
        model = UNetMotionModel.from_unet2d(unet_2d, shape, load_weights=False)
    del unet_2d, shape
    adapter_lists = dict(_motion_module_lists(adapter))
    own_lists = _motion_module_lists(model)
    if set(adapter_lists) != {name for name, _ in own_lists}:
        return None
    for name, block in own_lists:
        # diffusers builds the motion modules from the UNet's config (its norm groups, for
        # one), not the adapter's: where the adapter's modules are built otherwise (a single
        # file whose config was inferred), sharing them would change the frames.
        if repr(block.motion_modules) != repr(adapter_lists[name].motion_modules):
            return None
    for name, block in own_lists:
        block.motion_modules = adapter_lists[name].motion_modules
    wanted = {key for key, value in model.state_dict().items() if value.is_meta}
    state = {}
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                if key in wanted:
                    state[key] = handle.get_tensor(key).to(dtype)
    if set(state) != wanted:
        return None
    model.load_state_dict(state, strict=False, assign=True)
    del state
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        return None
    return model.to(dtype) if model.dtype != dtype else model
