"""A tiny random-weight model set in the real diffusers layouts.

The whole program runs on it offline: an SD1.5-style pipeline folder, a MotionAdapter folder and
a motion LoRA, a few MB in all. Tests build theirs with this same code. The weights are random
(seeded), so the frames are noise-like, but every code path a user's model takes is exercised.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = "base"
ADAPTER_DIR = "motion-adapter"
LORA_DIR = "motion-lora"

# Channels small enough to run a 64x64, 16-frame clip in a second on a laptop CPU; four VAE
# blocks keep SD's 8x latent downscale so sizes behave like the real model's.
UNET_CHANNELS = (32, 64)
VAE_CHANNELS = (8, 16, 16, 16)
TEXT_HIDDEN = 32
MOTION_MAX_SEQ_LENGTH = 32


@dataclass(frozen=True)
class DemoModelPaths:
    root: Path

    @property
    def base(self) -> Path:
        return self.root / BASE_DIR

    @property
    def motion_adapter(self) -> Path:
        return self.root / ADAPTER_DIR

    @property
    def motion_lora(self) -> Path:
        return self.root / LORA_DIR


def demo_model_paths(root: str | os.PathLike) -> DemoModelPaths:
    return DemoModelPaths(Path(root))


def is_demo_model_complete(root: str | os.PathLike) -> bool:
    paths = demo_model_paths(root)
    return (
        (paths.base / "model_index.json").is_file()
        and (paths.motion_adapter / "config.json").is_file()
        and (paths.motion_lora / "pytorch_lora_weights.safetensors").is_file()
    )


def _byte_vocab() -> tuple[dict[str, int], list[str]]:
    """A CLIP BPE vocabulary of single bytes plus a handful of merges: enough to tokenize any
    text without shipping the 49k-token CLIP vocabulary."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for c in cs]
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]
    merges = ["t h", "th e</w>", "a n", "i n", "e r", "o n"]
    for merge in merges:
        tokens.append(merge.replace(" ", ""))
    return {token: i for i, token in enumerate(tokens)}, merges


def _write_tokenizer(folder: Path) -> int:
    from transformers import CLIPTokenizer

    vocab, merges = _byte_vocab()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", "utf-8")
    tokenizer = CLIPTokenizer(
        vocab=vocab, merges=[tuple(m.split(" ")) for m in merges], model_max_length=77
    )
    tokenizer.save_pretrained(folder)
    return len(vocab)


def build_base_pipeline(folder: Path) -> None:
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        vocab_size = _write_tokenizer(Path(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(tmp)

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=UNET_CHANNELS,
        layers_per_block=2,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_HIDDEN,
        norm_num_groups=2,
        attention_head_dim=4,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=VAE_CHANNELS,
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * len(VAE_CHANNELS),
        up_block_types=["UpDecoderBlock2D"] * len(VAE_CHANNELS),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=64,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=TEXT_HIDDEN,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=5,
            vocab_size=vocab_size,
            max_position_embeddings=77,
            projection_dim=TEXT_HIDDEN,
        )
    )
    # SD1.5's own scheduler config, so scheduler presets are built from a realistic base.
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        set_alpha_to_one=False,
        skip_prk_steps=True,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


def build_motion_adapter(folder: Path):
    import torch
    from diffusers import MotionAdapter

    torch.manual_seed(0)
    adapter = MotionAdapter(
        block_out_channels=UNET_CHANNELS,
        motion_layers_per_block=2,
        motion_norm_num_groups=2,
        motion_num_attention_heads=4,
        motion_max_seq_length=MOTION_MAX_SEQ_LENGTH,
    )
    # MotionAdapter initialises its output projections to zero (it starts as identity); give
    # them small random values so motion modules, LoRAs on them and FreeNoise change the frames.
    with torch.no_grad():
        for name, param in adapter.named_parameters():
            if "proj_out" in name:
                param.normal_(0.0, 0.2)
    adapter.save_pretrained(folder, safe_serialization=True)
    return adapter


def build_motion_lora(folder: Path, base: Path, adapter_folder: Path, seed: int = 0) -> None:
    """A LoRA on the motion modules' attention projections, saved as diffusers saves LoRAs,
    so it loads through `load_lora_weights` exactly like guoyww's motion LoRAs."""
    import torch
    from diffusers import AnimateDiffPipeline, MotionAdapter
    from peft import LoraConfig, get_peft_model_state_dict

    adapter = MotionAdapter.from_pretrained(adapter_folder)
    pipe = AnimateDiffPipeline.from_pretrained(base, motion_adapter=adapter)
    config = LoraConfig(
        r=4,
        lora_alpha=4,
        init_lora_weights=False,
        target_modules=r".*motion_modules.*\.(to_q|to_k|to_v|to_out\.0)",
    )
    torch.manual_seed(seed)
    pipe.unet.add_adapter(config)
    with torch.no_grad():
        for name, param in pipe.unet.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.3)
    layers = get_peft_model_state_dict(pipe.unet)
    AnimateDiffPipeline.save_lora_weights(folder, unet_lora_layers=layers, safe_serialization=True)


def write_demo_model(root: str | os.PathLike) -> DemoModelPaths:
    """Write the demo model set under `root` (created if needed). Built in a temporary sibling
    folder and moved into place, so an interrupted build never leaves a half model behind."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    paths = demo_model_paths(root)
    work = Path(tempfile.mkdtemp(prefix=".demo-model-", dir=root))
    try:
        build_base_pipeline(work / BASE_DIR)
        build_motion_adapter(work / ADAPTER_DIR)
        build_motion_lora(work / LORA_DIR, work / BASE_DIR, work / ADAPTER_DIR)
        for name in (BASE_DIR, ADAPTER_DIR, LORA_DIR):
            target = root / name
            if target.exists():
                shutil.rmtree(target)
            os.replace(work / name, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return paths
