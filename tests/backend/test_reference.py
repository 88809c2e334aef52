"""Our command line writes exactly the frames a plain diffusers script makes (CPU, float32,
VAE slicing off): text-to-video, video-to-video and with motion LoRAs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from backend.cli.commands import main as cli_main
from tests.backend import reference


def read_png_folder(folder: Path) -> np.ndarray:
    files = sorted(folder.glob("frame_*.png"))
    return np.stack([np.asarray(Image.open(p)) for p in files])


def common_args(models) -> list[str]:
    return [
        "--base-model", str(models.base),
        "--motion-adapter", str(models.motion_adapter),
        "--seed", "42",
        "--width", "64",
        "--height", "64",
        "--steps", "4",
        "--guidance", "7.5",
        "--negative-prompt", "bad quality, worse quality",
        "--device", "cpu",
        "--dtype", "float32",
        "--no-vae-slicing",
        "--quiet",
    ]


def test_text2video_matches_diffusers(demo_models, tmp_path):
    out = tmp_path / "frames"
    argv = ["generate", "--prompt", "a panda on a boat", "--frames", "16", "--output", str(out)]
    assert cli_main(argv + common_args(demo_models)) == 0
    expected = reference.text2video(
        demo_models.base, demo_models.motion_adapter, "a panda on a boat",
        "bad quality, worse quality", 42,
        num_frames=16, guidance_scale=7.5, num_inference_steps=4, width=64, height=64,
    )
    ours = read_png_folder(out)
    assert ours.shape == (16, 64, 64, 3)
    assert np.array_equal(ours, expected)


def test_text2video_with_motion_loras_matches_diffusers(demo_models, tmp_path):
    lora_file = demo_models.motion_lora / "pytorch_lora_weights.safetensors"
    # A second LoRA: the same weights in another place, applied at another weight.
    second = tmp_path / "second"
    second.mkdir()
    (second / "pytorch_lora_weights.safetensors").write_bytes(lora_file.read_bytes())
    out = tmp_path / "frames"
    argv = [
        "generate", "--prompt", "zoom out", "--frames", "8", "--output", str(out),
        "--motion-lora", str(demo_models.motion_lora),
        "--motion-lora", f"{second}:0.5",
    ]
    assert cli_main(argv + common_args(demo_models)) == 0
    expected = reference.text2video(
        demo_models.base, demo_models.motion_adapter, "zoom out", "bad quality, worse quality", 42,
        loras=[("zoom", str(demo_models.motion_lora), 1.0), ("second", str(second), 0.5)],
        num_frames=8, guidance_scale=7.5, num_inference_steps=4, width=64, height=64,
    )
    assert np.array_equal(read_png_folder(out), expected)


def test_single_motion_lora_matches_plain_load(demo_models, tmp_path):
    """The documentation's recipe loads one LoRA and never calls set_adapters."""
    import torch
    from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter

    out = tmp_path / "frames"
    argv = ["generate", "--prompt", "pan left", "--frames", "8", "--output", str(out),
            "--motion-lora", str(demo_models.motion_lora)]
    assert cli_main(argv + common_args(demo_models)) == 0
    adapter = MotionAdapter.from_pretrained(demo_models.motion_adapter)
    pipe = AnimateDiffPipeline.from_pretrained(demo_models.base, motion_adapter=adapter)
    pipe.load_lora_weights(demo_models.motion_lora, adapter_name="pan-left")
    pipe.scheduler = DDIMScheduler.from_pretrained(
        demo_models.base, subfolder="scheduler", clip_sample=False,
        timestep_spacing="linspace", beta_schedule="linear", steps_offset=1,
    )
    output = pipe(
        prompt="pan left", negative_prompt="bad quality, worse quality", num_frames=8,
        guidance_scale=7.5, num_inference_steps=4, width=64, height=64,
        generator=torch.Generator("cpu").manual_seed(42),
    )
    expected = np.stack([np.asarray(f) for f in output.frames[0]])
    assert np.array_equal(read_png_folder(out), expected)


def test_video2video_matches_diffusers(demo_models, clip_folder, tmp_path):
    out = tmp_path / "frames"
    argv = [
        "video2video", "--input", str(clip_folder), "--prompt", "a lemon moon",
        "--strength", "0.5", "--frames", "16", "--output", str(out),
    ]
    assert cli_main(argv + common_args(demo_models)) == 0
    expected = reference.video2video(
        demo_models.base, demo_models.motion_adapter, clip_folder, "a lemon moon",
        "bad quality, worse quality", 42,
        guidance_scale=7.5, num_inference_steps=4, strength=0.5, width=64, height=64,
    )
    ours = read_png_folder(out)
    assert ours.shape == (8, 64, 64, 3)  # every input frame, no more
    assert np.array_equal(ours, expected)
