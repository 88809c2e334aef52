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


# The scheduler recipes, one plain line each, as a diffusers user writes them from the scheduler
# docs: the base model's scheduler config with AnimateDiff's linear betas.
SCHEDULER_RECIPES = {
    "ddim": ("DDIMScheduler", dict(clip_sample=False, timestep_spacing="linspace",
                                   beta_schedule="linear", steps_offset=1)),
    "euler": ("EulerDiscreteScheduler", dict(timestep_spacing="linspace",
                                             beta_schedule="linear", steps_offset=1)),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", dict(
        timestep_spacing="linspace", beta_schedule="linear", steps_offset=1)),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", dict(
        algorithm_type="dpmsolver++", solver_order=2, timestep_spacing="linspace",
        beta_schedule="linear", steps_offset=1)),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", dict(
        algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=True,
        timestep_spacing="linspace", beta_schedule="linear", steps_offset=1)),
    "lcm": ("LCMScheduler", dict(clip_sample=False, timestep_spacing="linspace",
                                 beta_schedule="linear", steps_offset=1)),
    "pndm": ("PNDMScheduler", dict(skip_prk_steps=True, timestep_spacing="linspace",
                                   beta_schedule="linear", steps_offset=1)),
}
# The two model-card recipes start from the loaded pipeline's scheduler config instead.
LOADED_CONFIG_RECIPES = {
    "euler_trailing": ("EulerDiscreteScheduler", dict(timestep_spacing="trailing",
                                                      beta_schedule="linear")),
    "lcm_linear": ("LCMScheduler", dict(beta_schedule="linear")),
}


def text2video_options(
    base, adapter_path, prompt, negative_prompt, seed, *, scheduler="ddim", freeu=None,
    free_init=None, free_noise=None, clip_skip=None, **params,
) -> np.ndarray:
    """The documentation's text-to-video recipe with one of its options switched on, written
    the way the FreeU / FreeInit / FreeNoise / scheduler docs write them."""
    import diffusers
    import torch
    from diffusers import AnimateDiffPipeline, MotionAdapter

    adapter = MotionAdapter.from_pretrained(adapter_path)
    pipe = AnimateDiffPipeline.from_pretrained(base, motion_adapter=adapter)
    if scheduler in LOADED_CONFIG_RECIPES:
        name, overrides = LOADED_CONFIG_RECIPES[scheduler]
        pipe.scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config, **overrides)
    else:
        name, overrides = SCHEDULER_RECIPES[scheduler]
        pipe.scheduler = getattr(diffusers, name).from_pretrained(
            base, subfolder="scheduler", **overrides
        )
    if free_noise is not None:
        pipe.enable_free_noise(context_length=free_noise[0], context_stride=free_noise[1])
    if free_init is not None:
        pipe.enable_free_init(**free_init)
    if freeu is not None:
        s1, s2, b1, b2 = freeu
        pipe.enable_freeu(s1=s1, s2=s2, b1=b1, b2=b2)
    if clip_skip is not None:
        params["prompt_embeds"] = clip_skip_embeddings(pipe, prompt, clip_skip)
        prompt = None
    output = pipe(
        prompt=prompt,
        negative_prompt=negative_prompt,
        generator=torch.Generator("cpu").manual_seed(seed),
        **params,
    )
    return _frames(output)


def clip_skip_embeddings(pipe, prompt: str, clip_skip: int):
    """Clip skip as the Stable Diffusion docs define it: the text encoder's hidden state
    `clip_skip` layers before the last, through the final layer norm. Written out here because
    the pipeline's own `clip_skip=` reaches for `text_encoder.text_model`, which transformers 5
    removed (diffusers issue #14124), so a plain script cannot pass `clip_skip=` today."""
    import torch

    ids = pipe.tokenizer(
        prompt, padding="max_length", max_length=pipe.tokenizer.model_max_length,
        truncation=True, return_tensors="pt",
    ).input_ids
    with torch.no_grad():
        hidden = pipe.text_encoder(ids, output_hidden_states=True).hidden_states
        encoder = getattr(pipe.text_encoder, "text_model", pipe.text_encoder)
        return encoder.final_layer_norm(hidden[-(clip_skip + 1)])


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
