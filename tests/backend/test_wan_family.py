"""Model families: detection, Wan's constraints and defaults read from configs, its refusals,
and Wan runs byte-identical to the plain diffusers pipelines (CPU, float32, CPU generator)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from backend.core.errors import InputError
from backend.core.guidance import Keyframe, ReferenceImage
from backend.core.request import GenerationRequest, ModelSpec, MotionLora
from backend.families.registry import detect_family, family_named, model_configs
from tests.backend import wan_reference
from tests.hub_cache import put_in_cache

WAN = family_named("wan")
SEED = 7
PARAMS = dict(prompt="a red fox runs", negative_prompt="blurry", steps=2, guidance=5.0, seed=SEED)


def _request(**changes) -> GenerationRequest:
    values = dict(PARAMS, frames=5, width=32, height=32)
    values.update(changes)
    return GenerationRequest(**values)


def _ours(folder, request, mode, *, video=None, image=None, loras=()) -> np.ndarray:
    """The family's own loading, scheduler, LoRAs and call: the code the engine runs."""
    import torch

    configs = model_configs(str(folder))
    WAN.check_parts(folder, str(folder))
    WAN.check_request(request, configs)
    assert request.run_mode == mode
    pipe = WAN.pipeline_for(WAN.load(str(folder), torch.float32), mode)
    pipe.scheduler = WAN.build_scheduler(request.scheduler, configs.component("scheduler"))
    WAN.apply_loras(pipe, loras, configs)
    output = pipe(**WAN.call_arguments(request, mode, video=video, image=image))
    return (output.frames[0] * 255).round().astype(np.uint8)


def _plain(request) -> dict:
    return dict(prompt=request.prompt, negative_prompt=request.negative_prompt,
                height=request.height, width=request.width,
                num_inference_steps=request.steps, guidance_scale=request.guidance)


# Detection ---------------------------------------------------------------------------------


def test_family_from_model_index_header_and_hub_cache(wan_models, demo_models, tmp_path,
                                                      monkeypatch):
    assert detect_family(str(wan_models["2.1"])).name == "wan"
    assert detect_family(str(wan_models["2.2-ti2v"])).name == "wan"
    assert detect_family(str(demo_models.base)).name == "animatediff"
    # A single-file transformer (the header alone is read).
    single = tmp_path / "wan_t2v.safetensors"
    shutil.copy(wan_models["2.1"] / "transformer" / "diffusion_pytorch_model.safetensors", single)
    assert detect_family(str(single)).name == "wan"
    unet = tmp_path / "unet.safetensors"
    shutil.copy(demo_models.base / "unet" / "diffusion_pytorch_model.safetensors", unet)
    assert detect_family(str(unet)).name == "animatediff"
    # A Hub id: the repository's model_index.json from the Hugging Face cache (offline here).
    import huggingface_hub.constants as hub_constants

    put_in_cache(tmp_path / "hub", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
                 lambda snapshot: shutil.copy(wan_models["2.1"] / "model_index.json", snapshot))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert detect_family("Wan-AI/Wan2.1-T2V-1.3B-Diffusers").name == "wan"
    # Unknown (offline, not cached): AnimateDiff, whose loader says what is missing.
    assert detect_family("someone/not-cached").name == "animatediff"


# Constraints and defaults, read from configs -------------------------------------------------


def test_constraints_come_from_the_vae_and_patch(wan_models):
    small = WAN.constraints(model_configs(str(wan_models["2.1"])))
    big = WAN.constraints(model_configs(str(wan_models["2.2-ti2v"])))
    assert (small.frame_step, small.frame_offset, small.size_multiple) == (4, 1, 16)
    assert (big.frame_step, big.frame_offset, big.size_multiple) == (4, 1, 32)
    with pytest.raises(InputError, match=r"4k\+1.*got 10, try 9 or 13"):
        small.check(10, 32, 32)
    with pytest.raises(InputError, match="width must be a multiple of 16.*got 40, try 32 or 48"):
        small.check(9, 40, 32)
    with pytest.raises(InputError, match="height must be a multiple of 32.*got 48, try 32 or 64"):
        big.check(9, 32, 48)


def _write_configs(folder, index, transformer, vae):
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps(index))
    for name, data in (("transformer", transformer), ("vae", vae)):
        (folder / name).mkdir()
        (folder / name / "config.json").write_text(json.dumps(data))
    return folder


# The real repositories' configs (the values that matter), as on the Hub.
T2V_13B = ({"_class_name": "WanPipeline", "transformer": ["diffusers", "WanTransformer3DModel"]},
           {"num_attention_heads": 12, "attention_head_dim": 128, "num_layers": 30,
            "ffn_dim": 8960, "patch_size": [1, 2, 2], "in_channels": 16},
           {"base_dim": 96, "z_dim": 16, "temperal_downsample": [False, True, True]})
TI2V_5B = ({"_class_name": "WanPipeline", "expand_timesteps": True, "boundary_ratio": None,
            "transformer": ["diffusers", "WanTransformer3DModel"], "transformer_2": [None, None]},
           {"num_attention_heads": 24, "attention_head_dim": 128, "num_layers": 30,
            "ffn_dim": 14336, "patch_size": [1, 2, 2], "in_channels": 48},
           {"base_dim": 160, "decoder_base_dim": 256, "z_dim": 48, "is_residual": True,
            "patch_size": 2, "scale_factor_spatial": 16, "scale_factor_temporal": 4})
A14B = ({"_class_name": "WanPipeline", "boundary_ratio": 0.875,
         "transformer": ["diffusers", "WanTransformer3DModel"],
         "transformer_2": ["diffusers", "WanTransformer3DModel"]},
        {"num_attention_heads": 40, "attention_head_dim": 128, "num_layers": 40,
         "ffn_dim": 13824, "patch_size": [1, 2, 2], "in_channels": 16},
        {"base_dim": 96, "z_dim": 16, "temperal_downsample": [False, True, True]})


def test_model_card_defaults_modes_and_sizes(tmp_path):
    small = model_configs(str(_write_configs(tmp_path / "13b", *T2V_13B)))
    five = model_configs(str(_write_configs(tmp_path / "5b", *TI2V_5B)))
    experts = model_configs(str(_write_configs(tmp_path / "a14b", *A14B)))
    d = WAN.defaults(small)
    assert (d.width, d.height, d.frames, d.fps, d.steps, d.guidance) == (832, 480, 81, 16, 50, 5.0)
    d = WAN.defaults(five)
    assert (d.width, d.height, d.frames, d.fps, d.steps, d.guidance) == (1280, 704, 121, 24, 50, 5.0)
    d = WAN.defaults(experts)
    assert (d.width, d.height, d.frames, d.fps, d.steps) == (1280, 720, 81, 16, 40)
    assert WAN.constraints(small).size_multiple == 16
    assert WAN.constraints(five).size_multiple == 32
    assert WAN.modes(small) == ("text2video", "video2video")
    assert WAN.modes(five) == ("text2video", "image2video")
    assert WAN.modes(experts) == ("text2video",)
    # Every default fits the model's own constraints.
    for configs in (small, five, experts):
        d = WAN.defaults(configs)
        WAN.constraints(configs).check(d.frames, d.width, d.height)


def test_memory_terms_count_the_text_encoder_and_both_experts(tmp_path):
    request = _request(frames=33, width=832, height=480)
    one = {t.name: t.bytes for t in WAN.memory_terms(
        model_configs(str(_write_configs(tmp_path / "13b", *T2V_13B))), request, 2)}
    two = {t.name: t.bytes for t in WAN.memory_terms(
        model_configs(str(_write_configs(tmp_path / "a14b", *A14B))), request, 2)}
    assert one["text_encoder"] > one["transformer"]  # UMT5-XXL outweighs the 1.3B transformer
    assert 2.4e9 < one["transformer"] < 3.0e9  # 1.3B parameters in 16 bits
    assert 52e9 < two["transformer"] < 60e9  # two 14B experts in 16 bits
    assert [s.name for s in WAN.memory_savers][0] == "text_encoder_cpu"
    changing = {s.name for s in WAN.memory_savers if s.changes_frames}
    assert "fp8_layerwise" in changing and not {"model_offload", "group_offload"} & changing


# Refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, words", [
    ({"model": ModelSpec(motion_adapter="guoyww/other")}, "motion adapter"),
    ({"model": ModelSpec(motion_loras=(MotionLora("x.safetensors"),))}, "motion lora"),
    ({"free_init_iters": 2}, "freeinit"),
    ({"context_length": 8}, "context length"),
    ({"prompt_travel": {4: "night"}}, "prompt travel"),
    ({"clip_skip": 2}, "clip skip"),
    ({"freeu": (0.9, 0.2, 1.2, 1.4)}, "freeu"),
    ({"scheduler": "ddim"}, "stable diffusion scheduler"),
    ({"preset": "lightning"}, "animatediff recipes"),
    ({"ip_adapter": ReferenceImage("face.png")}, "ip-adapter"),
    ({"keyframes": (Keyframe(0, "a.png"),)}, "start image instead"),
    ({"frames": 8}, "try 5 or 9"),
    ({"width": 24}, "try 16 or 32"),
])
def test_wan_refuses_what_does_not_apply(wan_models, changes, words):
    configs = model_configs(str(wan_models["2.1"]))
    request = _request(**{"scheduler": "model_default", **changes})
    with pytest.raises(InputError) as error:
        WAN.check_request(request, configs)
    assert words in str(error.value).lower()


def test_start_image_needs_a_model_that_can_use_one(wan_models):
    request = _request(scheduler="model_default", start_image="start.png")
    with pytest.raises(InputError, match="text only.*Wan2.2-TI2V-5B"):
        WAN.check_request(request, model_configs(str(wan_models["2.1"])))
    WAN.check_request(request, model_configs(str(wan_models["2.2-ti2v"])))
    with pytest.raises(InputError, match="video-to-video runs on Wan 2.1"):
        WAN.check_request(_request(scheduler="model_default", mode="video2video",
                                   input_video="in.mp4"),
                          model_configs(str(wan_models["2.2-ti2v"])))


def test_a_folder_with_a_part_missing_is_named(wan_models, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(wan_models["2.1"], broken)
    shutil.rmtree(broken / "vae")
    with pytest.raises(InputError, match="parts missing: vae"):
        WAN.check_parts(broken, "broken")


def _fake_lora(path, keys):
    import torch
    from safetensors.torch import save_file

    save_file({key: torch.zeros(shape) for key, shape in keys.items()}, str(path))
    return path


def test_loras_for_another_model_are_refused_before_any_loads(wan_models, tmp_path):
    import torch

    configs = model_configs(str(wan_models["2.1"]))
    other = _fake_lora(tmp_path / "wan13b.safetensors", {
        "diffusion_model.blocks.0.self_attn.q.lora_A.weight": (4, 1536),
        "diffusion_model.blocks.0.self_attn.q.lora_B.weight": (1536, 4)})
    sd = _fake_lora(tmp_path / "sd.safetensors", {
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": (4, 320)})
    pickle = tmp_path / "lora.bin"
    pickle.write_bytes(b"not read")
    good = MotionLora(str(wan_models["2.1"].parent / "wan-2.1-lora"), 0.8)
    pipe = WAN.load(str(wan_models["2.1"]), torch.float32)
    for source, words in ((other, "made for Wan 2.1 1.3B"), (sd, "made for Stable Diffusion"),
                          (pickle, "not a .safetensors file")):
        with pytest.raises(InputError, match=words):
            WAN.apply_loras(pipe, (good, MotionLora(str(source), 1.0)), configs)
        assert pipe.get_list_adapters() == {}  # nothing half-loaded, the good one neither


# Byte-identical to diffusers ---------------------------------------------------------------


@pytest.mark.parametrize("shape", ["2.1", "2.2-ti2v"])
def test_text_to_video_matches_diffusers(wan_models, shape):
    request = _request(scheduler="model_default")
    ours = _ours(wan_models[shape], request, "text2video")
    reference = wan_reference.text2video(str(wan_models[shape]), SEED, num_frames=5,
                                         **_plain(request))
    assert ours.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(ours, reference)


def test_video_to_video_matches_diffusers(wan_models, clip_frames):
    from PIL import Image

    video = [Image.fromarray(frame).resize((32, 32)) for frame in clip_frames[:5]]
    request = _request(scheduler="model_default", mode="video2video", strength=0.7)
    ours = _ours(wan_models["2.1"], request, "video2video", video=video)
    reference = wan_reference.video2video(str(wan_models["2.1"]), video, SEED, strength=0.7,
                                          **_plain(request))
    np.testing.assert_array_equal(ours, reference)


def test_image_to_video_on_the_5b_shape_matches_diffusers(wan_models, clip_frames):
    from PIL import Image

    image = Image.fromarray(clip_frames[0])  # 64x64: diffusers resizes it to the clip's size
    request = _request(scheduler="model_default", start_image="start.png")
    ours = _ours(wan_models["2.2-ti2v"], request, "image2video", image=image)
    reference = wan_reference.image2video(str(wan_models["2.2-ti2v"]), image, SEED, num_frames=5,
                                          **_plain(request))
    np.testing.assert_array_equal(ours, reference)


def test_lora_at_weight_08_matches_diffusers(wan_models):
    folder = wan_models["2.1"]
    lora = folder.parent / "wan-2.1-lora"
    request = _request(scheduler="model_default")
    ours = _ours(folder, request, "text2video", loras=(MotionLora(str(lora), 0.8),))
    reference = wan_reference.text2video(str(folder), SEED, loras=(("a", str(lora), 0.8),),
                                         num_frames=5, **_plain(request))
    without = wan_reference.text2video(str(folder), SEED, num_frames=5, **_plain(request))
    np.testing.assert_array_equal(ours, reference)
    assert not np.array_equal(reference, without)  # the LoRA does change the frames


@pytest.mark.parametrize("name", ["unipc_flow", "euler_flow"])
def test_flow_schedulers_match_diffusers(wan_models, name):
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler, WanPipeline

    folder = wan_models["2.1"]
    request = _request(scheduler=name)
    ours = _ours(folder, request, "text2video")
    pipe = WanPipeline.from_pretrained(folder)
    if name == "unipc_flow":
        pipe.scheduler = UniPCMultistepScheduler.from_config(
            pipe.scheduler.config, prediction_type="flow_prediction", use_flow_sigmas=True,
            flow_shift=3.0)
    else:
        pipe.scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    import torch

    output = pipe(generator=torch.Generator("cpu").manual_seed(SEED), output_type="np",
                  num_frames=5, **_plain(request))
    np.testing.assert_array_equal(ours, (output.frames[0] * 255).round().astype(np.uint8))


def test_prompt_encoded_apart_matches_diffusers(wan_models):
    """The text-encoder-on-the-CPU saver: the prompt is encoded once where the text encoder is
    and the pipeline gets the embeddings; on the CPU the frames are the plain pipeline's."""
    import torch

    folder = wan_models["2.1"]
    request = _request(scheduler="model_default")
    pipe = WAN.load(str(folder), torch.float32)
    WAN.place(pipe, "cpu", frozenset({"text_encoder_cpu"}))
    arguments = WAN.call_arguments(request, "text2video")
    del arguments["prompt"], arguments["negative_prompt"]
    arguments.update(WAN.encode_prompt(pipe, request, "cpu"))
    ours = (pipe(**arguments).frames[0] * 255).round().astype(np.uint8)
    reference = wan_reference.text2video(str(folder), SEED, num_frames=5, **_plain(request))
    np.testing.assert_array_equal(ours, reference)


def test_models_scan_recognises_wan_files_by_their_headers(wan_models):
    from backend.hub.scan import WAN_LORA, WAN_TRANSFORMER, classify_file, classify_keys

    folder = wan_models["2.1"]
    transformer = classify_file(folder / "transformer" / "diffusion_pytorch_model.safetensors")
    assert transformer.kind == WAN_TRANSFORMER and transformer.usable
    lora = classify_file(folder.parent / "wan-2.1-lora" / "pytorch_lora_weights.safetensors")
    assert lora.kind == WAN_LORA
    # ComfyUI's repackaged names and the makers' LoRA names.
    assert classify_keys(["model.diffusion_model.blocks.0.self_attn.q.weight",
                          "model.diffusion_model.head.modulation"])[0] == WAN_TRANSFORMER
    assert classify_keys(["diffusion_model.blocks.0.self_attn.q.lora_A.weight"])[0] == WAN_LORA


def test_two_experts_load_through_the_same_path(tmp_path):
    """Wan 2.2 A14B's layout (transformer_2, boundary_ratio): loaded, run byte-identical to
    diffusers, text-to-video only, and both experts counted in the estimate."""
    from backend.models.wan_demo_model import EXPERTS_SHAPE, build_wan_pipeline

    folder = tmp_path / "a14b"
    build_wan_pipeline(folder, EXPERTS_SHAPE)
    configs = model_configs(str(folder))
    assert WAN.modes(configs) == ("text2video",)
    request = _request(scheduler="model_default", steps=4)
    ours = _ours(folder, request, "text2video")
    reference = wan_reference.text2video(str(folder), SEED, num_frames=5, **_plain(request))
    np.testing.assert_array_equal(ours, reference)
    from backend.families.base import ModelConfigs

    index = {k: v for k, v in configs.index.items() if k != "transformer_2"}
    alone = ModelConfigs(configs.class_name, index, configs.components)
    both = {t.name: t.bytes for t in WAN.memory_terms(configs, request, 4)}
    one = {t.name: t.bytes for t in WAN.memory_terms(alone, request, 4)}
    assert both["transformer"] == 2 * one["transformer"]
    with pytest.raises(InputError, match="parts missing: transformer_2"):
        shutil.rmtree(folder / "transformer_2")
        WAN.check_parts(folder, "a14b")


def test_memory_plan_takes_the_wan_savers_in_their_order(tmp_path):
    """The plan for a Wan job uses the family's savers, cheapest first, and each lowers the
    estimate it is taken for; AnimateDiff's (split inference, chunked decoding) never appear."""
    from backend.engine.memory import plan_memory
    from backend.models.memory_estimate import estimate_memory

    folder = _write_configs(tmp_path / "13b", *T2V_13B)
    request = _request(frames=33, width=832, height=480,
                       model=ModelSpec(base_model=str(folder), motion_adapter=""))
    gib = 2**30
    everything = estimate_memory(request, "cuda", 2).peak
    without_text = estimate_memory(request, "cuda", 2, frozenset({"text_encoder_cpu"})).peak
    assert without_text < everything
    plan = plan_memory(request, "cuda", 2, free=everything + gib, family=WAN)
    assert plan.savers == () and plan.fits
    plan = plan_memory(request, "cuda", 2, free=without_text + gib // 8, family=WAN)
    assert [s.name for s in plan.savers] == ["text_encoder_cpu"] and plan.fits
    plan = plan_memory(request, "cuda", 2, free=gib, family=WAN)
    names = [s.name for s in plan.savers]
    assert names[0] == "text_encoder_cpu" and "group_offload" in plan.active
    assert not {"split_inference", "chunked_decode"} & set(names)
    # On the CPU only VAE tiling means anything.
    cpu = plan_memory(request, "cpu", 4, free=gib, family=WAN)
    assert {s.name for s in cpu.savers} <= {"vae_tiling"}
