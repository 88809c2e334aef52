"""A cheap preview of the frames while they denoise: latents mapped to RGB with fixed factors.

No VAE: a [4] latent pixel times a 4x3 matrix is an 8x-downscaled, roughly coloured picture,
good enough to watch the motion form at a fraction of a millisecond per frame.
"""

from __future__ import annotations

import numpy as np

# SD1.5 latent channels -> RGB, the factors ComfyUI and the web UIs use for their previews.
SD15_LATENT_RGB = np.array(
    [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ],
    dtype=np.float32,
)


def latents_to_rgb(latents) -> np.ndarray:
    """[1, C, F, h, w] (torch or numpy) -> uint8 [F, h, w, 3]. SD's 4 channels through the
    factors above; other models' latents (Wan's 16 or 48 channels) as a rough view: their
    first three channels, each scaled by its own spread, so the motion still shows."""
    if hasattr(latents, "detach"):
        latents = latents.detach().float().cpu().numpy()
    array = np.asarray(latents, dtype=np.float32)
    if array.ndim == 5:
        array = array[0]
    if array.ndim != 4 or array.shape[0] < 3:
        raise ValueError(f"expected latents [1, C, F, h, w], got {array.shape}")
    if array.shape[0] == 4:
        rgb = np.einsum("cfhw,cr->fhwr", array, SD15_LATENT_RGB)
    else:
        first = array[:3]
        spread = first.std(axis=(1, 2, 3), keepdims=True) + 1e-6
        rgb = np.moveaxis((first - first.mean(axis=(1, 2, 3), keepdims=True)) / (2 * spread), 0, -1)
    return np.clip((rgb + 1.0) * 127.5, 0, 255).astype(np.uint8)
