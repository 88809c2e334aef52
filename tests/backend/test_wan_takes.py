"""A Wan take is kept and re-run like an AnimateDiff one: it records its family; the start image
is stored in the project (as guidance inputs are) and recorded with its sha256 in the request
and the metadata; Re-run from the project alone, a --from-metadata re-run and a render worker
give the same frames as the first run."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from backend.cli.commands import main as cli_main
from backend.core.request import GenerationRequest, ModelSpec
from backend.engine.generation import generate
from backend.project.project_file import Project
from tests.backend.test_remote import client  # noqa: F401 - the broker client fixture
from tests.remote_fixtures import needs_rabbitmq

SEED = 5


def _request(folder, **changes) -> GenerationRequest:
    values = dict(prompt="a lighthouse", frames=5, width=64, height=64, steps=2, guidance=5.0,
                  seed=SEED, scheduler="model_default",
                  model=ModelSpec(base_model=str(folder), device="cpu", dtype="float32"))
    values.update(changes)
    return GenerationRequest(**values)


@pytest.fixture()
def start_image(clip_folder, tmp_path):
    path = tmp_path / "start.png"
    shutil.copy(sorted(clip_folder.iterdir())[2], path)
    return path


def test_a_wan_take_keeps_its_family_and_start_image_and_reruns_alike(wan_models, cache,
                                                                      start_image, tmp_path):
    request = _request(wan_models["2.2-ti2v"], start_image=str(start_image))
    result = generate(request, cache=cache)
    digest = hashlib.sha256(start_image.read_bytes()).hexdigest()
    assert result.family == "wan"
    assert result.request.start_image_sha256 == digest
    assert set(result.inputs) == {"start_image"}

    project = Project("wan", None)
    project.add_take(result.frames, result.request, inputs=result.inputs, family=result.family)
    path = tmp_path / "wan.adsproj"
    project.save(path)
    start_image.unlink()  # Re-run needs the project only
    reopened = Project.open(path)
    take = reopened.takes[0]
    assert take.family == "wan" and take.inputs == {"start_image": [1, 64, 64]}
    rerun = reopened.rerun_request(take)
    assert rerun.start_image != str(start_image) and rerun.start_image_sha256 is None
    np.testing.assert_array_equal(generate(rerun, cache=cache).frames, result.frames)


def test_an_animatediff_take_records_its_family(demo_models, cache, tmp_path):
    request = GenerationRequest(prompt="x", frames=4, width=64, height=64, steps=1, seed=1,
                                model=ModelSpec(base_model=str(demo_models.base),
                                                motion_adapter=str(demo_models.motion_adapter),
                                                device="cpu"))
    result = generate(request, cache=cache)
    assert result.family == "animatediff"
    project = Project("ad", None)
    project.add_take(result.frames, result.request, family=result.family)
    project.save(tmp_path / "ad.adsproj")
    assert Project.open(tmp_path / "ad.adsproj").takes[0].family == "animatediff"


def test_metadata_rerun_of_image_to_video_and_a_changed_image(wan_models, start_image, tmp_path,
                                                              capsys):
    again = tmp_path / "again"
    base = ["--device", "cpu", "--dtype", "float32", "--quiet"]
    code = cli_main(["generate", "--base-model", str(wan_models["2.2-ti2v"]), "--prompt", "x",
                     "--image", str(start_image), "--frames", "5", "--steps", "2",
                     "--seed", str(SEED), "--output", str(tmp_path / "first"), *base,
                     "--sidecar", "--project", str(tmp_path / "p.adsproj")])
    assert code == 0, capsys.readouterr().err
    frames = sorted((tmp_path / "first").glob("frame_*.png"))
    sidecar = json.loads((tmp_path / "first" / "animatediff-studio.json").read_text())
    digest = hashlib.sha256(start_image.read_bytes()).hexdigest()
    assert sidecar["request"]["start_image_sha256"] == digest
    assert sidecar["start_image"] == {"path": str(start_image), "sha256": digest}
    assert Project.open(tmp_path / "p.adsproj").takes[0].family == "wan"

    code = cli_main(["generate", "--from-metadata", str(tmp_path / "first"), "--output",
                     str(again), *base])
    assert code == 0, capsys.readouterr().err
    from PIL import Image

    for a, b in zip(frames, sorted(again.glob("frame_*.png")), strict=True):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))

    Image.new("RGB", (64, 64), (9, 9, 9)).save(start_image)
    code = cli_main(["generate", "--from-metadata", str(tmp_path / "first"), "--output",
                     str(tmp_path / "changed"), *base])
    error = capsys.readouterr().err
    assert code == 2 and "has changed since these settings were recorded" in error
    assert not (tmp_path / "changed").exists()


def test_the_start_image_travels_with_a_remote_job(wan_models, start_image, tmp_path):
    """What the client sends and what a worker makes of it, without a broker: the image's
    pixels (not its path) and the sha256 of the user's file."""
    from backend.engine.guided import portable_guidance
    from backend.remote.transport import encode_frames
    from backend.remote.worker import with_guidance_inputs

    request = _request(wan_models["2.2-ti2v"], start_image=str(start_image))
    sent, kept = portable_guidance(request)
    assert set(kept) == {"start_image"}
    assert sent.start_image_sha256 == hashlib.sha256(start_image.read_bytes()).hexdigest()
    folder = tmp_path / "scratch"
    folder.mkdir()
    on_worker = with_guidance_inputs(sent, {n: encode_frames(f) for n, f in kept.items()},
                                     str(folder))
    from PIL import Image

    assert on_worker.start_image.startswith(str(folder))
    assert np.array_equal(np.asarray(Image.open(on_worker.start_image)),
                          np.asarray(Image.open(start_image).convert("RGB")))


@needs_rabbitmq
def test_image_to_video_on_a_render_worker_matches_local(render_workers, wan_models, cache,
                                                         client, start_image):  # noqa: F811
    from tests.backend.test_remote import local_frames

    request = _request(wan_models["2.2-ti2v"], start_image=str(start_image))
    result = client.submit(request).wait()
    assert np.array_equal(result.frames, local_frames(request, cache))
    assert result.family == "wan" and set(result.inputs) == {"start_image"}
    assert result.request.start_image == str(start_image)  # what the user gave
    assert result.request.start_image_sha256 == hashlib.sha256(start_image.read_bytes()).hexdigest()


def test_a_wan_job_has_a_preview_while_it_denoises(wan_models, cache):
    """The window's and the workers' preview takes Wan's latents (48 channels on the 5B shape)
    as well as Stable Diffusion's 4: a preview never fails a job."""
    from backend.media.preview import latents_to_rgb

    previews = []
    generate(_request(wan_models["2.2-ti2v"]), cache=cache, on_progress=lambda progress: (
        previews.append(latents_to_rgb(progress.latents))
        if getattr(progress, "latents", None) is not None else None))
    assert previews and previews[0].dtype == np.uint8
    assert previews[0].shape == (2, 4, 4, 3)  # 5 frames in 2 latent frames, 64 / 16 pixels
