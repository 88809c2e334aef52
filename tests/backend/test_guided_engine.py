"""Guided jobs in the engine: the pipeline cache after a guided job, the recorded inputs, the
memory estimate's guidance terms."""

from __future__ import annotations

import numpy as np
from PIL import Image

from backend.core.guidance import ControlSpec, Keyframe, ReferenceImage, SparseControl, file_sha256
from backend.core.request import GenerationRequest, ModelSpec
from backend.engine.generation import generate
from backend.models.memory_estimate import estimate_memory
from tests.backend import reference
from tests.backend.test_guided_reference import guided_files  # noqa: F401 - session fixture


def tiny_request(models, **changes) -> GenerationRequest:
    spec = ModelSpec(base_model=str(models.base), motion_adapter=str(models.motion_adapter),
                     device="cpu", dtype="float32", vae_slicing=False)
    values = dict(prompt="a fox", negative_prompt="blurry", frames=4, width=64, height=64,
                  steps=2, seed=7, model=spec)
    return GenerationRequest(**{**values, **changes})


def test_plain_job_after_an_ip_adapter_job(cache, demo_models, guided_files, clip_folder, tmp_path):  # noqa: F811
    """The IP-Adapter comes off the shared UNet again: the next plain job is the plain
    pipeline's clip, without reloading the base model."""
    image = sorted(clip_folder.iterdir())[0]
    guided = tiny_request(demo_models, ip_adapter=ReferenceImage(str(image), 0.5),
                          ip_adapter_model=str(guided_files.ip_adapter))
    result = generate(guided, cache=cache)
    assert result.request.ip_adapter.sha256 == file_sha256(image)
    loads = cache.loads
    plain = generate(tiny_request(demo_models), cache=cache)
    expected = reference.text2video(
        demo_models.base, demo_models.motion_adapter, "a fox", "blurry", 7,
        num_frames=4, guidance_scale=7.5, num_inference_steps=2, width=64, height=64,
    )
    assert np.array_equal(plain.frames, expected)
    assert cache.loads == loads


def test_request_records_every_input(demo_models, guided_files, clip_folder, tmp_path):  # noqa: F811
    still = tmp_path / "key.png"
    Image.open(sorted(clip_folder.iterdir())[0]).save(still)
    request = tiny_request(
        demo_models, frames=8,
        sparse_control=SparseControl(str(guided_files.sparse_rgb), 0.7),
        keyframes=(Keyframe(0, str(still), file_sha256(still)),),
    )
    again = GenerationRequest.from_dict(request.to_dict())
    assert again == request
    assert again.to_dict()["keyframes"] == [{"frame": 0, "image": str(still), "sha256": file_sha256(still)}]


def safetensors_bytes(files, element_size: int) -> int:
    from safetensors import safe_open

    total = 0
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            total += sum(int(np.prod(handle.get_slice(k).get_shape())) for k in handle.keys())
    return total * element_size


def test_memory_estimate_counts_guidance_models(demo_models, guided_files, clip_folder):  # noqa: F811
    plain = estimate_memory(tiny_request(demo_models), "cpu", 4)
    control = ControlSpec(str(guided_files.controlnet), str(clip_folder))
    two = estimate_memory(tiny_request(demo_models, controls=(control, control)), "cpu", 4)
    net = safetensors_bytes(sorted(guided_files.controlnet.glob("*.safetensors")), 4)
    assert two.weights - plain.weights == 2 * net
    assert two.activations > plain.activations
    ip = estimate_memory(
        tiny_request(demo_models, ip_adapter=ReferenceImage("x.png"),
                     ip_adapter_model=str(guided_files.ip_adapter)), "cpu", 4)
    encoder = guided_files.ip_adapter.parent / "image_encoder" / "model.safetensors"
    assert ip.weights - plain.weights == safetensors_bytes(
        [guided_files.ip_adapter, encoder], 4)
    hub = estimate_memory(tiny_request(demo_models, sparse_control=SparseControl(
        "guoyww/animatediff-sparsectrl-rgb"), keyframes=(Keyframe(0, "x.png"),)), "cpu", 2)
    assert hub.weights - estimate_memory(tiny_request(demo_models), "cpu", 2).weights == 497_000_000 * 2


def test_catalogue_has_the_guidance_models_with_licences():
    from backend.hub.catalog import find_entry, load_catalog

    wanted = {
        "lllyasviel/control_v11p_sd15_canny": "openrail",
        "lllyasviel/control_v11f1p_sd15_depth": "openrail",
        "lllyasviel/control_v11p_sd15_lineart": "openrail",
        "lllyasviel/control_v11p_sd15_openpose": "openrail",
        "lllyasviel/control_v11p_sd15_softedge": "openrail",
        "lllyasviel/control_v11f1e_sd15_tile": "openrail",
        "guoyww/animatediff-sparsectrl-rgb": "see the model card",
        "guoyww/animatediff-sparsectrl-scribble": "see the model card",
        "h94/IP-Adapter/models/ip-adapter_sd15.safetensors": "apache-2.0",
        "depth-anything/Depth-Anything-V2-Small-hf": "apache-2.0",
    }
    for model_id, licence in wanted.items():
        assert find_entry(model_id).licence == licence, model_id
    ip = find_entry("h94/IP-Adapter/models/ip-adapter_sd15.safetensors")
    assert ip.files[0] == "models/ip-adapter_sd15.safetensors"
    assert "models/image_encoder/model.safetensors" in ip.files
    assert len({entry.id for entry in load_catalog()}) == len(load_catalog())


def test_project_take_reruns_without_the_original_inputs(demo_models, guided_files, clip_frames,  # noqa: F811
                                                         tmp_path):
    """The take keeps the preprocessed control frames and the keyframe images: with the
    originals gone, Re-run from the project makes the same clip."""
    import shutil

    from backend.cli.commands import main as cli_main
    from backend.project.project_file import Project
    from backend.project.take_inputs import rerun_request
    from tests.backend.test_reference import common_args

    source = tmp_path / "source"
    source.mkdir()
    for index, frame in enumerate(clip_frames[:4]):
        Image.fromarray(frame).save(source / f"{index}.png")
    project = tmp_path / "p.adsproj"
    argv = ["generate", "--prompt", "x", "--output", str(tmp_path / "o.gif"), "--project", str(project),
            "--control", f"model={guided_files.controlnet},source={source},preprocess=canny",
            "--ip-adapter", str(source / "2.png"), "--ip-adapter-model", str(guided_files.ip_adapter)]
    assert cli_main([*argv, *common_args(demo_models)]) == 0
    shutil.rmtree(source)
    opened = Project.open(project)
    take = opened.take(-1)
    assert set(take.inputs) == {"control_0", "reference"} and take.inputs["control_0"][0] == 4
    folder = tmp_path / "rerun"
    folder.mkdir()
    again = generate(rerun_request(take.request, opened.take_inputs(take), folder))
    assert np.array_equal(again.frames, opened.frames(take))
    resaved = tmp_path / "copy.adsproj"
    opened.save(resaved)  # the inputs travel with the take when the project is saved elsewhere
    assert Project.open(resaved).take_inputs(Project.open(resaved).take(-1)).keys() == take.inputs.keys()


def test_guided_job_message_round_trip_without_a_broker(demo_models, guided_files, clip_folder,  # noqa: F811
                                                        cache, tmp_path):
    """What the client puts in the message and what the worker makes of it, without RabbitMQ:
    the worker's request (pointing at the carried frames) makes the local run's frames."""
    import json

    from backend.core.request import GenerationRequest
    from backend.engine.generation import generate
    from backend.engine.guided import portable_guidance
    from backend.remote.transport import encode_frames
    from backend.remote.worker import with_guidance_inputs

    request = tiny_request(
        demo_models, frames=8,
        controls=(ControlSpec(str(guided_files.controlnet), str(clip_folder), "canny", 0.8),),
    )
    sent, kept = portable_guidance(request)
    message = json.loads(json.dumps({"request": sent.to_dict(), "guidance_inputs": {
        name: encode_frames(frames) for name, frames in kept.items()}}))
    folder = tmp_path / "worker"
    folder.mkdir()
    on_worker = with_guidance_inputs(GenerationRequest.from_dict(message["request"]),
                                     message["guidance_inputs"], str(folder))
    assert on_worker.controls[0].source.startswith(str(folder))
    assert np.array_equal(generate(on_worker, cache=cache).frames, generate(request, cache=cache).frames)
