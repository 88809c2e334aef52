"""Plain diffusers Wan scripts, as the diffusers Wan documentation writes them.

What "byte-identical to diffusers" is measured against for Wan: no backend imports here.
"""

from __future__ import annotations

import numpy as np


def _run(pipe, seed, loras=(), **params) -> np.ndarray:
    import torch

    for name, path, _weight in loras:
        pipe.load_lora_weights(path, adapter_name=name)
    if loras:
        pipe.set_adapters([name for name, _, _ in loras], adapter_weights=[w for _, _, w in loras])
    output = pipe(generator=torch.Generator("cpu").manual_seed(seed), output_type="np", **params)
    return (output.frames[0] * 255).round().astype(np.uint8)


def text2video(folder, seed, loras=(), **params) -> np.ndarray:
    from diffusers import WanPipeline

    return _run(WanPipeline.from_pretrained(folder), seed, loras, **params)


def image2video(folder, image, seed, **params) -> np.ndarray:
    from diffusers import WanImageToVideoPipeline

    return _run(WanImageToVideoPipeline.from_pretrained(folder), seed, image=image, **params)


def video2video(folder, video, seed, **params) -> np.ndarray:
    from diffusers import WanVideoToVideoPipeline

    return _run(WanVideoToVideoPipeline.from_pretrained(folder), seed, video=video, **params)
