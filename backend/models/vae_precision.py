"""The VAE's number format: float32 under a float16 model when asked (`--vae-dtype float32`) or
when the VAE's configuration says it overflows in float16 (`force_upcast`, as diffusers' SDXL
pipelines read it). The classic symptom of a float16 VAE is NaN, decoded as black frames.

diffusers' AnimateDiff pipelines hand the VAE latents in the model's format, so while the VAE
is upcast a pre-hook on each of its parts casts what comes in to the VAE's own format.

An overflow is caught where it happens: the pipeline clamps decoded pixels to [0, 1], which
turns infinities into white or black, so a hook on the decoder notes any value that is not
finite before that (`decoder_overflowed`).
"""

from __future__ import annotations

_HOOKS = "_studio_precision_hooks"


def vae_dtype_for(pipe, vae_dtype: str, model_dtype):
    """The VAE's format for a job."""
    import torch

    if vae_dtype == "float32":
        return torch.float32
    if model_dtype == torch.float16 and getattr(pipe.vae.config, "force_upcast", False):
        return torch.float32
    return model_dtype


def _cast_inputs(module, args):
    import torch

    dtype = next(module.parameters()).dtype
    return tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a
                 for a in args)


def set_vae_dtype(pipe, dtype) -> None:
    """Put the VAE in `dtype`, with the input casts while it differs from the UNet's format."""
    vae = pipe.vae
    for handle in getattr(vae, _HOOKS, ()):
        handle.remove()
    setattr(vae, _HOOKS, ())
    if vae.dtype != dtype:
        vae.to(dtype=dtype)
    if dtype == pipe.unet.dtype:
        return
    parts = [getattr(vae, name, None) for name in ("encoder", "quant_conv", "post_quant_conv",
                                                     "decoder")]
    setattr(vae, _HOOKS, tuple(part.register_forward_pre_hook(_cast_inputs)
                               for part in parts if part is not None))


_WATCH = "_studio_overflow_watch"


def _note_overflow(module, args, output) -> None:
    if not bool(output.isfinite().all()):
        module._studio_overflowed = True


def watch_decoder(pipe) -> None:
    """Start a job's watch for non-finite values out of the VAE's decoder."""
    decoder = pipe.vae.decoder
    if getattr(decoder, _WATCH, None) is None:
        setattr(decoder, _WATCH, decoder.register_forward_hook(_note_overflow))
    decoder._studio_overflowed = False


def decoder_overflowed(pipe) -> bool:
    return bool(getattr(pipe.vae.decoder, "_studio_overflowed", False))
