"""Presets, image LoRAs and embeddings give exactly the frames of a plain diffusers script
following the same recipe (CPU, float32, VAE slicing off), and switching them on a loaded
pipeline leaves no trace on a later plain job."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backend.cli.commands import main as cli_main
from backend.core.errors import InputError
from backend.core.presets import apply_preset, lightning_file, steps_from_name
from backend.core.request import Embedding, GenerationRequest, ImageLora, ModelSpec, MotionLora
from backend.engine.generation import generate
from backend.models.motion_checkpoint import infer_adapter_config, read_shapes
from tests.backend import reference
from tests.backend.test_reference import read_png_folder

NEGATIVE = "bad quality, worse quality"
TINY_LIGHTNING = {"block_out_channels": (32, 64), "motion_layers_per_block": 2,
                  "motion_max_seq_length": 32}


@pytest.fixture(scope="session")
def files(lora_files):
    return lora_files


def args(models, *extra: str) -> list[str]:
    return [
        "--base-model", str(models.base), "--seed", "7", "--width", "64", "--height", "64",
        "--frames", "8", "--negative-prompt", NEGATIVE, "--device", "cpu", "--dtype", "float32",
        "--no-vae-slicing", "--quiet", *extra,
    ]


def run(argv, out) -> np.ndarray:
    assert cli_main([*argv, "--output", str(out)]) == 0
    return read_png_folder(out)


def test_lightning_preset_matches_model_card_recipe(demo_models, files, tmp_path):
    ours = run(["generate", "--prompt", "a fox", "--preset", "lightning",
                "--motion-adapter", str(files.lightning_adapter), *args(demo_models)], tmp_path / "o")
    expected = reference.lightning(
        demo_models.base, files.lightning_adapter, TINY_LIGHTNING, "a fox", NEGATIVE, 7,
        steps=4,  # from the file name
        num_frames=8, width=64, height=64,
    )
    assert np.array_equal(ours, expected)


def test_animatelcm_preset_matches_documented_recipe(demo_models, files, tmp_path):
    ours = run(["generate", "--prompt", "a fox", "--preset", "animatelcm",
                "--motion-adapter", str(demo_models.motion_adapter),
                "--lora", f"{files.peft_lora}:0.8", *args(demo_models)], tmp_path / "o")
    expected = reference.animatelcm(
        demo_models.base, demo_models.motion_adapter, files.peft_lora, "a fox", NEGATIVE, 7,
        num_frames=8, width=64, height=64,
    )
    assert np.array_equal(ours, expected)


def test_standard_preset_matches_documented_recipe(demo_models, tmp_path):
    ours = run(["generate", "--prompt", "a fox", "--preset", "standard", "--steps", "3",
                "--motion-adapter", str(demo_models.motion_adapter), *args(demo_models)],
               tmp_path / "o")
    expected = reference.text2video(
        demo_models.base, demo_models.motion_adapter, "a fox", NEGATIVE, 7,
        num_frames=8, guidance_scale=7.5, num_inference_steps=3, width=64, height=64,
    )
    assert np.array_equal(ours, expected)


def test_image_loras_with_motion_lora_match_diffusers(demo_models, files, tmp_path):
    ours = run(["generate", "--prompt", "a fox", "--steps", "3",
                "--motion-adapter", str(demo_models.motion_adapter),
                "--motion-lora", f"{demo_models.motion_lora}:0.6",
                "--lora", f"{files.peft_lora}:0.8", "--lora", f"{files.kohya_lora}:0.5",
                *args(demo_models)], tmp_path / "o")
    expected = reference.text2video(
        demo_models.base, demo_models.motion_adapter, "a fox", NEGATIVE, 7,
        loras=[("zoom", str(demo_models.motion_lora), 0.6), ("style", str(files.peft_lora), 0.8),
               ("character", str(files.kohya_lora), 0.5)],
        num_frames=8, guidance_scale=7.5, num_inference_steps=3, width=64, height=64,
    )
    plain = reference.text2video(
        demo_models.base, demo_models.motion_adapter, "a fox", NEGATIVE, 7,
        loras=[("zoom", str(demo_models.motion_lora), 0.6)],
        num_frames=8, guidance_scale=7.5, num_inference_steps=3, width=64, height=64,
    )
    assert not np.array_equal(expected, plain)  # the image LoRAs do change the frames
    assert np.array_equal(ours, expected)


def test_embedding_token_matches_diffusers(demo_models, files, tmp_path):
    ours = run(["generate", "--prompt", "a <tiny-style> fox", "--steps", "3",
                "--motion-adapter", str(demo_models.motion_adapter),
                "--embedding", str(files.embedding_a1111),
                "--embedding", f"{files.embedding_diffusers}:<toy>",
                *args(demo_models), "--negative-prompt", "<toy>"],
               tmp_path / "o")
    expected = reference.text2video(
        demo_models.base, demo_models.motion_adapter, "a <tiny-style> fox", "<toy>", 7,
        embeddings=[(str(files.embedding_a1111), "<tiny-style>"),
                    (str(files.embedding_diffusers), "<toy>")],
        num_frames=8, guidance_scale=7.5, num_inference_steps=3, width=64, height=64,
    )
    assert np.array_equal(ours, expected)


def test_everything_then_plain_gives_plain_frames(demo_models, files, cache):
    base = GenerationRequest(
        prompt="a fox", negative_prompt=NEGATIVE, frames=8, width=64, height=64, steps=3, seed=7,
        model=ModelSpec(base_model=str(demo_models.base),
                        motion_adapter=str(demo_models.motion_adapter),
                        device="cpu", dtype="float32", vae_slicing=False),
    )
    loaded = cache.loads
    everything = base.replace(
        prompt="a <tiny-style> fox",
        model=ModelSpec(**{**base.model.__dict__,
                           "motion_loras": (MotionLora(str(demo_models.motion_lora), 0.6),),
                           "loras": (ImageLora(str(files.peft_lora), 0.8),
                                     ImageLora(str(files.kohya_lora), 0.5)),
                           "embeddings": (Embedding(str(files.embedding_a1111)),)}),
    )
    styled = generate(everything, cache=cache).frames
    plain = generate(base, cache=cache).frames
    assert cache.loads <= loaded + 1  # LoRAs and embeddings never reload the base model
    expected = reference.text2video(
        demo_models.base, demo_models.motion_adapter, "a fox", NEGATIVE, 7,
        num_frames=8, guidance_scale=7.5, num_inference_steps=3, width=64, height=64,
    )
    assert not np.array_equal(styled, plain)
    assert np.array_equal(plain, expected)
    pipe = cache.pipelines()[0]
    assert "<tiny-style>" not in pipe.tokenizer.get_added_vocab()


def test_a1111_ldm_names_load_like_kohya_names(demo_models, files, tmp_path):
    """The same tensors under original SD block names and under kohya's diffusers-style names."""
    from tests.backend.fixture_files import write_kohya_lora

    same = write_kohya_lora(tmp_path / "same_ldm.safetensors", demo_models.base, seed=2, ldm_names=True)
    common = ["generate", "--prompt", "a fox", "--steps", "2",
              "--motion-adapter", str(demo_models.motion_adapter), *args(demo_models)]
    kohya = run([*common, "--lora", str(files.kohya_lora)], tmp_path / "k")
    ldm = run([*common, "--lora", str(same)], tmp_path / "l")
    assert np.array_equal(kohya, ldm)


@pytest.mark.parametrize(
    "option, which, message",
    [
        ("--lora", "sdxl_lora", "SDXL"),
        ("--lora", "motion", "is a motion LoRA; give it with --motion-lora"),
        ("--motion-lora", "peft_lora", "is an image LoRA"),
    ],
)
def test_wrong_kind_of_lora_is_one_clear_line(demo_models, files, tmp_path, capsys, option, which, message):
    path = demo_models.motion_lora / "pytorch_lora_weights.safetensors" if which == "motion" else getattr(files, which)
    out = tmp_path / "o.gif"
    code = cli_main(["generate", "--prompt", "x", "--steps", "1", "--output", str(out),
                     "--motion-adapter", str(demo_models.motion_adapter), option, str(path),
                     *args(demo_models)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_lightning_file_config_is_read_from_shapes(files):
    config = infer_adapter_config(read_shapes(str(files.lightning_adapter), "x"))
    assert config["block_out_channels"] == (32, 64)
    assert config["motion_layers_per_block"] == 2
    assert config["motion_max_seq_length"] == 32
    assert config["use_motion_mid_block"] is True


def test_preset_values_yield_to_explicit_options():
    request = GenerationRequest(prompt="x", steps=8, guidance=3.0)
    lightning = apply_preset(request, "lightning")
    assert (lightning.steps, lightning.guidance, lightning.scheduler) == (4, 1.0, "euler_trailing")
    assert lightning.model.motion_adapter == lightning_file(4)
    chosen = apply_preset(request, "lightning", {"steps", "guidance"})
    assert (chosen.steps, chosen.guidance) == (8, 3.0)
    assert chosen.model.motion_adapter == lightning_file(8)  # the Hub file for 8 steps
    own = request.replace(model=ModelSpec(motion_adapter="/m/animatediff_lightning_2step_diffusers.safetensors"))
    assert apply_preset(own, "lightning", {"model.motion_adapter"}).steps == 2
    lcm = apply_preset(request, "animatelcm")
    assert (lcm.steps, lcm.guidance, lcm.scheduler) == (6, 1.5, "lcm_linear")
    assert [(lora.weight) for lora in lcm.model.loras] == [0.8]
    mine = request.replace(model=ModelSpec(loras=(ImageLora("/my/lcm.safetensors", 0.7),)))
    assert apply_preset(mine, "animatelcm", {"model.loras"}).model.loras == mine.model.loras
    with pytest.raises(InputError, match="1, 2, 4, 8"):
        apply_preset(request.replace(steps=5), "lightning", {"steps"})
    assert steps_from_name("animatediff_lightning_8step_comfyui.safetensors") == 8


def test_request_round_trip_and_old_dicts_read():
    request = GenerationRequest(
        prompt="x", preset="animatelcm",
        model=ModelSpec(loras=(ImageLora("/a.safetensors", 0.5),),
                        embeddings=(Embedding("/neg.safetensors", "<neg>"), Embedding("/b.pt")),
                        channels_last=True),
    )
    assert GenerationRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    old = request.to_dict()
    for key in ("loras", "embeddings", "channels_last", "compile_unet"):
        del old["model"][key]
    del old["preset"]
    read = GenerationRequest.from_dict(old)
    assert read.preset == "standard" and read.model.loras == () and read.model.embeddings == ()
    assert Embedding("/x/EasyNegative.safetensors").prompt_token == "<EasyNegative>"


def test_from_metadata_reruns_loras_and_embeddings(demo_models, files, tmp_path):
    first = tmp_path / "first.gif"
    common = ["--motion-adapter", str(demo_models.motion_adapter), *args(demo_models)]
    assert cli_main(["generate", "--prompt", "a <tiny-style> fox", "--steps", "2", "--output",
                     str(first), "--lora", f"{files.kohya_lora}:0.5",
                     "--embedding", str(files.embedding_a1111), *common]) == 0
    again = run(["generate", "--from-metadata", str(first)], tmp_path / "again")
    direct = run(["generate", "--prompt", "a <tiny-style> fox", "--steps", "2",
                  "--lora", f"{files.kohya_lora}:0.5", "--embedding", str(files.embedding_a1111),
                  *common], tmp_path / "direct")
    assert np.array_equal(again, direct)


def test_preset_hub_file_offline_is_one_clear_line(demo_models, tmp_path, capsys):
    out = tmp_path / "o.gif"
    code = cli_main(["generate", "--prompt", "x", "--preset", "lightning", "--output", str(out),
                     *args(demo_models)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "animatediff_lightning_4step_diffusers.safetensors" in err and "offline" in err
    assert "Traceback" not in err and not out.exists()
