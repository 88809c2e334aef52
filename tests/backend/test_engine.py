"""generate(): each option is applied, progress is reported, cancel stops within one step, and
the pipeline cache is reused and stays usable."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from backend.core.errors import Cancelled
from backend.core.request import GenerationRequest, ModelSpec, MotionLora
from backend.engine.generation import Progress, generate
from backend.models.loading import PipelineCache


def make_request(models, **changes) -> GenerationRequest:
    spec_values = dict(
        base_model=str(models.base),
        motion_adapter=str(models.motion_adapter),
        device="cpu",
        dtype="float32",
        vae_slicing=False,
    )
    spec_values.update(changes.pop("model", {}))
    spec = ModelSpec(**spec_values)
    values = dict(prompt="a red fox", frames=8, width=64, height=64, steps=2, seed=1, model=spec)
    values.update(changes)
    return GenerationRequest(**values)


@pytest.fixture(scope="module")
def baseline(demo_models, cache):
    return generate(make_request(demo_models), cache=cache).frames


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape != b.shape or not np.array_equal(a, b)


def test_result_shape_and_seed(demo_models, cache, baseline):
    assert baseline.shape == (8, 64, 64, 3) and baseline.dtype == np.uint8
    again = generate(make_request(demo_models), cache=cache)
    assert np.array_equal(again.frames, baseline)
    assert again.request.seed == 1
    other = generate(make_request(demo_models, seed=2), cache=cache).frames
    assert differs(other, baseline)


def test_random_seed_is_recorded(demo_models, cache):
    result = generate(make_request(demo_models, seed=None), cache=cache)
    assert isinstance(result.request.seed, int)
    replay = generate(result.request, cache=cache)
    assert np.array_equal(replay.frames, result.frames)


@pytest.mark.parametrize(
    "changes",
    [
        {"prompt": "a blue whale"},
        {"negative_prompt": "blurry"},
        {"guidance": 2.0},
        {"steps": 3},
        {"clip_skip": 2},
        {"freeu": (0.9, 0.2, 1.2, 1.4)},
        {"free_init_iters": 2},
        {"free_init_iters": 2, "free_init_fast": True},
        {"free_init_iters": 2, "free_init_method": "gaussian"},
        {"prompt_travel": {4: "a green frog"}},
    ],
    ids=lambda c: ",".join(c),
)
def test_option_changes_result(demo_models, cache, baseline, changes):
    frames = generate(make_request(demo_models, **changes), cache=cache).frames
    assert differs(frames, baseline)


def test_size_and_frames(demo_models, cache):
    frames = generate(make_request(demo_models, frames=5, width=96, height=72), cache=cache).frames
    assert frames.shape == (5, 72, 96, 3)


@pytest.mark.parametrize("name", ["euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_karras", "lcm", "pndm"])
def test_scheduler_changes_result(demo_models, cache, baseline, name):
    frames = generate(make_request(demo_models, scheduler=name), cache=cache).frames
    assert differs(frames, baseline)


def test_option_is_turned_off_for_the_next_job(demo_models, cache, baseline):
    """FreeU, FreeInit, FreeNoise, LoRAs and the scheduler are per job: a plain job after a
    job with all of them gives the plain frames."""
    lora = MotionLora(str(demo_models.motion_lora), 0.8)
    busy = make_request(
        demo_models,
        freeu=(0.9, 0.2, 1.2, 1.4),
        free_init_iters=2,
        context_length=4,
        context_stride=2,
        scheduler="euler",
        model={"motion_loras": (lora,)},
    )
    generate(busy, cache=cache)
    assert np.array_equal(generate(make_request(demo_models), cache=cache).frames, baseline)


def test_free_noise_long_clip(demo_models, cache):
    """FreeNoise: a clip longer than the window is denoised in sliding windows."""
    plain = generate(make_request(demo_models, frames=12), cache=cache)
    windows = generate(make_request(demo_models, frames=12, context_length=8, context_stride=2), cache=cache)
    assert windows.frames.shape == (12, 64, 64, 3)
    assert differs(windows.frames, plain.frames)
    pipe = cache.pipeline(make_request(demo_models).model, "text2video")
    assert pipe._free_noise_context_length == 8 and pipe._free_noise_context_stride == 2


def test_free_noise_blocks_share_the_weights(demo_models, cache):
    """Turning FreeNoise on and off swaps the motion modules' blocks without copying a weight:
    diffusers' own swap drew new random weights and copied the old ones in, which held the motion
    modules' blocks twice during a long clip (1.5 GiB more at SD1.5 size)."""
    from diffusers.models.attention import BasicTransformerBlock, FreeNoiseTransformerBlock

    pipe = cache.pipeline(make_request(demo_models).model, "text2video")

    def block_tensors(kind):
        found = {}
        for name, module in pipe.unet.named_modules():
            if isinstance(module, kind) and ".motion_modules." in name:
                for key, tensor in module.state_dict().items():
                    # Split inference wraps the blocks as `.module`: the same block by name.
                    found[f"{name}.{key}".replace(".module.", ".")] = tensor.data_ptr()
        return found

    generate(make_request(demo_models), cache=cache)
    plain = block_tensors(BasicTransformerBlock)
    assert plain
    generate(make_request(demo_models, frames=12, context_length=8, context_stride=2), cache=cache)
    assert block_tensors(FreeNoiseTransformerBlock) == plain
    assert not block_tensors(BasicTransformerBlock)
    generate(make_request(demo_models), cache=cache)
    assert block_tensors(BasicTransformerBlock) == plain
    assert not block_tensors(FreeNoiseTransformerBlock)


def test_motion_loras_switch_without_reload(demo_models, cache, baseline, tmp_path):
    other = tmp_path / "other-lora"
    other.mkdir()
    source = demo_models.motion_lora / "pytorch_lora_weights.safetensors"
    (other / "pytorch_lora_weights.safetensors").write_bytes(source.read_bytes())
    loads = cache.loads
    one = make_request(demo_models, model={"motion_loras": (MotionLora(str(demo_models.motion_lora), 1.0),)})
    with_one = generate(one, cache=cache).frames
    assert differs(with_one, baseline)
    reweighted = make_request(demo_models, model={"motion_loras": (MotionLora(str(demo_models.motion_lora), 0.3),)})
    assert differs(generate(reweighted, cache=cache).frames, with_one)
    two = make_request(
        demo_models,
        model={"motion_loras": (MotionLora(str(demo_models.motion_lora), 1.0), MotionLora(str(other), 0.5))},
    )
    generate(two, cache=cache)
    pipe = cache.pipeline(two.model, "text2video")
    active = pipe.get_active_adapters()
    assert len(active) == 2
    # Back to one LoRA at full weight: same frames as before, the other adapter deleted.
    assert np.array_equal(generate(one, cache=cache).frames, with_one)
    assert len(pipe.get_active_adapters()) == 1
    assert cache.loads == loads


def test_vae_options_are_set(demo_models, cache):
    request = make_request(demo_models, model={"vae_slicing": True, "vae_tiling": True})
    generate(request, cache=cache)
    pipe = cache.pipeline(request.model, "text2video")
    assert pipe.vae.use_slicing and pipe.vae.use_tiling
    generate(make_request(demo_models), cache=cache)
    assert not pipe.vae.use_slicing and not pipe.vae.use_tiling


def test_vae_slicing_keeps_frames_nearly_equal(demo_models, cache, baseline):
    sliced = generate(make_request(demo_models, model={"vae_slicing": True}), cache=cache).frames
    assert np.abs(sliced.astype(int) - baseline.astype(int)).max() <= 2


def test_dtype_is_applied(demo_models):
    cache = PipelineCache()
    request = make_request(demo_models, model={"dtype": "bfloat16"}, steps=1, frames=2)
    result = generate(request, cache=cache)
    assert result.frames.shape == (2, 64, 64, 3)
    pipe = cache.pipeline(request.model, "text2video")
    import torch

    assert pipe.unet.dtype == torch.bfloat16 and pipe.text_encoder.dtype == torch.bfloat16


def test_device_and_dtype_auto():
    import torch

    from backend.models.loading import resolve_device, resolve_dtype

    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_dtype("auto", "cuda") == torch.float16
    assert resolve_dtype("auto", "mps") == torch.float16
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cuda") == torch.bfloat16


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("offload", ["model", "sequential"])
def test_cpu_offload_on_gpu(demo_models, baseline, offload):
    cache = PipelineCache()
    request = make_request(demo_models, model={"device": "cuda", "offload": offload})
    frames = generate(request, cache=cache).frames
    assert frames.shape == baseline.shape
    pipe = cache.pipeline(request.model, "text2video")
    assert any(getattr(m, "_hf_hook", None) is not None for m in pipe.components.values())


def test_offload_on_cpu_is_a_no_op(demo_models, cache, baseline):
    # Offload moves weights between CPU and an accelerator; on the CPU the frames are the same.
    frames = generate(make_request(demo_models, model={"offload": "model"}), cache=cache).frames
    assert np.array_equal(frames, baseline)


def test_video2video_strength(demo_models, cache, clip_folder):
    low = generate(
        make_request(demo_models, mode="video2video", input_video=str(clip_folder), strength=0.5, steps=4),
        cache=cache,
    )
    high = generate(
        make_request(demo_models, mode="video2video", input_video=str(clip_folder), strength=1.0, steps=4),
        cache=cache,
    )
    assert low.frames.shape == (8, 64, 64, 3)
    assert differs(low.frames, high.frames)


def test_video2video_resizes_and_limits_input(demo_models, cache, clip_folder):
    request = make_request(
        demo_models, mode="video2video", input_video=str(clip_folder), width=96, height=64, frames=3
    )
    assert generate(request, cache=cache).frames.shape == (3, 64, 96, 3)


def test_cache_reuses_and_shares_weights(demo_models, cache, clip_folder):
    spec = make_request(demo_models).model
    loads = cache.loads
    t2v = cache.pipeline(spec, "text2video")
    v2v = cache.pipeline(spec, "video2video")
    assert cache.loads == loads
    assert v2v.unet is t2v.unet and v2v.vae is t2v.vae and v2v.text_encoder is t2v.text_encoder


def test_unload_and_reload(demo_models):
    cache = PipelineCache()
    request = make_request(demo_models, steps=1, frames=2)
    generate(request, cache=cache)
    generate(request, cache=cache)
    assert cache.loads == 1
    freed = cache.unload()
    assert freed > 1_000_000  # the tiny model is a few MB of weights
    assert cache.loaded_spec is None
    generate(request, cache=cache)
    assert cache.loads == 2


def test_progress_reports(demo_models, cache):
    reports: list[Progress] = []
    generate(make_request(demo_models, steps=3), on_progress=reports.append, cache=PipelineCache())
    phases = [r.phase for r in reports]
    assert phases[:2] == ["plan", "loading"] and reports[0].message.startswith("memory plan:")
    assert phases[-2:] == ["decoding", "done"]
    steps = [r for r in reports if r.phase == "denoising"]
    assert [r.step for r in steps] == [1, 2, 3]
    assert all(r.total == 3 for r in steps)
    assert steps[-1].eta == 0 and all(r.eta is not None and r.elapsed >= 0 for r in steps)
    assert tuple(steps[0].latents.shape) == (1, 4, 8, 8, 8)
    # A cached model: no loading phase.
    again: list[Progress] = []
    generate(make_request(demo_models, steps=3), on_progress=again.append, cache=cache)
    generate(make_request(demo_models, steps=3), on_progress=again.append, cache=cache)
    assert "loading" not in [r.phase for r in again[len(again) // 2:]]


@pytest.mark.parametrize(
    "changes",
    [
        {"free_init_iters": 3},
        {"free_init_iters": 3, "free_init_fast": True, "steps": 5},
        {"mode": "video2video", "strength": 0.6, "steps": 5},
        {"mode": "video2video", "strength": 0.6, "steps": 5, "free_init_iters": 2},
        {"mode": "video2video", "strength": 0.7, "steps": 12, "free_init_iters": 3, "free_init_fast": True},
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
def test_progress_total_matches_steps_run(demo_models, cache, clip_folder, changes):
    reports: list[Progress] = []
    request = make_request(demo_models, input_video=str(clip_folder), frames=4, **changes)
    generate(request, on_progress=reports.append, cache=cache)
    steps = [r for r in reports if r.phase == "denoising"]
    assert len(steps) == request.denoising_steps()
    assert steps[-1].step == steps[-1].total == request.denoising_steps()


def test_cancel_stops_within_one_step_and_next_job_works(demo_models, cache, baseline):
    cancel = threading.Event()
    steps_seen = []

    def on_progress(progress: Progress) -> None:
        if progress.phase == "denoising":
            steps_seen.append(progress.step)
            cancel.set()

    with pytest.raises(Cancelled):
        generate(make_request(demo_models, steps=10), on_progress=on_progress, cancel=cancel, cache=cache)
    # Cancel was asked during step 1's report; the check at step 2's end stops the job.
    assert steps_seen == [1]
    assert np.array_equal(generate(make_request(demo_models), cache=cache).frames, baseline)


def test_cancel_before_start(demo_models, cache):
    with pytest.raises(Cancelled):
        generate(make_request(demo_models), cancel=lambda: True, cache=cache)


def test_a_block_that_cannot_share_its_weights_is_left_to_diffusers():
    """A block whose tensors do not map one to one onto the new block's (here an extra weight,
    as a LoRA layer would add) is not swapped: diffusers' own swap then copies it."""
    import torch
    from diffusers.models.attention import BasicTransformerBlock, FreeNoiseTransformerBlock

    from backend.models.free_noise_blocks import swap_block

    old = BasicTransformerBlock(dim=8, num_attention_heads=1, attention_head_dim=8)
    assert isinstance(swap_block(old, FreeNoiseTransformerBlock), FreeNoiseTransformerBlock)
    old.register_parameter("extra", torch.nn.Parameter(torch.zeros(1)))
    assert swap_block(old, FreeNoiseTransformerBlock) is None
