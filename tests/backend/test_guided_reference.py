"""Guided clips from our command line are byte-identical to the plain diffusers pipelines
(CPU, float32, VAE slicing off): ControlNet text-to-video (one control, canny, two controls),
ControlNet video-to-video with the input as its control, SparseCtrl keyframes and IP-Adapter."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from backend.cli.commands import main as cli_main
from tests.backend import reference_guided
from tests.backend.test_reference import common_args, read_png_folder

PROMPT, NEGATIVE = "a dancer on a beach", "bad quality, worse quality"
CALL = dict(guidance_scale=7.5, num_inference_steps=3, width=64, height=64)


@pytest.fixture(scope="session")
def guided_files(demo_models, tmp_path_factory):
    from tests.backend.guided_files import write_guided_files

    return write_guided_files(tmp_path_factory.mktemp("guided"), demo_models.base)


def pil_frames(frames: np.ndarray) -> list:
    return [Image.fromarray(frame) for frame in frames]


def run(argv, models, tmp_path):
    out = tmp_path / "frames"
    args = [*argv, "--prompt", PROMPT, "--output", str(out), *common_args(models)]
    args[args.index("--steps") + 1] = "3"
    assert cli_main(args) == 0
    return read_png_folder(out)


def test_text2video_one_control(demo_models, guided_files, clip_folder, clip_frames, tmp_path):
    ours = run(["generate", "--control",
                f"model={guided_files.controlnet},source={clip_folder},weight=0.8,end=0.7"],
               demo_models, tmp_path)
    expected = reference_guided.controlnet_text2video(
        demo_models.base, demo_models.motion_adapter, [guided_files.controlnet],
        [pil_frames(clip_frames)], PROMPT, NEGATIVE, 42, num_frames=len(clip_frames),
        controlnet_conditioning_scale=0.8, control_guidance_end=0.7, **CALL,
    )
    assert ours.shape == (len(clip_frames), 64, 64, 3)  # the clip took the source's length
    assert np.array_equal(ours, expected)


def test_text2video_canny(demo_models, guided_files, clip_folder, clip_frames, tmp_path):
    import cv2

    ours = run(["generate", "--frames", "8", "--control",
                f"model={guided_files.controlnet},source={clip_folder},preprocess=canny"],
               demo_models, tmp_path)
    edges = [np.repeat(cv2.Canny(frame, 100, 200)[:, :, None], 3, 2) for frame in clip_frames]
    expected = reference_guided.controlnet_text2video(
        demo_models.base, demo_models.motion_adapter, [guided_files.controlnet],
        [pil_frames(np.stack(edges))], PROMPT, NEGATIVE, 42, num_frames=8, **CALL,
    )
    assert np.array_equal(ours, expected)


def test_two_controls_with_their_weights(demo_models, guided_files, clip_folder, clip_frames,
                                         tmp_path):
    still = tmp_path / "still.png"
    Image.fromarray(clip_frames[3]).save(still)
    ours = run(["generate", "--frames", "8",
                "--control", f"model={guided_files.controlnet},source={clip_folder},weight=0.6",
                "--control", f"model={guided_files.controlnet_b},source={still},weight=1.2,start=0.2"],
               demo_models, tmp_path)
    expected = reference_guided.controlnet_text2video(
        demo_models.base, demo_models.motion_adapter,
        [guided_files.controlnet, guided_files.controlnet_b],
        [pil_frames(clip_frames), [Image.fromarray(clip_frames[3])] * 8], PROMPT, NEGATIVE, 42,
        num_frames=8, controlnet_conditioning_scale=[0.6, 1.2],
        control_guidance_start=[0.0, 0.2], control_guidance_end=[1.0, 1.0], **CALL,
    )
    assert np.array_equal(ours, expected)


def test_video2video_input_as_control(demo_models, guided_files, clip_folder, clip_frames,
                                      tmp_path):
    ours = run(["video2video", "--input", str(clip_folder), "--strength", "0.7",
                "--control", f"model={guided_files.controlnet}"], demo_models, tmp_path)
    video = pil_frames(clip_frames)
    expected = reference_guided.controlnet_video2video(
        demo_models.base, demo_models.motion_adapter, guided_files.controlnet, video, video,
        PROMPT, NEGATIVE, 42, strength=0.7, **CALL,
    )
    assert ours.shape == (len(clip_frames), 64, 64, 3)
    assert np.array_equal(ours, expected)


def test_sparsectrl_two_keyframes(demo_models, guided_files, clip_frames, tmp_path):
    first, last = tmp_path / "first.png", tmp_path / "last.png"
    Image.fromarray(clip_frames[0]).save(first)
    Image.fromarray(clip_frames[-1]).save(last)
    ours = run(["generate", "--frames", "8", "--sparse-control", f"{guided_files.sparse_rgb}:0.9",
                "--keyframe", f"7:{last}", "--keyframe", f"0:{first}"], demo_models, tmp_path)
    expected = reference_guided.sparse_control(
        demo_models.base, demo_models.motion_adapter, guided_files.sparse_rgb,
        [Image.fromarray(clip_frames[0]), Image.fromarray(clip_frames[-1])], [0, 7],
        PROMPT, NEGATIVE, 42, num_frames=8, controlnet_conditioning_scale=0.9, **CALL,
    )
    assert np.array_equal(ours, expected)


def test_ip_adapter(demo_models, guided_files, clip_frames, tmp_path):
    image = tmp_path / "reference.png"
    Image.fromarray(clip_frames[2]).save(image)
    ours = run(["generate", "--frames", "8", "--ip-adapter", f"{image}:0.6",
                "--ip-adapter-model", str(guided_files.ip_adapter)], demo_models, tmp_path)
    expected = reference_guided.ip_adapter_text2video(
        demo_models.base, demo_models.motion_adapter, guided_files.ip_adapter, 0.6,
        Image.fromarray(clip_frames[2]), PROMPT, NEGATIVE, 42, num_frames=8, **CALL,
    )
    assert np.array_equal(ours, expected)
