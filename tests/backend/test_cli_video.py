"""The command line's video side: `convert`, the export flags, and `--from-metadata` re-runs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from backend.cli.commands import main as cli_main
from backend.media.metadata import read_metadata
from backend.media.reader import probe, read_frames
from backend.media.writer import write_clip
from tests.backend.test_video_io import ffmpeg_stream, moving_clip


@pytest.fixture()
def source_mp4(tmp_path):
    path = tmp_path / "source.mp4"
    write_clip(moving_clip(count=24), path, 24)
    return path


def tiny(models) -> list[str]:
    return [
        "--base-model", str(models.base), "--motion-adapter", str(models.motion_adapter),
        "--width", "64", "--height", "64", "--frames", "6", "--steps", "2", "--quiet",
        "--device", "cpu", "--dtype", "float32",
    ]


def test_convert_mp4_to_gif_with_range_size_and_fps(source_mp4, tmp_path, capsys):
    output = tmp_path / "out.gif"
    argv = ["convert", str(source_mp4), "--output", str(output), "--frames", "0:12", "--fps", "8", "--size", "48x32"]
    assert cli_main(argv) == 0
    frames = read_frames(output)
    # 12 frames at 24 fps are half a second: 4 frames at 8 fps.
    assert frames.shape == (4, 32, 48, 3)
    assert probe(output).fps == pytest.approx(8, rel=0.02)
    assert "wrote" in capsys.readouterr().err


def test_convert_folder_to_mp4_plays_at_given_fps(tmp_path):
    write_clip(moving_clip(count=10), tmp_path / "frames", 8)
    assert cli_main(["convert", str(tmp_path / "frames"), "--output", str(tmp_path / "c.mp4"), "--fps", "12"]) == 0
    stream = ffmpeg_stream(tmp_path / "c.mp4")
    assert stream["fps"] == 12 and stream["codec"] == "h264"
    assert len(read_frames(tmp_path / "c.mp4")) == 10


def test_convert_keeps_source_fps_and_flags(source_mp4, tmp_path):
    output = tmp_path / "c.gif"
    assert cli_main(["convert", str(source_mp4), "--output", str(output), "--every", "2", "--pingpong", "--loop", "-1"]) == 0
    with Image.open(output) as image:
        assert image.n_frames == 12 * 2 - 2
        assert "loop" not in image.info


@pytest.mark.parametrize(
    "setup,argv_tail,words",
    [
        ("text", [], "cannot be read"),
        ("truncated", [], "truncated or damaged"),
        ("empty", [], "holds no images"),
        ("mp4", ["--frames", "5:5"], "selects no frames"),
        ("mp4", ["--frames", "500:"], "holds no frames"),
        ("mp4", ["--size", "big"], "WIDTHxHEIGHT"),
        ("missing", [], "no such file"),
    ],
)
def test_convert_bad_input(tmp_path, capsys, setup, argv_tail, words):
    source = tmp_path / "in.mp4"
    if setup == "text":
        source.write_text("not a video")
    elif setup in ("truncated", "mp4"):
        write_clip(moving_clip(count=48), source, 8, )
        if setup == "truncated":
            data = source.read_bytes()
            source.write_bytes(data[: len(data) // 2])
    elif setup == "empty":
        source = tmp_path / "empty"
        source.mkdir()
    output = tmp_path / "out" / "clip.gif"
    output.parent.mkdir()
    code = cli_main(["convert", str(source), "--output", str(output), *argv_tail])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and "\n" not in err
    assert list(output.parent.iterdir()) == []


def test_convert_unwritable_target(source_mp4, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = cli_main(["convert", str(source_mp4), "--output", str(blocker / "out.gif")])
    assert code == 2 and "is a file, not a folder" in capsys.readouterr().err


def test_generate_embeds_metadata_and_from_metadata_reruns_exactly(demo_models, tmp_path):
    first = tmp_path / "first.mp4"
    frames = tmp_path / "first-frames"
    argv = ["generate", "--prompt", "a lighthouse", "--seed", "11", "--no-vae-slicing", *tiny(demo_models)]
    assert cli_main([*argv, "--output", str(frames)]) == 0
    assert cli_main([*argv, "--output", str(first), "--crf", "30", "--sidecar"]) == 0
    assert (tmp_path / "first.mp4.json").is_file()
    assert read_metadata(first)["request"]["prompt"] == "a lighthouse"
    again = tmp_path / "again"
    assert cli_main(["generate", "--from-metadata", str(first), "--output", str(again), "--quiet"]) == 0
    assert np.array_equal(read_frames(again), read_frames(frames))
    # Options given alongside override the stored ones.
    other = tmp_path / "other"
    assert cli_main(["generate", "--from-metadata", str(frames), "--seed", "12", "--output", str(other), "--quiet"]) == 0
    assert read_metadata(other)["request"]["seed"] == 12
    assert read_metadata(other)["request"]["prompt"] == "a lighthouse"
    assert not np.array_equal(read_frames(other), read_frames(frames))


def test_video2video_from_metadata(demo_models, clip_folder, tmp_path):
    out = tmp_path / "v.gif"
    argv = ["video2video", "--input", str(clip_folder), "--prompt", "ink", "--strength", "0.75",
            "--seed", "3", "--steps", "4", *tiny(demo_models)[:-2], "--output", str(out)]
    argv[argv.index("--steps") + 1] = "4"
    assert cli_main(argv) == 0
    request = read_metadata(out)["request"]
    assert request["mode"] == "video2video" and request["input_video"] == str(clip_folder)
    rerun = tmp_path / "rerun.gif"
    assert cli_main(["video2video", "--from-metadata", str(out), "--output", str(rerun), "--quiet"]) == 0
    assert np.array_equal(read_frames(rerun), read_frames(out))


def test_from_metadata_of_a_foreign_file(tmp_path, capsys):
    write_clip(moving_clip(count=3), tmp_path / "plain.gif", 8)
    code = cli_main(["generate", "--from-metadata", str(tmp_path / "plain.gif"), "--output", str(tmp_path / "o.gif")])
    assert code == 2 and "holds no AnimateDiff Studio settings" in capsys.readouterr().err


def test_generate_needs_a_prompt(tmp_path, capsys):
    assert cli_main(["generate", "--output", str(tmp_path / "o.gif")]) == 2
    assert "--prompt is required" in capsys.readouterr().err


def test_relative_model_paths_are_stored_absolute_and_rerun_from_any_folder(demo_models, tmp_path, monkeypatch):
    monkeypatch.chdir(demo_models.root)
    first = tmp_path / "first"
    argv = ["generate", "--prompt", "a lighthouse", "--seed", "3", "--width", "64", "--height", "64",
            "--frames", "4", "--steps", "2", "--device", "cpu", "--quiet",
            "--base-model", "base", "--motion-adapter", "motion-adapter"]
    assert cli_main([*argv, "--output", str(first)]) == 0
    stored = read_metadata(first)["request"]["model"]
    assert stored["base_model"] == str(demo_models.base)
    assert stored["motion_adapter"] == str(demo_models.motion_adapter)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli_main(["generate", "--from-metadata", str(first), "--output", "again", "--quiet"]) == 0
    assert np.array_equal(read_frames(elsewhere / "again"), read_frames(first))


def test_metadata_cannot_switch_on_pickle_loading(demo_models, tmp_path):
    import json

    out = tmp_path / "clip"
    argv = ["generate", "--prompt", "x", "--seed", "1", *tiny(demo_models), "--quiet"]
    assert cli_main([*argv, "--output", str(out), "--sidecar"]) == 0
    sidecar = tmp_path / "forged.json"
    data = read_metadata(out)
    data["request"]["model"]["allow_pickle"] = True
    sidecar.write_text(json.dumps(data))
    from backend.cli.commands import build_parser, request_from_args

    args = build_parser().parse_args(["generate", "--from-metadata", str(sidecar), "--output", str(tmp_path / "o")])
    assert request_from_args(args, set()).model.allow_pickle is False
    args = build_parser().parse_args(["generate", "--from-metadata", str(sidecar), "--allow-pickle", "--output", str(tmp_path / "o")])
    assert request_from_args(args, {"allow_pickle"}).model.allow_pickle is True
