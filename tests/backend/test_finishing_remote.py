"""Finishing on a render worker: the job carries the passes, the worker loads and checks them
before it generates, runs them after, and the reply brings the finished frames, their rate and
the steps' record. The worker's task body runs in this process on the message the client
builds (JSON both ways, as the broker carries it); the reference is the local run: generate,
then the same passes."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from backend.core.errors import InputError
from backend.core.request import GenerationRequest, ModelSpec
from backend.engine.generation import generate
from backend.finishing.finish import FinishingOptions, finish_frames, plan_finishing
from backend.remote import worker
from backend.remote.client import build_job, result_from_reply
from tests.backend.test_finishing import rife_files, upscaler_file  # noqa: F401
from tests.remote_fixtures import needs_rabbitmq


class Task:
    """What the worker's task body reads of Celery's bound task."""

    def __init__(self) -> None:
        self.request = SimpleNamespace(id="job-1", hostname="wt@test", delivery_info={}, reply_to=None)
        self.states: list[dict] = []
        self.app = SimpleNamespace()  # model-queue routing fails quietly without a broker

    def update_state(self, state: str, meta: dict) -> None:
        self.states.append(json.loads(json.dumps(meta)))


def request_for(demo_models) -> GenerationRequest:
    return GenerationRequest(
        prompt="a lighthouse", width=64, height=64, frames=3, steps=2, seed=4, fps=8,
        model=ModelSpec(base_model=str(demo_models.base), motion_adapter=str(demo_models.motion_adapter),
                        device="cpu", dtype="float32"),
    )


def run_on_worker(request, finishing, **options):
    job, asked, kept, _ = build_job(request, False, finishing, **options)
    task = Task()
    reply = json.loads(json.dumps(worker.render(task, json.loads(json.dumps(job)))))
    return reply, task, lambda: result_from_reply(reply, asked, [], kept)


@pytest.fixture(scope="module")
def passes(rife_files, upscaler_file):  # noqa: F811
    _, folder = rife_files
    return [FinishingOptions(interpolate=2, interpolation_model=str(folder / "flownet.pkl"),
                             upscale_model=str(upscaler_file))]


def test_the_worker_finishes_as_the_local_run_does(demo_models, passes):
    request = request_for(demo_models)
    reply, task, result = run_on_worker(request, passes, output_kind="webp", keep_source=True)
    result = result()
    local = generate(request)
    plan = plan_finishing(passes[0], 3, 64, 64, "webp", "out.webp")
    expected = finish_frames(local.frames, plan)
    assert np.array_equal(result.frames, local.frames)  # the parent take's frames
    assert np.array_equal(result.finished, expected) and result.finished.shape == (5, 128, 128, 3)
    assert result.finished_fps == 16
    assert result.finishing == json.loads(json.dumps(plan.steps))
    phases = [state.get("phase") for state in task.states]
    assert "interpolating" in phases and "upscaling" in phases
    assert phases.index("interpolating") > phases.index("denoising")


def test_without_keep_source_only_the_finished_frames_travel(demo_models, passes):
    reply, _, result = run_on_worker(request_for(demo_models), passes)
    assert "source_frames" not in reply
    assert result().frames.shape == (5, 128, 128, 3)


def test_finishing_is_checked_before_generating(demo_models, passes, tmp_path):
    import dataclasses

    changed = dataclasses.replace(passes[0], upscale_sha256="0" * 64)
    reply, task, result = run_on_worker(request_for(demo_models), [changed])
    assert reply["kind"] == "input" and "has changed" in reply["message"]
    assert "denoising" not in [state.get("phase") for state in task.states]
    with pytest.raises(InputError, match="has changed"):
        result()
    missing = dataclasses.replace(passes[0], interpolation_model=str(tmp_path / "gone.pkl"))
    reply, _, _ = run_on_worker(request_for(demo_models), [missing])
    assert reply["kind"] == "input" and "gone.pkl" in reply["message"]


@pytest.mark.parametrize("options", [
    {"interpolate": 3},
    {"interpolate": "2"},
    {"upscale": 20.0},
    {"allow_pickle": True},
])
def test_malformed_finishing_options_are_bad_input(options):
    with pytest.raises(InputError):
        FinishingOptions.from_dict(options)


def test_cancel_reaches_the_finishing_steps(demo_models, passes):
    """A cancel that arrives while the worker finishes stops it as it stops denoising."""
    task = Task()
    job, *_ = build_job(request_for(demo_models), False, passes)
    seen = threading.Event()

    def update_state(state, meta):
        if meta.get("phase") == "interpolating":
            worker._state.cancelled.add(task.request.id)
            seen.set()

    task.update_state = update_state
    reply = worker.render(task, json.loads(json.dumps(job)))
    assert seen.is_set() and reply["kind"] == "cancelled"


@needs_rabbitmq
def test_generate_remote_finishes_on_a_worker_through_the_broker(render_workers, demo_models, passes, tmp_path):
    """`generate --remote` with finishing options, through RabbitMQ and a real worker process:
    the output is the local run's (one torch thread, as the workers use), and --project gets the
    generated take and the finished take linked to it."""
    import torch

    from backend.media.metadata import read_metadata
    from backend.media.reader import probe, read_frames
    from backend.project.project_file import Project
    from tests.backend.test_remote import run_cli

    options = passes[0]
    project = tmp_path / "p.adsproj"
    output = tmp_path / "out.webp"
    done = run_cli(
        "generate", "--prompt", "a lighthouse", "--base-model", str(demo_models.base),
        "--motion-adapter", str(demo_models.motion_adapter), "--width", "64", "--height", "64",
        "--frames", "3", "--steps", "2", "--seed", "4", "--fps", "8", "--device", "cpu",
        "--dtype", "float32", "--output", str(output), "--project", str(project),
        "--interpolate", "2", "--interpolation-model", options.interpolation_model,
        "--upscale-model", options.upscale_model, "--remote", render_workers[0].url, "--quiet",
    )
    assert done.returncode == 0, done.stderr
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = generate(request_for(demo_models))
        expected = finish_frames(local.frames, plan_finishing(options, 3, 64, 64))
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(read_frames(output), expected)
    assert probe(output).fps == pytest.approx(16, rel=0.05)
    assert [s["step"] for s in read_metadata(output)["finishing"]] == ["interpolate", "upscale"]
    source, finished = Project.open(project).takes
    assert finished.parent == source.id and source.frame_count == 3 and finished.frame_count == 5
    assert np.array_equal(Project.open(project).frames(source), local.frames)
