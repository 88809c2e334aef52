"""Tiny files of every kind the presets, image LoRAs and embeddings read, made for the demo
model's sizes: image LoRAs in diffusers/PEFT, kohya and A1111 (LDM names) layouts, textual
inversion embeddings in A1111 and diffusers layouts, and a Lightning-style motion module saved
as one diffusers-format state dict."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_UNET_TARGET = re.compile(
    r"^(down_blocks|up_blocks|mid_block).*attentions\.\d+\.transformer_blocks\.\d+\."
    r"attn[12]\.(to_q|to_k|to_v|to_out\.0)$"
)
_TEXT_TARGET = re.compile(r"^encoder\.layers\.\d+\.self_attn\.(q|k|v|out)_proj$")
RANK = 4


@dataclass(frozen=True)
class FixtureFiles:
    peft_lora: Path
    kohya_lora: Path
    a1111_lora: Path
    sdxl_lora: Path
    embedding_a1111: Path
    embedding_diffusers: Path
    lightning_adapter: Path


def _targets(base: Path) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
    text = CLIPTextModel.from_pretrained(base, subfolder="text_encoder")
    unet_targets = [
        (name, m.in_features, m.out_features)
        for name, m in unet.named_modules()
        if isinstance(m, torch.nn.Linear) and _UNET_TARGET.match(name)
    ]
    text_targets = [
        (name, m.in_features, m.out_features)
        for name, m in text.named_modules()
        if isinstance(m, torch.nn.Linear) and _TEXT_TARGET.match(name)
    ]
    assert unet_targets and text_targets
    return unet_targets, text_targets


def _pair(generator, fan_in: int, fan_out: int):
    import torch

    down = torch.randn(RANK, fan_in, generator=generator) * 0.3
    up = torch.randn(fan_out, RANK, generator=generator) * 0.3
    return down, up


def _ldm_name(name: str, layers_per_block: int) -> str:
    """A diffusers UNet attention path in the original SD (LDM) block numbering."""
    if m := re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.*)", name):
        block = 1 + int(m[1]) * (layers_per_block + 1) + int(m[2])
        return f"input_blocks.{block}.1.{m[3]}"
    if m := re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.*)", name):
        block = int(m[1]) * (layers_per_block + 1) + int(m[2])
        return f"output_blocks.{block}.1.{m[3]}"
    m = re.match(r"mid_block\.attentions\.0\.(.*)", name)
    assert m, name
    return f"middle_block.1.{m[1]}"


def write_peft_lora(path: Path, base: Path, seed: int) -> Path:
    """diffusers' own layout (PEFT lora_A/lora_B), text-encoder keys with the `text_model.`
    prefix that files written before transformers flattened CLIPTextModel carry."""
    import torch
    from safetensors.torch import save_file

    unet_targets, text_targets = _targets(base)
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for prefix, targets in (("unet.", unet_targets), ("text_encoder.text_model.", text_targets)):
        for name, fan_in, fan_out in targets:
            down, up = _pair(g, fan_in, fan_out)
            tensors[f"{prefix}{name}.lora_A.weight"] = down
            tensors[f"{prefix}{name}.lora_B.weight"] = up
    save_file(tensors, str(path))
    return path


def write_kohya_lora(path: Path, base: Path, seed: int, ldm_names: bool = False) -> Path:
    """kohya-ss layout (lora_unet_/lora_te_ names, lora_down/lora_up, alpha); with
    `ldm_names` the UNet keys use the original SD block names, as A1111-era trainers wrote."""
    import torch
    from safetensors.torch import save_file

    unet_targets, text_targets = _targets(base)
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for prefix, targets in (("lora_unet_", unet_targets), ("lora_te_text_model_", text_targets)):
        for name, fan_in, fan_out in targets:
            if ldm_names and prefix == "lora_unet_":
                name = _ldm_name(name, 2)
            key = prefix + name.replace(".", "_")
            down, up = _pair(g, fan_in, fan_out)
            tensors[f"{key}.lora_down.weight"] = down
            tensors[f"{key}.lora_up.weight"] = up
            tensors[f"{key}.alpha"] = torch.tensor(float(RANK) / 2)
    save_file(tensors, str(path))
    return path


def write_sdxl_lora(path: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    save_file(
        {
            "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": torch.zeros(4, 768),
            "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": torch.zeros(4, 1280),
        },
        str(path),
    )
    return path


def write_embeddings(folder: Path, seed: int) -> tuple[Path, Path]:
    import torch
    from safetensors.torch import save_file

    from backend.models.demo_model import TEXT_HIDDEN

    g = torch.Generator().manual_seed(seed)
    a1111 = folder / "tiny-style.safetensors"  # two vectors, A1111's emb_params layout
    save_file({"emb_params": torch.randn(2, TEXT_HIDDEN, generator=g)}, str(a1111))
    diffusers_format = folder / "learned_embeds.safetensors"
    save_file({"<cat-toy>": torch.randn(TEXT_HIDDEN, generator=g)}, str(diffusers_format))
    return a1111, diffusers_format


def write_lightning_adapter(path: Path, seed: int) -> Path:
    """A motion module saved as one flat diffusers state dict, like AnimateDiff-Lightning's
    `*_diffusers.safetensors`: no config; MotionAdapter's defaults except what shapes fix."""
    import torch
    from diffusers import MotionAdapter
    from safetensors.torch import save_file

    from backend.models.demo_model import MOTION_MAX_SEQ_LENGTH, UNET_CHANNELS

    torch.manual_seed(seed)
    adapter = MotionAdapter(
        block_out_channels=UNET_CHANNELS,
        motion_layers_per_block=2,
        motion_max_seq_length=MOTION_MAX_SEQ_LENGTH,
    )
    with torch.no_grad():
        for name, param in adapter.named_parameters():
            if "proj_out" in name:
                param.normal_(0.0, 0.2)
    save_file({k: v.detach().clone().contiguous() for k, v in adapter.state_dict().items()}, str(path))
    return path


def write_fixture_files(folder: Path, base: Path) -> FixtureFiles:
    folder.mkdir(parents=True, exist_ok=True)
    a1111_embedding, diffusers_embedding = write_embeddings(folder, seed=3)
    return FixtureFiles(
        peft_lora=write_peft_lora(folder / "style_peft.safetensors", base, seed=1),
        kohya_lora=write_kohya_lora(folder / "character_kohya.safetensors", base, seed=2),
        a1111_lora=write_kohya_lora(folder / "old_a1111.safetensors", base, seed=4, ldm_names=True),
        sdxl_lora=write_sdxl_lora(folder / "sdxl_style.safetensors"),
        embedding_a1111=a1111_embedding,
        embedding_diffusers=diffusers_embedding,
        lightning_adapter=write_lightning_adapter(
            folder / "tiny_lightning_4step_diffusers.safetensors", seed=5
        ),
    )
