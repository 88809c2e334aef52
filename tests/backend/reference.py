"""Plain diffusers scripts that follow the documentation's recipes line by line.

They are what "byte-identical to diffusers" is measured against, so they must not use any of
our code: no backend imports here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _ddim(model_id):
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_pretrained(
        model_id,
        subfolder="scheduler",
        clip_sample=False,
        timestep_spacing="linspace",
        beta_schedule="linear",
        steps_offset=1,
    )


def _frames(output) -> np.ndarray:
    return np.stack([np.asarray(image) for image in output.frames[0]])


def text2video(
    base, adapter_path, prompt, negative_prompt, seed, loras=(), embeddings=(), **params
) -> np.ndarray:
    import torch
    from diffusers import AnimateDiffPipeline, MotionAdapter

    adapter = MotionAdapter.from_pretrained(adapter_path)
    pipe = AnimateDiffPipeline.from_pretrained(base, motion_adapter=adapter)
    for name, path, _weight in loras:
        pipe.load_lora_weights(path, adapter_name=name)
    if loras:
        pipe.set_adapters([name for name, _, _ in loras], adapter_weights=[w for _, _, w in loras])
    for path, token in embeddings:
        pipe.load_textual_inversion(path, token=token)
    pipe.scheduler = _ddim(base)
    output = pipe(
        prompt=prompt,
        negative_prompt=negative_prompt,
        generator=torch.Generator("cpu").manual_seed(seed),
        **params,
    )
    return _frames(output)


def video2video(base, adapter_path, video_folder, prompt, negative_prompt, seed, **params):
    import torch
    from diffusers import AnimateDiffVideoToVideoPipeline, MotionAdapter
    from PIL import Image

    adapter = MotionAdapter.from_pretrained(adapter_path)
    pipe = AnimateDiffVideoToVideoPipeline.from_pretrained(base, motion_adapter=adapter)
    pipe.scheduler = _ddim(base)
    video = [Image.open(p).convert("RGB") for p in sorted(Path(video_folder).iterdir())]
    output = pipe(
        video=video,
        prompt=prompt,
        negative_prompt=negative_prompt,
        generator=torch.Generator("cpu").manual_seed(seed),
        **params,
    )
    return _frames(output)


def lightning(base, adapter_file, adapter_config, prompt, negative_prompt, seed, steps, **params):
    """AnimateDiff-Lightning's model card: MotionAdapter() plus the file's state dict (for the
    tiny file, the few arguments it was built with), Euler trailing, guidance 1.0."""
    import torch
    from diffusers import AnimateDiffPipeline, EulerDiscreteScheduler, MotionAdapter
    from safetensors.torch import load_file

    adapter = MotionAdapter(**adapter_config)
    adapter.load_state_dict(load_file(adapter_file))
    pipe = AnimateDiffPipeline.from_pretrained(base, motion_adapter=adapter)
    pipe.scheduler = EulerDiscreteScheduler.from_config(
        pipe.scheduler.config, timestep_spacing="trailing", beta_schedule="linear"
    )
    output = pipe(
        prompt=prompt,
        negative_prompt=negative_prompt,
        guidance_scale=1.0,
        num_inference_steps=steps,
        generator=torch.Generator("cpu").manual_seed(seed),
        **params,
    )
    return _frames(output)


def animatelcm(base, adapter_path, lora_file, prompt, negative_prompt, seed, **params):
    """The diffusers documentation's AnimateLCM recipe: LCM with linear betas, the AnimateLCM
    LoRA at 0.8, guidance 1.5, 6 steps."""
    import torch
    from diffusers import AnimateDiffPipeline, LCMScheduler, MotionAdapter

    adapter = MotionAdapter.from_pretrained(adapter_path)
    pipe = AnimateDiffPipeline.from_pretrained(base, motion_adapter=adapter)
    pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config, beta_schedule="linear")
    lora_file = Path(lora_file)
    pipe.load_lora_weights(str(lora_file.parent), weight_name=lora_file.name, adapter_name="lcm-lora")
    pipe.set_adapters(["lcm-lora"], [0.8])
    output = pipe(
        prompt=prompt,
        negative_prompt=negative_prompt,
        guidance_scale=1.5,
        num_inference_steps=6,
        generator=torch.Generator("cpu").manual_seed(seed),
        **params,
    )
    return _frames(output)


def text2video_with_saver(base, adapter_path, prompt, negative_prompt, seed, saver,
                          ff_chunk=None, **params) -> np.ndarray:
    """The documentation's recipe with one of diffusers' memory savers on: chunked decoding
    (`decode_chunk_size`), split inference (`enable_free_noise_split_inference` plus the UNet's
    feed-forward chunking by `ff_chunk`), or VAE tiling."""
    import torch
    from diffusers import AnimateDiffPipeline, MotionAdapter

    adapter = MotionAdapter.from_pretrained(adapter_path)
    pipe = AnimateDiffPipeline.from_pretrained(base, motion_adapter=adapter)
    pipe.scheduler = _ddim(base)
    if saver == "chunked_decode":
        params["decode_chunk_size"] = 1
    elif saver == "split_inference":
        pipe.enable_free_noise_split_inference(spatial_split_size=256, temporal_split_size=16)
        pipe.unet.enable_forward_chunking(chunk_size=ff_chunk, dim=0)
    elif saver == "vae_tiling":
        pipe.vae.enable_tiling()
    output = pipe(
        prompt=prompt,
        negative_prompt=negative_prompt,
        generator=torch.Generator("cpu").manual_seed(seed),
        **params,
    )
    return (output.frames[0] * 255).round().astype(np.uint8)
