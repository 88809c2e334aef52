"""Plain diffusers scripts for guided clips, following the documentation's recipes: ControlNet
(AnimateDiffControlNetPipeline, AnimateDiffVideoToVideoControlNetPipeline), SparseCtrl
(AnimateDiffSparseControlNetPipeline) and IP-Adapter (`load_ip_adapter`).

What "byte-identical" is measured against, so no backend imports here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _ddim(model_id):
    """The AnimateDiff documentation's DDIM scheduler."""
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_pretrained(
        model_id, subfolder="scheduler", clip_sample=False, timestep_spacing="linspace",
        beta_schedule="linear", steps_offset=1,
    )


def _frames(output) -> np.ndarray:
    return np.stack([np.asarray(image) for image in output.frames[0]])


def _generator(seed):
    import torch

    return torch.Generator("cpu").manual_seed(seed)


def _load_ip_adapter(pipe, ip_adapter) -> None:
    """ip_adapter: (weights file, scale); the encoder is `image_encoder/` beside the file, as in
    h94/IP-Adapter's `models/` folder."""
    path, scale = Path(ip_adapter[0]), ip_adapter[1]
    pipe.load_ip_adapter(
        str(path.parent), subfolder="", weight_name=path.name, image_encoder_folder="image_encoder"
    )
    pipe.set_ip_adapter_scale(scale)


def controlnet_text2video(
    base, adapter_path, controlnets, conditioning_frames, prompt, negative_prompt, seed,
    ip_adapter=None, ip_image=None, **params,
) -> np.ndarray:
    """controlnets: folders; conditioning_frames: one list of PIL images per ControlNet."""
    from diffusers import AnimateDiffControlNetPipeline, ControlNetModel, MotionAdapter

    adapter = MotionAdapter.from_pretrained(adapter_path)
    models = [ControlNetModel.from_pretrained(path) for path in controlnets]
    pipe = AnimateDiffControlNetPipeline.from_pretrained(
        base, motion_adapter=adapter, controlnet=models[0] if len(models) == 1 else models
    )
    pipe.scheduler = _ddim(base)
    if ip_adapter is not None:
        _load_ip_adapter(pipe, ip_adapter)
        params["ip_adapter_image"] = ip_image
    output = pipe(
        prompt=prompt,
        negative_prompt=negative_prompt,
        conditioning_frames=conditioning_frames[0] if len(models) == 1 else conditioning_frames,
        generator=_generator(seed),
        **params,
    )
    return _frames(output)


def controlnet_video2video(
    base, adapter_path, controlnet, video, conditioning_frames, prompt, negative_prompt, seed,
    **params,
) -> np.ndarray:
    from diffusers import AnimateDiffVideoToVideoControlNetPipeline, ControlNetModel, MotionAdapter

    adapter = MotionAdapter.from_pretrained(adapter_path)
    model = ControlNetModel.from_pretrained(controlnet)
    pipe = AnimateDiffVideoToVideoControlNetPipeline.from_pretrained(
        base, motion_adapter=adapter, controlnet=model
    )
    pipe.scheduler = _ddim(base)
    output = pipe(
        video=video,
        prompt=prompt,
        negative_prompt=negative_prompt,
        conditioning_frames=conditioning_frames,
        generator=_generator(seed),
        **params,
    )
    return _frames(output)


def sparse_control(
    base, adapter_path, controlnet, images, indices, prompt, negative_prompt, seed, **params
) -> np.ndarray:
    from diffusers import AnimateDiffSparseControlNetPipeline, MotionAdapter, SparseControlNetModel

    adapter = MotionAdapter.from_pretrained(adapter_path)
    model = SparseControlNetModel.from_pretrained(controlnet)
    pipe = AnimateDiffSparseControlNetPipeline.from_pretrained(
        base, motion_adapter=adapter, controlnet=model
    )
    pipe.scheduler = _ddim(base)
    output = pipe(
        prompt=prompt,
        negative_prompt=negative_prompt,
        conditioning_frames=images,
        controlnet_frame_indices=indices,
        generator=_generator(seed),
        **params,
    )
    return _frames(output)


def ip_adapter_text2video(
    base, adapter_path, ip_file, scale, image, prompt, negative_prompt, seed, **params
) -> np.ndarray:
    from diffusers import AnimateDiffPipeline, MotionAdapter

    adapter = MotionAdapter.from_pretrained(adapter_path)
    pipe = AnimateDiffPipeline.from_pretrained(base, motion_adapter=adapter)
    pipe.scheduler = _ddim(base)
    _load_ip_adapter(pipe, (ip_file, scale))
    output = pipe(
        prompt=prompt,
        negative_prompt=negative_prompt,
        ip_adapter_image=image,
        generator=_generator(seed),
        **params,
    )
    return _frames(output)
