"""Guided bad input: exit 2, one line saying what and what to do, nothing in the output folder;
and `preprocess canny` against OpenCV itself."""

from __future__ import annotations

import numpy as np
from PIL import Image

from backend.cli.commands import main as cli_main
from tests.backend.test_guided_reference import guided_files  # noqa: F401 - session fixture
from tests.backend.test_reference import common_args


def run_bad(capsys, tmp_path, models, *argv) -> str:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    code = cli_main([*argv, "--prompt", "x", "--output", str(out / "o.gif"), *common_args(models)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert list(out.iterdir()) == []
    return lines[0]


def test_missing_source(capsys, tmp_path, demo_models, guided_files):  # noqa: F811
    line = run_bad(capsys, tmp_path, demo_models, "generate", "--control",
                   f"model={guided_files.controlnet},source={tmp_path / 'nope.mp4'}")
    assert "nope.mp4': no such file or folder" in line


def test_unreadable_source(capsys, tmp_path, demo_models, guided_files):  # noqa: F811
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 10)
    line = run_bad(capsys, tmp_path, demo_models, "generate", "--control",
                   f"model={guided_files.controlnet},source={broken}")
    assert "broken.mp4" in line


def test_frame_count_mismatch(capsys, tmp_path, demo_models, guided_files, clip_folder):  # noqa: F811
    line = run_bad(capsys, tmp_path, demo_models, "generate", "--frames", "5", "--control",
                   f"model={guided_files.controlnet},source={clip_folder}")
    assert "has 8 frames, the clip has 5" in line


def test_sdxl_controlnet_on_sd15(capsys, tmp_path, demo_models, guided_files, clip_folder):  # noqa: F811
    line = run_bad(capsys, tmp_path, demo_models, "generate", "--control",
                   f"model={guided_files.sdxl_controlnet},source={clip_folder}")
    assert "cross-attention 64" in line and "choose an SD1.5 ControlNet" in line


def test_ip_adapter_without_encoder(capsys, tmp_path, demo_models, guided_files, clip_folder):  # noqa: F811
    image = next(clip_folder.iterdir())
    line = run_bad(capsys, tmp_path, demo_models, "generate", "--frames", "2",
                   "--ip-adapter", str(image), "--ip-adapter-model", str(guided_files.ip_adapter_bare))
    assert "has no image encoder beside it" in line


def test_keyframe_outside_clip(capsys, tmp_path, demo_models, guided_files, clip_folder):  # noqa: F811
    image = next(clip_folder.iterdir())
    line = run_bad(capsys, tmp_path, demo_models, "generate", "--frames", "8",
                   "--sparse-control", str(guided_files.sparse_rgb), "--keyframe", f"8:{image}")
    assert "keyframe at frame 8 is outside the clip" in line


def test_sparse_control_has_no_free_noise(capsys, tmp_path, demo_models, guided_files, clip_folder):  # noqa: F811
    image = next(clip_folder.iterdir())
    line = run_bad(capsys, tmp_path, demo_models, "generate", "--frames", "8",
                   "--sparse-control", str(guided_files.sparse_rgb), "--keyframe", f"0:{image}",
                   "--context-length", "4")
    assert "SparseCtrl has no FreeNoise" in line


def test_depth_offline(capsys, tmp_path, demo_models, guided_files, clip_folder, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ANIMATEDIFF_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    line = run_bad(capsys, tmp_path, demo_models, "generate", "--control",
                   f"model={guided_files.controlnet},source={clip_folder},preprocess=depth")
    assert "preprocess=depth needs depth-anything/Depth-Anything-V2-Small-hf" in line


def test_pickle_controlnet(capsys, tmp_path, demo_models, guided_files, clip_folder):  # noqa: F811
    line = run_bad(capsys, tmp_path, demo_models, "generate", "--control",
                   f"model={guided_files.pickle_controlnet},source={clip_folder}")
    assert "is a pickle file that needs to run code to load" in line and "--allow-pickle" in line


def test_changed_source_is_refused_on_rerun(capsys, tmp_path, demo_models, guided_files,  # noqa: F811
                                            clip_frames):
    source = tmp_path / "source"
    source.mkdir()
    for index, frame in enumerate(clip_frames[:2]):
        Image.fromarray(frame).save(source / f"{index}.png")
    first = tmp_path / "first.gif"
    argv = ["generate", "--prompt", "x", "--control", f"model={guided_files.controlnet},source={source}"]
    assert cli_main([*argv, "--output", str(first), *common_args(demo_models)]) == 0
    capsys.readouterr()
    Image.fromarray(clip_frames[5]).save(source / "1.png")
    line = run_bad(capsys, tmp_path, demo_models, "generate", "--from-metadata", str(first))
    assert "has changed since these settings were recorded" in line


def test_preprocess_canny_is_opencv(tmp_path, clip_folder, clip_frames, monkeypatch):
    import cv2

    monkeypatch.setenv("ANIMATEDIFF_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "edges"
    expected = np.stack([np.repeat(cv2.Canny(f, 100, 200)[:, :, None], 3, 2) for f in clip_frames])
    for _ in range(2):  # the second run reads the cache
        assert cli_main(["preprocess", "canny", "--input", str(clip_folder), "--output", str(out)]) == 0
        written = np.stack([np.asarray(Image.open(p)) for p in sorted(out.glob("frame_*.png"))])
        assert np.array_equal(written, expected)
    assert len(list((tmp_path / "cache" / "control-frames").iterdir())) == 1


def test_lineart_draws_dark_strokes_bright(tmp_path):
    """A black stroke on white paper becomes a bright line on black; flat paper stays black."""
    from backend.models.preprocessors import lineart

    paper = np.full((64, 64, 3), 255, np.uint8)
    paper[30:33, 8:56] = 0
    lines = lineart(paper)
    assert lines.shape == paper.shape and np.array_equal(lines[..., 0], lines[..., 2])
    assert lines[31, 32, 0] >= 120
    assert not lines[:10].any() and not lines[-10:].any()
