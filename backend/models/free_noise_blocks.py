"""FreeNoise's transformer blocks swapped in and out without copying their weights.

diffusers turns FreeNoise on by building a new `FreeNoiseTransformerBlock` for every motion
module block (weights drawn at random, then the old block's weights copied in) and off by the
same copy back. For SD1.5's v1-5-2 adapter that is 1.5 GiB of new weights each way in float32:
on the CPU the copy is new memory beside the old (file-mapped) weights, so a long clip's job held
those blocks twice (64 frames at 256x256 peaked at 9.52 GiB, 7.90 GiB with this swap;
benchmarks/long_clip_memory.py), and each swap cost 2.4 s of random draws (0.09 s here). Here
the new block is built on the meta device and takes the old block's tensors as they are
(`load_state_dict(assign=True)`): the same weights, the same arithmetic, nothing allocated. The
pipeline's own `enable_free_noise` / `disable_free_noise` then find the blocks already swapped
and only set FreeNoise's properties.
"""

from __future__ import annotations

# The constructor arguments both block classes take, read from the block being replaced
# (diffusers' _enable_free_noise_in_block passes the same ones).
BLOCK_ARGUMENTS = (
    "dim", "num_attention_heads", "attention_head_dim", "dropout", "cross_attention_dim",
    "activation_fn", "attention_bias", "only_cross_attention", "double_self_attention",
    "positional_embeddings", "num_positional_embeddings",
)


def motion_blocks(unet) -> list:
    """The UNet's blocks that hold motion modules (the mid block only where it has them)."""
    blocks = [*unet.down_blocks, *unet.up_blocks]
    if hasattr(unet.mid_block, "motion_modules"):
        blocks.append(unet.mid_block)
    return blocks


def swap_block(old, new_class, **extra):
    """A `new_class` block holding `old`'s tensors (no copy), or None where some tensor of the
    new block has no counterpart in `old` (then the caller leaves the swap to diffusers)."""
    import torch

    with torch.device("meta"):
        new = new_class(**{name: getattr(old, name) for name in BLOCK_ARGUMENTS}, **extra)
    try:
        new.load_state_dict(old.state_dict(), strict=True, assign=True)
    except RuntimeError:
        return None
    # A non-persistent buffer is not in the state dict and would stay on the meta device.
    if any(t.is_meta for t in (*new.parameters(), *new.buffers())):
        return None
    new.train(old.training)
    new.set_chunk_feed_forward(old._chunk_size, old._chunk_dim)
    return new


def swap_free_noise_blocks(unet, on: bool, context_length: int = 16, context_stride: int = 4,
                           weighting_scheme: str = "pyramid") -> None:
    """Replace every motion module transformer block by FreeNoise's (on) or the plain one (off),
    sharing the weights. Blocks already of the wanted class, or that cannot be swapped without a
    copy, are left for diffusers' own enable/disable_free_noise, which runs after this."""
    from diffusers.models.attention import BasicTransformerBlock, FreeNoiseTransformerBlock

    old_class, new_class = ((BasicTransformerBlock, FreeNoiseTransformerBlock) if on
                            else (FreeNoiseTransformerBlock, BasicTransformerBlock))
    extra = ({"context_length": context_length, "context_stride": context_stride,
              "weighting_scheme": weighting_scheme} if on else {})
    for block in motion_blocks(unet):
        for motion_module in block.motion_modules:
            blocks = motion_module.transformer_blocks
            for i, old in enumerate(blocks):
                if type(old) is not old_class:
                    continue
                new = swap_block(old, new_class, **extra)
                if new is not None:
                    blocks[i] = new
