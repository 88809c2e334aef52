"""Turning the per-job memory savers on and off on a loaded AnimateDiff pipeline.

Split inference is diffusers' `enable_free_noise_split_inference` (the UNet's blocks wrapped in
`SplitInferenceModule`s that run the frames in batches of 16 and the motion modules in batches
of 256 rows) plus the UNet's feed-forward chunking. diffusers offers no way back, so
`remove_split_inference` unwraps the blocks itself: every job starts from the plain UNet, and
FreeNoise and LoRAs, which find blocks by name and type, always see it unwrapped.
"""

from __future__ import annotations

import math

TEMPORAL_SPLIT = 16  # diffusers' default: frames (times the CFG batch) per spatial batch
SPATIAL_SPLIT = 256  # diffusers' default: rows [batch x pixel] per motion-module batch
DECODE_CHUNK_ONE = 1  # chunked decoding: one frame through the VAE at a time


def remove_split_inference(pipe) -> None:
    """Unwrap every SplitInferenceModule in the UNet and turn feed-forward chunking off."""
    from diffusers.pipelines.free_noise_utils import SplitInferenceModule

    unet = pipe.unet
    wrapped = [(parent, name, child) for parent in unet.modules()
               for name, child in parent.named_children()
               if isinstance(child, SplitInferenceModule)]
    # Innermost first, so a wrapper around a wrapper comes apart fully.
    for parent, name, child in reversed(wrapped):
        inner = child.module
        while isinstance(inner, SplitInferenceModule):
            inner = inner.module
        setattr(parent, name, inner)
    unet.disable_forward_chunking()


def feed_forward_chunk(frames: int, height: int, width: int, cfg_batch: int, levels: int) -> int:
    """A feed-forward chunk size along the batch that divides every batch the split UNet's
    transformer blocks see (diffusers refuses a chunk that does not divide): the spatial
    blocks' batches of 16 frames and their remainder, and the motion modules' batches of 256
    rows at every level of the UNet and theirs."""
    sizes = {min(TEMPORAL_SPLIT, frames * cfg_batch), (frames * cfg_batch) % TEMPORAL_SPLIT}
    h, w = height // 8, width // 8
    for _ in range(levels):
        rows = cfg_batch * h * w
        sizes |= {min(SPATIAL_SPLIT, rows), rows % SPATIAL_SPLIT}
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return math.gcd(*(size for size in sizes if size))


def apply_split_inference(pipe, frames: int, height: int, width: int, cfg_batch: int) -> None:
    """Run the UNet in pieces: frames in batches of 16 through the spatial layers, rows in
    batches of 256 through the motion modules, and feed-forward layers chunked."""
    pipe.enable_free_noise_split_inference(spatial_split_size=SPATIAL_SPLIT,
                                           temporal_split_size=TEMPORAL_SPLIT)
    levels = len(pipe.unet.config.block_out_channels)
    chunk = feed_forward_chunk(frames, height, width, cfg_batch, levels)
    pipe.unet.enable_forward_chunking(chunk_size=chunk, dim=0)
