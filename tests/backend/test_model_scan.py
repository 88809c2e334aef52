"""Classifying .safetensors files from their headers, on small files of each kind built here
with the tensor names the real files use; and the catalog's shape."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from backend.hub import scan as model_scan
from backend.hub.catalog import KIND_ROLES, load_catalog

TINY = np.zeros((2, 2), dtype=np.float16)

FILES = {
    # An A1111/ComfyUI SD1.5 checkpoint: LDM UNet plus the CLIP-L text encoder.
    "sd15.safetensors": [
        "model.diffusion_model.input_blocks.0.0.weight",
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
        "first_stage_model.decoder.conv_in.weight",
    ],
    # SDXL: two text encoders under conditioner.embedders.
    "sdxl.safetensors": [
        "model.diffusion_model.input_blocks.0.0.weight",
        "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight",
        "conditioner.embedders.1.model.ln_final.weight",
    ],
    # SD 2.x: OpenCLIP under cond_stage_model.model.
    "sd2.safetensors": [
        "model.diffusion_model.input_blocks.0.0.weight",
        "cond_stage_model.model.ln_final.weight",
    ],
    # An original AnimateDiff motion module (mm_sd_v15_v2).
    "mm_sd_v15_v2.safetensors": [
        "down_blocks.0.motion_modules.0.temporal_transformer.norm.weight",
        "mid_block.motion_modules.0.temporal_transformer.proj_in.weight",
    ],
    # A motion LoRA (v2_lora_ZoomIn): LoRA layers inside the motion modules.
    "v2_lora_ZoomIn.safetensors": [
        "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0"
        ".attention_blocks.0.processor.to_q_lora.down.weight"
    ],
    # A kohya image LoRA for SD1.5.
    "style_lora.safetensors": [
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight",
        "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight",
    ],
    # A kohya SDXL LoRA (second text encoder).
    "sdxl_lora.safetensors": ["lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight"],
    # A1111 textual-inversion embedding.
    "easynegative.safetensors": ["emb_params"],
    # An SDXL embedding.
    "sdxl_embedding.safetensors": ["clip_l", "clip_g"],
    # A VAE on its own: nothing the app loads in a model field.
    "vae.safetensors": ["decoder.conv_in.weight", "encoder.conv_in.weight"],
}

EXPECTED = {
    "sd15.safetensors": (model_scan.SD15, True),
    "sdxl.safetensors": (model_scan.SDXL, False),
    "sd2.safetensors": (model_scan.UNKNOWN, False),
    "mm_sd_v15_v2.safetensors": (model_scan.MOTION_MODULE, True),
    "v2_lora_ZoomIn.safetensors": (model_scan.MOTION_LORA, True),
    "style_lora.safetensors": (model_scan.IMAGE_LORA, True),
    "sdxl_lora.safetensors": (model_scan.IMAGE_LORA, False),
    "easynegative.safetensors": (model_scan.EMBEDDING, True),
    "sdxl_embedding.safetensors": (model_scan.EMBEDDING, False),
    "vae.safetensors": (model_scan.UNKNOWN, False),
}


@pytest.fixture
def model_folder(tmp_path):
    folder = tmp_path / "models"
    (folder / "Lora").mkdir(parents=True)
    for name, keys in FILES.items():
        target = folder / ("Lora" if "lora" in name.lower() else "") / name
        save_file({key: TINY for key in keys}, str(target), metadata={"format": "pt"})
    (folder / "notes.txt").write_text("not a model")
    (folder / "broken.safetensors").write_bytes(struct.pack("<Q", 10_000) + b"{}")  # cut off
    (folder / "tiny.safetensors").write_bytes(b"abc")
    return folder


def test_each_kind_is_told_from_its_header(model_folder):
    found = {p.path.rsplit("/", 1)[-1]: p for p in model_scan.scan_folder(model_folder)}
    assert "notes.txt" not in found
    for name, (kind, usable) in EXPECTED.items():
        assert (found[name].kind, found[name].usable) == (kind, usable), name
        assert found[name].size > 0
    assert "SDXL" in found["sdxl.safetensors"].note
    assert found["broken.safetensors"].kind == model_scan.UNKNOWN
    assert "cut off" in found["broken.safetensors"].note
    assert found["tiny.safetensors"].kind == model_scan.UNKNOWN


def test_the_header_is_read_without_the_weights(tmp_path):
    path = tmp_path / "big.safetensors"
    save_file(
        {
            "model.diffusion_model.x": np.zeros((512, 1024), np.float32),
            "cond_stage_model.transformer.y": TINY,
        },
        str(path),
    )
    header = model_scan.read_header(path)
    assert header["model.diffusion_model.x"]["shape"] == [512, 1024]
    assert model_scan.classify_file(path).kind == model_scan.SD15


def test_folders_are_remembered(model_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMATEDIFF_STUDIO_CONFIG_DIR", str(tmp_path / "config"))
    assert model_scan.load_folders() == []
    model_scan.add_folder(str(model_folder))
    model_scan.add_folder(str(model_folder))
    assert model_scan.load_folders() == [str(model_folder.resolve())]
    assert {m.kind for m in model_scan.local_models()} >= {model_scan.SD15, model_scan.MOTION_LORA}
    with pytest.raises(model_scan.InputError, match="no such folder"):
        model_scan.add_folder(str(tmp_path / "nope"))
    model_scan.remove_folder(str(model_folder.resolve()))
    assert model_scan.load_folders() == []
    (tmp_path / "config" / "model-folders.json").write_text("{broken")
    assert model_scan.load_folders() == []


def test_catalog_has_the_documented_models():
    entries = load_catalog()
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids))
    assert (
        "guoyww/animatediff-motion-adapter-v1-5-2" in ids
        and "guoyww/animatediff-motion-adapter-v1-5-3" in ids
    )
    assert "wangfuyun/AnimateLCM" in ids
    lightning = [e for e in entries if e.repo == "ByteDance/AnimateDiff-Lightning"]
    assert sorted(e.files[0] for e in lightning) == [
        f"animatediff_lightning_{n}step_diffusers.safetensors" for n in (2, 4, 8)
    ]
    loras = {e.id.rsplit("motion-lora-", 1)[-1] for e in entries if e.kind == "motion-lora"}
    assert loras == {
        "zoom-in",
        "zoom-out",
        "pan-left",
        "pan-right",
        "tilt-up",
        "tilt-down",
        "rolling-clockwise",
        "rolling-anticlockwise",
    }
    assert sum(e.kind == "base-model" for e in entries) >= 3
    for entry in entries:
        assert entry.kind in KIND_ROLES
        assert (
            entry.name
            and entry.description
            and entry.licence
            and entry.source.startswith("https://")
        )
        assert isinstance(entry.recommended, dict)
        if entry.kind in ("base-model", "motion-adapter", "motion-lora", "lora"):
            assert entry.recommended, entry.id  # what to generate with (guidance and finishing
            # models have no settings of their own)
    json.dumps([e.id for e in entries])


def test_diffusers_folders_point_at_the_folder(demo_models):
    found = {m.path: m for m in model_scan.scan_folder(demo_models.root)}
    adapter = found[str(demo_models.motion_adapter / "diffusion_pytorch_model.safetensors")]
    assert adapter.kind == model_scan.MOTION_MODULE and adapter.load_path == str(
        demo_models.motion_adapter
    )
    # Issue 20: the base model's diffusers folder is one model, offered as a base model; its
    # parts are not listed as unknown files.
    base = found[str(demo_models.base)]
    assert base.kind == model_scan.DIFFUSERS_MODEL and base.usable and base.load_path == str(demo_models.base)
    assert base.size == sum(f.stat().st_size for f in demo_models.base.rglob("*") if f.is_file())
    assert not [path for path in found if path.startswith(str(demo_models.base) + "/")]


def test_a_diffusers_folder_is_told_from_its_pipeline_and_unet(wan_models, tmp_path):
    """Issue 20: `models scan` offers a diffusers folder as a whole: a Wan pipeline as a Wan base
    model; an SDXL or SD2 one as a model these adapters do not fit."""
    wan = model_scan.scan_folder(wan_models["2.1"])
    assert [(m.path, m.kind, m.usable) for m in wan] == [
        (str(wan_models["2.1"]), model_scan.DIFFUSERS_MODEL, True)]
    assert "Wan" in wan[0].note
    for name, class_name, width in (("xl", "StableDiffusionXLPipeline", 2048),
                                    ("sd2", "StableDiffusionPipeline", 1024)):
        folder = tmp_path / name
        (folder / "unet").mkdir(parents=True)
        (folder / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
        (folder / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": width}))
    found = {Path(m.path).name: m for m in model_scan.scan_folder(tmp_path)}
    assert not found["xl"].usable and "SDXL" in found["xl"].note
    assert not found["sd2"].usable and "2.x" in found["sd2"].note
