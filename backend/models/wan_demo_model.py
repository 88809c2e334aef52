"""Tiny random-weight Wan models in the real diffusers layout.

Two shapes, each a few hundred kB, saved with `save_pretrained` exactly as the Hub's
`-Diffusers` repositories are laid out (model_index.json, scheduler/, text_encoder/, tokenizer/,
transformer/, vae/):

- "2.1": like Wan2.1-T2V-1.3B: a Wan 2.1 VAE (z_dim 16, 8x spatial, 4x temporal), patch 1x2x2,
  so sizes are multiples of 16; the scheduler the 1.3B repository ships (UniPC, flow sigmas).
- "2.2-ti2v": like Wan2.2-TI2V-5B: the Wan 2.2 VAE (z_dim 48, residual, 2x2 pixel patches, so
  16x spatial), `expand_timesteps`, so sizes are multiples of 32 and the same model does
  image-to-video.

The weights are random (seeded), so the frames are noise, but every code path of a real Wan
model is exercised: the UMT5 text encoder and its T5 tokenizer, the 3D transformer, the causal
VAE. The tokenizer is a byte-level unigram vocabulary built here, so nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from backend.models.demo_model import move_into_place

SHAPES = ("2.1", "2.2-ti2v")
# Like Wan2.2-T2V-A14B: two experts (high noise, then low noise below the boundary), for tests.
EXPERTS_SHAPE = "2.2-a14b"
TEXT_DIM = 32
VOCAB_EXTRA_IDS = 8


def demo_tokenizer():
    """A T5TokenizerFast over a unigram vocabulary of single characters (printable ASCII):
    enough to tokenize any prompt without shipping UMT5's 256k-piece model."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(chr(c), -3.0) for c in range(33, 127)]
    pieces += [("▁" + chr(c), -2.5) for c in range(33, 127)]
    backend = Tokenizer(models.Unigram(pieces, unk_id=2, byte_fallback=False))
    backend.normalizer = normalizers.Sequence([normalizers.Replace(" +", " ")])
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer = T5TokenizerFast(tokenizer_object=backend, extra_ids=VOCAB_EXTRA_IDS,
                                model_max_length=512)
    return tokenizer


def _text_encoder(vocab_size: int):
    import torch
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    config = UMT5Config(
        vocab_size=vocab_size,
        d_model=TEXT_DIM,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
    )
    return UMT5EncoderModel(config)


def _vae(shape: str):
    import torch
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    if shape == "2.1":
        return AutoencoderKLWan(
            base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
            temperal_downsample=[False, True, True],
        )
    # The Wan 2.2 VAE: 12 input channels (RGB in 2x2 patches), residual blocks, 48 latent
    # channels with their own mean/std, 16x spatial compression.
    return AutoencoderKLWan(
        base_dim=12, decoder_base_dim=12, z_dim=48, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True], is_residual=True, in_channels=12,
        out_channels=12, patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4,
        latents_mean=[0.0] * 48, latents_std=[1.0] * 48,
    )


def _transformer(shape: str):
    import torch
    from diffusers import WanTransformer3DModel

    channels = 16 if shape == "2.1" else 48
    torch.manual_seed(0)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
        in_channels=channels, out_channels=channels, text_dim=TEXT_DIM, freq_dim=256,
        ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )


def _scheduler(shape: str):
    from diffusers import UniPCMultistepScheduler

    # The schedulers the real repositories ship: UniPC with flow sigmas, shift 3 (2.1-1.3B)
    # and 5 (2.2-TI2V-5B).
    return UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000,
        flow_shift=3.0 if shape == "2.1" else 5.0,
    )


def demo_parts(shape: str = "2.1") -> dict:
    """The parts of a tiny Wan model of `shape` ("2.1" or "2.2-ti2v"), in memory: the keyword
    arguments of WanPipeline (the GPU check's smoke test runs them without writing a folder)."""
    tokenizer = demo_tokenizer()
    return dict(tokenizer=tokenizer, text_encoder=_text_encoder(len(tokenizer)), vae=_vae(shape),
                scheduler=_scheduler(shape), transformer=_transformer(shape),
                expand_timesteps=shape != "2.1")


def build_wan_pipeline(folder: Path, shape: str = "2.1") -> None:
    """Write a tiny Wan model of `shape` (one of SHAPES) into `folder`."""
    from diffusers import WanPipeline

    if shape not in (*SHAPES, EXPERTS_SHAPE):
        raise ValueError(f"unknown Wan demo shape {shape!r}; one of {', '.join(SHAPES)}")
    experts = shape == EXPERTS_SHAPE
    base = "2.1" if experts else shape
    second = None
    if experts:
        import torch

        second = _transformer(base)
        with torch.no_grad():  # another seed's weights, so the switch between experts shows
            torch.manual_seed(1)
            for param in second.parameters():
                param.normal_(0.0, 0.05)
    pipe = WanPipeline(**demo_parts(base), transformer_2=second,
                       boundary_ratio=0.875 if experts else None)
    pipe.save_pretrained(folder, safe_serialization=True)


def build_wan_lora(folder: Path, base: Path, seed: int = 0) -> None:
    """A LoRA on the transformer's attention projections, saved as diffusers saves Wan LoRAs
    (`transformer.` prefixed keys), so it loads through WanLoraLoaderMixin like a user's."""
    import torch
    from diffusers import WanPipeline, WanTransformer3DModel
    from peft import LoraConfig, get_peft_model_state_dict

    transformer = WanTransformer3DModel.from_pretrained(base, subfolder="transformer")
    config = LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                        target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    torch.manual_seed(seed)
    transformer.add_adapter(config)
    with torch.no_grad():
        for name, param in transformer.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.3)
    WanPipeline.save_lora_weights(
        folder, transformer_lora_layers=get_peft_model_state_dict(transformer),
        safe_serialization=True,
    )


def write_wan_demo_model(root: str | os.PathLike, shape: str = "2.1") -> Path:
    """Write the Wan demo model of `shape` to `root`/wan-`shape` and its LoRA beside it, built
    in a temporary sibling folder and moved into place (an interrupted build leaves nothing).
    Returns the model folder."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = (f"wan-{shape}", f"wan-{shape}-lora")
    work = Path(tempfile.mkdtemp(prefix=".wan-demo-", dir=root))
    try:
        build_wan_pipeline(work / names[0], shape)
        build_wan_lora(work / names[1], work / names[0])
        move_into_place(work, root, names)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return root / names[0]


def is_wan_demo_complete(root: str | os.PathLike, shape: str) -> bool:
    root = Path(root)
    return ((root / f"wan-{shape}" / "model_index.json").is_file()
            and (root / f"wan-{shape}-lora" / "pytorch_lora_weights.safetensors").is_file())


def is_demo_set_complete(root: str | os.PathLike) -> bool:
    """Whether every demo model the window offers is under `root`: AnimateDiff's set and a Wan
    model of each shape."""
    from backend.models.demo_model import is_demo_model_complete

    return is_demo_model_complete(root) and all(is_wan_demo_complete(root, s) for s in SHAPES)


def write_demo_set(root: str | os.PathLike) -> None:
    """Write whichever of the window's demo models are missing under `root`."""
    from backend.models.demo_model import is_demo_model_complete, write_demo_model

    if not is_demo_model_complete(root):
        write_demo_model(root)
    for shape in SHAPES:
        if not is_wan_demo_complete(root, shape):
            write_wan_demo_model(root, shape)
