"""Replaying a finished clip's metadata: `generate --from-metadata` re-runs the generation and
then the recorded finishing steps, checked by each model file's SHA-256. The reference is the
first run's own output file: the replay must give the same frames, at the same rate."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from safetensors.torch import save_file

from backend.cli.commands import main as cli_main
from backend.core.errors import InputError
from backend.finishing.replay import recorded_options
from backend.media.metadata import read_metadata
from backend.media.reader import probe, read_frames
from tests.backend.test_finishing import random_ifnet, rife_files, upscaler_file  # noqa: F401


def generate(demo_models, output, *extra: str) -> int:
    return cli_main([
        "generate", "--prompt", "a cat", "--output", str(output),
        "--base-model", str(demo_models.base), "--motion-adapter", str(demo_models.motion_adapter),
        "--width", "64", "--height", "64", "--frames", "3", "--steps", "2", "--quiet",
        "--device", "cpu", "--dtype", "float32", "--fps", "8", "--seed", "7", *extra,
    ])


@pytest.fixture(scope="module")
def finished(demo_models, rife_files, upscaler_file, tmp_path_factory):  # noqa: F811
    """A clip generated, interpolated x2 and upscaled, as the record to replay."""
    _, folder = rife_files
    models = tmp_path_factory.mktemp("replay_models")
    rife = shutil.copy(folder / "flownet.pkl", models / "flownet.pkl")
    upscaler = shutil.copy(upscaler_file, models / "compact_x2.safetensors")
    output = models / "finished.webp"
    assert generate(demo_models, output, "--interpolate", "2", "--interpolation-model", str(rife),
                    "--upscale-model", str(upscaler)) == 0
    return output, models


def test_from_metadata_replays_the_recorded_steps(demo_models, finished, tmp_path):
    output, _ = finished
    original = read_frames(output)
    assert original.shape == (5, 128, 128, 3)
    replay = tmp_path / "replay.webp"
    assert generate(demo_models, replay, "--from-metadata", str(output)) == 0
    assert np.array_equal(read_frames(replay), original)
    assert probe(replay).fps == pytest.approx(16, rel=0.05)
    assert read_metadata(replay)["finishing"] == read_metadata(output)["finishing"]


def test_a_changed_model_file_is_refused_with_exit_2(demo_models, finished, tmp_path, capsys):
    output, models = finished
    changed = tmp_path / "flownet.safetensors"
    save_file({k: v.contiguous() for k, v in random_ifnet(seed=3).state_dict().items()}, changed)
    replay = tmp_path / "replay.webp"
    assert generate(demo_models, replay, "--from-metadata", str(output),
                    "--interpolation-model", str(changed)) == 2
    err = capsys.readouterr().err
    assert "interpolation model" in err and "has changed" in err and len(err.strip().splitlines()) == 1
    assert not replay.exists()


def test_a_moved_model_file_is_found_by_its_new_path(demo_models, finished, tmp_path, capsys):
    output, models = finished
    moved = tmp_path / "elsewhere.safetensors"
    shutil.copy(models / "compact_x2.safetensors", moved)
    recorded = read_metadata(output)["finishing"]
    step = next(s for s in recorded if s["step"] == "upscale")
    assert step["model"] == str((models / "compact_x2.safetensors").resolve())  # absolute
    replay = tmp_path / "replay.webp"
    assert generate(demo_models, replay, "--from-metadata", str(output), "--upscale-model", str(moved)) == 0
    assert np.array_equal(read_frames(replay), read_frames(output))


def test_typed_finishing_options_replace_the_record(demo_models, finished, tmp_path):
    output, models = finished
    replay = tmp_path / "replay.webp"
    assert generate(demo_models, replay, "--from-metadata", str(output), "--interpolate", "4",
                    "--interpolation-model", str(models / "flownet.pkl")) == 0
    assert read_frames(replay).shape == (9, 64, 64, 3)
    assert [s["step"] for s in read_metadata(replay)["finishing"]] == ["interpolate"]


def test_a_chain_of_steps_becomes_passes_in_order():
    sha = "0" * 64
    steps = [
        {"step": "interpolate", "model": "a.pkl", "sha256": sha, "factor": 2, "scale": 1.0},
        {"step": "upscale", "model": "b.safetensors", "sha256": sha, "factor": 2.0, "model_scale": 2},
        {"step": "interpolate", "model": "a.pkl", "sha256": sha, "factor": 4, "scale": 0.5},
    ]
    first, second = recorded_options(steps)
    assert (first.interpolate, first.upscale_model, first.upscale) == (2, "b.safetensors", None)
    assert (second.interpolate, second.interpolation_scale, second.upscaling) == (4, 0.5, False)
    with pytest.raises(InputError, match="not one this version knows"):
        recorded_options([{"step": "sharpen"}])
    with pytest.raises(InputError, match="no model file"):
        recorded_options([{"step": "upscale", "factor": 2}])
