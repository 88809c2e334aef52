"""Tiny random-weight guidance models for the demo model's sizes, saved in the layouts the real
ones ship in: ControlNet folders (lllyasviel/control_v11p_sd15_* as diffusers), a SparseCtrl
folder (guoyww/animatediff-sparsectrl-rgb) and an IP-Adapter file with its CLIP image encoder in
`image_encoder/` beside it (h94/IP-Adapter's `models/` folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONDITIONING_CHANNELS = (8, 8, 8, 16)  # three stride-2 convs: SD's 8x latent downscale
IMAGE_ENCODER_HIDDEN = 32
IP_TOKENS = 4


@dataclass(frozen=True)
class GuidedFiles:
    controlnet: Path  # a diffusers ControlNet folder
    controlnet_b: Path  # a second one, other weights (MultiControlNet)
    sparse_rgb: Path  # a SparseControlNetModel folder, RGB kind
    ip_adapter: Path  # models/ip-adapter_sd15.safetensors, models/image_encoder/ beside it
    ip_adapter_bare: Path  # the same file with no image encoder beside it
    sdxl_controlnet: Path  # a ControlNet whose cross-attention fits SDXL, not SD1.5
    pickle_controlnet: Path  # control_v11p_sd15_canny.pth


def _randomise(module, seed: int, words: tuple[str, ...]) -> None:
    """ControlNets start with zero convolutions (they add nothing); give those small random
    values so a control changes the frames."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if any(word in name for word in words):
                param.copy_(torch.randn(param.shape, generator=g) * 0.3)


def write_controlnet(folder: Path, seed: int, cross_attention_dim: int | None = None) -> Path:
    import torch
    from diffusers import ControlNetModel

    from backend.models.demo_model import TEXT_HIDDEN, UNET_CHANNELS

    torch.manual_seed(seed)
    controlnet = ControlNetModel(
        block_out_channels=UNET_CHANNELS,
        layers_per_block=2,
        in_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        cross_attention_dim=cross_attention_dim or TEXT_HIDDEN,
        norm_num_groups=2,
        attention_head_dim=4,
        conditioning_embedding_out_channels=CONDITIONING_CHANNELS,
    )
    _randomise(controlnet, seed, ("controlnet_down_blocks", "controlnet_mid_block", "conv_out"))
    controlnet.save_pretrained(folder, safe_serialization=True)
    return folder


def write_sparse_controlnet(folder: Path, seed: int) -> Path:
    import torch
    from diffusers import SparseControlNetModel

    from backend.models.demo_model import MOTION_MAX_SEQ_LENGTH, TEXT_HIDDEN, UNET_CHANNELS

    torch.manual_seed(seed)
    controlnet = SparseControlNetModel(
        block_out_channels=UNET_CHANNELS,
        layers_per_block=2,
        in_channels=4,
        conditioning_channels=4,  # RGB: the keyframe's latents (4 channels)
        down_block_types=("CrossAttnDownBlockMotion", "DownBlockMotion"),
        cross_attention_dim=TEXT_HIDDEN,
        norm_num_groups=2,
        attention_head_dim=4,
        motion_num_attention_heads=4,
        motion_max_seq_length=MOTION_MAX_SEQ_LENGTH,
        conditioning_embedding_out_channels=CONDITIONING_CHANNELS,
        use_simplified_condition_embedding=True,
    )
    _randomise(controlnet, seed, ("controlnet_down_blocks", "controlnet_mid_block", "conv_out"))
    controlnet.save_pretrained(folder, safe_serialization=True)
    return folder


def write_ip_adapter(models: Path, base: Path, seed: int, with_encoder: bool = True) -> Path:
    """`ip-adapter_sd15.safetensors` with the flat keys h94's safetensors files use
    (image_proj.*, ip_adapter.N.to_k_ip/to_v_ip.weight, N = 1, 3, 5, ... over the UNet's
    cross-attention layers), and a CLIPVisionModelWithProjection in `image_encoder/`."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from backend.models.demo_model import TEXT_HIDDEN

    models.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
    tensors = {
        "image_proj.proj.weight": torch.randn(IP_TOKENS * TEXT_HIDDEN, IMAGE_ENCODER_HIDDEN, generator=g) * 0.3,
        "image_proj.proj.bias": torch.zeros(IP_TOKENS * TEXT_HIDDEN),
        "image_proj.norm.weight": torch.ones(TEXT_HIDDEN),
        "image_proj.norm.bias": torch.zeros(TEXT_HIDDEN),
    }
    key = 1
    for name in unet.attn_processors:
        if not name.endswith("attn2.processor"):
            continue
        inner = unet.get_submodule(name[: -len(".processor")]).to_k.weight.shape[0]
        for part in ("to_k_ip", "to_v_ip"):
            tensors[f"ip_adapter.{key}.{part}.weight"] = torch.randn(inner, TEXT_HIDDEN, generator=g) * 0.3
        key += 2
    path = models / "ip-adapter_sd15.safetensors"
    save_file(tensors, str(path))
    if with_encoder:
        torch.manual_seed(seed)
        encoder = CLIPVisionModelWithProjection(
            CLIPVisionConfig(
                hidden_size=IMAGE_ENCODER_HIDDEN,
                projection_dim=IMAGE_ENCODER_HIDDEN,
                intermediate_size=37,
                num_attention_heads=4,
                num_hidden_layers=2,
                image_size=32,
                patch_size=4,
            )
        )
        encoder.save_pretrained(models / "image_encoder", safe_serialization=True)
    return path


def write_guided_files(folder: Path, base: Path) -> GuidedFiles:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    controlnet = write_controlnet(folder / "control_v11p_sd15_tiny", seed=11)
    pickle_file = folder / "control_v11p_sd15_canny.pth"
    # A pickle that needs code to load (an argparse.Namespace), which the rule refuses; one
    # holding only tensors would load with weights_only=True.
    import argparse

    torch.save({"input_hint_block.0.weight": torch.zeros(1), "args": argparse.Namespace()},
               pickle_file)
    return GuidedFiles(
        controlnet=controlnet,
        controlnet_b=write_controlnet(folder / "control_v11f1p_sd15_tiny", seed=12),
        sparse_rgb=write_sparse_controlnet(folder / "animatediff-sparsectrl-rgb-tiny", seed=13),
        ip_adapter=write_ip_adapter(folder / "IP-Adapter" / "models", base, seed=14),
        ip_adapter_bare=write_ip_adapter(folder / "bare" / "models", base, seed=14, with_encoder=False),
        sdxl_controlnet=write_controlnet(folder / "controlnet-sdxl-tiny", seed=15, cross_attention_dim=64),
        pickle_controlnet=pickle_file,
    )
