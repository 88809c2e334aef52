"""The motion UNet built in place (backend/models/motion_unet.py): the same weights as
diffusers' from_unet2d, the adapter's modules shared rather than copied, and frames
byte-identical to a plain diffusers script."""

from __future__ import annotations

import numpy as np
import torch

from backend.models.motion_unet import build_motion_unet
from tests.backend import reference


def test_same_weights_as_diffusers_and_no_second_copy(demo_models):
    from diffusers import AnimateDiffPipeline, MotionAdapter

    adapter = MotionAdapter.from_pretrained(demo_models.motion_adapter)
    ours = build_motion_unet(str(demo_models.base), adapter, torch.float32)
    plain = AnimateDiffPipeline.from_pretrained(
        demo_models.base, motion_adapter=MotionAdapter.from_pretrained(demo_models.motion_adapter))
    theirs = plain.unet.state_dict()
    mine = ours.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[key], theirs[key]) for key in theirs)
    shared = {p.data_ptr() for p in adapter.parameters()}
    assert shared <= {p.data_ptr() for p in ours.parameters()}


def test_frames_match_diffusers(demo_models, cache):
    from backend.core.request import GenerationRequest, ModelSpec
    from backend.engine.generation import generate

    spec = ModelSpec(base_model=str(demo_models.base), motion_adapter=str(demo_models.motion_adapter),
                     device="cpu", dtype="float32", vae_slicing=False)
    request = GenerationRequest(prompt="a red fox", frames=8, width=64, height=64, steps=2, seed=9,
                                model=spec)
    ours = generate(request, cache=cache).frames
    pipe = cache.pipelines()[0]
    unet_tensors = {p.data_ptr() for p in pipe.unet.parameters()}
    assert {p.data_ptr() for p in pipe.motion_adapter.parameters()} <= unet_tensors  # built in place
    plain = reference.text2video(demo_models.base, demo_models.motion_adapter, "a red fox", None, 9,
                                 num_frames=8, width=64, height=64, num_inference_steps=2,
                                 output_type="pil")
    assert np.array_equal(ours, plain)
