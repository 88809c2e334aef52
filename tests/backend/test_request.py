"""GenerationRequest / ModelSpec: validation names the field and range; the dict form is
versioned and round-trips."""

from __future__ import annotations

import json

import pytest

from backend.core.errors import InputError
from backend.core.request import (
    DEFAULT_BASE_MODEL,
    DEFAULT_MOTION_ADAPTER,
    SCHEMA_VERSION,
    GenerationRequest,
    ModelSpec,
    MotionLora,
)


def full_request() -> GenerationRequest:
    return GenerationRequest(
        prompt="a fox",
        negative_prompt="blurry",
        mode="video2video",
        prompt_travel={4: "a wolf", 8: "a bear"},
        frames=12,
        width=256,
        height=192,
        steps=20,
        guidance=6.0,
        seed=2**32 - 1,  # the top of the one seed range
        scheduler="dpmpp_2m_karras",
        fps=12,
        clip_skip=2,
        input_video="/videos/in.mp4",
        strength=0.6,
        free_init_iters=3,
        free_init_method="gaussian",
        free_init_fast=True,
        freeu=(0.9, 0.2, 1.2, 1.4),
        context_length=16,
        context_stride=4,
        model=ModelSpec(
            base_model="/models/base",
            motion_adapter="guoyww/animatediff-motion-adapter-v1-5-3",
            motion_loras=(MotionLora("zoom", 0.7), MotionLora("/l/pan.safetensors", 1.2)),
            device="cuda",
            dtype="float16",
            offload="model",
            vae_slicing=False,
            vae_tiling=True,
        ),
    )


def test_defaults_follow_the_documentation():
    request = GenerationRequest(prompt="x")
    assert (request.frames, request.width, request.height) == (16, 512, 512)
    assert (request.steps, request.guidance, request.fps, request.scheduler) == (25, 7.5, 8, "ddim")
    assert request.model.base_model == DEFAULT_BASE_MODEL == "SG161222/Realistic_Vision_V5.1_noVAE"
    assert request.model.motion_adapter == DEFAULT_MOTION_ADAPTER == "guoyww/animatediff-motion-adapter-v1-5-2"
    request.validate()


def test_round_trip_through_json():
    request = full_request()
    request.validate()
    data = json.loads(json.dumps(request.to_dict()))
    assert data["schema_version"] == SCHEMA_VERSION
    assert GenerationRequest.from_dict(data) == request


def test_settings_from_a_file_never_switch_on_pickle_loading():
    data = full_request().to_dict()
    data["model"]["allow_pickle"] = True
    assert GenerationRequest.from_dict(data).model.allow_pickle is False


def test_seed_range_is_the_same_everywhere():
    from backend.core.request import SEED_RANGE, random_seed

    assert SEED_RANGE == (0, 2**32 - 1)
    GenerationRequest(prompt="x", seed=2**32 - 1).validate()
    with pytest.raises(InputError, match="seed must be from 0 to 4294967295"):
        GenerationRequest(prompt="x", seed=2**32).validate()
    assert all(0 <= random_seed() <= SEED_RANGE[1] for _ in range(100))


def test_local_paths_become_absolute_and_hub_ids_stay(tmp_path, monkeypatch):
    (tmp_path / "base").mkdir()
    (tmp_path / "lora.safetensors").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    request = GenerationRequest(prompt="x", model=ModelSpec(
        base_model="base", motion_adapter="guoyww/animatediff-motion-adapter-v1-5-2",
        motion_loras=(MotionLora("lora.safetensors", 0.5), MotionLora("guoyww/x", 1.0)),
    )).with_absolute_paths()
    assert request.model.base_model == str(tmp_path / "base")
    assert request.model.motion_adapter == "guoyww/animatediff-motion-adapter-v1-5-2"
    assert request.model.motion_loras[0].source == str(tmp_path / "lora.safetensors")
    assert request.model.motion_loras[1].source == "guoyww/x"


def test_missing_keys_take_defaults_and_unknown_keys_are_ignored():
    request = GenerationRequest.from_dict({"schema_version": 1, "prompt": "x", "future_knob": 3})
    assert request == GenerationRequest(prompt="x")


def test_newer_schema_is_refused_clearly():
    data = full_request().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(InputError, match="newer AnimateDiff Studio"):
        GenerationRequest.from_dict(data)


@pytest.mark.parametrize(
    "data,words",
    [
        ({"format": "something-else"}, "not AnimateDiff Studio"),
        ({"schema_version": "one"}, "schema_version"),
        ({"frames": "many"}, "frames"),
        ({"prompt_travel": {"x": "y"}}, "malformed"),
        ({"model": {"motion_loras": [{"weight": 1}]}}, "malformed"),
        ([1, 2], "JSON object"),
    ],
)
def test_malformed_dicts(data, words):
    with pytest.raises(InputError, match=words):
        GenerationRequest.from_dict(data)


@pytest.mark.parametrize(
    "changes,words",
    [
        ({"width": 100}, "width must be a multiple of 8"),
        ({"height": 32}, "height must be from 64 to 2048"),
        ({"frames": 0}, "frames must be from 1 to 1024"),
        ({"frames": 2.5}, "frames must be a whole number"),
        ({"steps": 0}, "steps must be from 1 to 500"),
        ({"guidance": -1.0}, "guidance must be from 0.0 to 50.0"),
        ({"seed": -1}, "seed"),
        ({"scheduler": "magic"}, "scheduler must be one of ddim"),
        ({"mode": "image2video"}, "mode must be one of text2video, video2video"),
        ({"mode": "video2video"}, "needs an input video"),
        ({"mode": "video2video", "input_video": "v.mp4", "strength": 0.0}, "strength must be above 0"),
        ({"mode": "video2video", "input_video": "v.mp4", "strength": 1.01}, "strength must be from 0.0 to 1.0"),
        ({"free_init_iters": 11}, "FreeInit iterations"),
        ({"free_init_method": "box"}, "FreeInit method"),
        ({"freeu": (1.0, 2.0)}, "FreeU needs four numbers"),
        ({"freeu": (1.0, 2.0, 3.0, 99.0)}, "FreeU b2"),
        ({"context_length": 8, "context_stride": 9}, "context stride must be from 1 to 8"),
        ({"prompt_travel": {16: "late"}}, "prompt travel frame must be from 0 to 15"),
        ({"prompt_travel": {3: " "}}, "empty prompt"),
        ({"clip_skip": 0}, "clip skip"),
        ({"model": ModelSpec(device="tpu")}, "device must be one of auto, cpu, cuda, mps"),
        ({"model": ModelSpec(dtype="int8")}, "dtype must be one of"),
        ({"model": ModelSpec(offload="disk")}, "offload must be one of none, model, sequential"),
        ({"model": ModelSpec(base_model=" ")}, "base model: the path or hub id is empty"),
        ({"model": ModelSpec(motion_loras=(MotionLora("x", 99.0),))}, "motion LoRA x weight"),
    ],
)
def test_validation_names_field_and_range(changes, words):
    with pytest.raises(InputError, match=words.replace("(", r"\(")):
        GenerationRequest(prompt="x", **changes).validate()


def test_travel_prompts_start_at_frame_zero():
    request = GenerationRequest(prompt="a", prompt_travel={8: "c", 4: "b"})
    assert request.travel_prompts() == {0: "a", 4: "b", 8: "c"}
    assert list(request.travel_prompts()) == [0, 4, 8]


@pytest.mark.parametrize(
    "changes,expected",
    [
        ({}, 25),
        ({"free_init_iters": 3}, 75),
        ({"free_init_iters": 3, "free_init_fast": True, "steps": 9}, 3 + 6 + 9),
        ({"mode": "video2video", "input_video": "v", "strength": 0.5, "steps": 10}, 5),
    ],
)
def test_denoising_steps(changes, expected):
    assert GenerationRequest(prompt="x", **changes).denoising_steps() == expected


def test_cache_key_ignores_loras_and_vae_options():
    a = ModelSpec(motion_loras=(MotionLora("x"),), vae_slicing=True)
    b = ModelSpec(vae_tiling=True, vae_slicing=False)
    assert a.cache_key() == b.cache_key()
    assert ModelSpec(dtype="float16").cache_key() != ModelSpec().cache_key()
