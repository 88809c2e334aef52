"""Project files: exact round trips, lazy frames, re-runs, kill-safe saving, the upgrade path
from version 1, and refusal of hostile, truncated or newer files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from backend.cli.commands import main as cli_main
from backend.core.errors import InputError
from backend.core.request import GenerationRequest, ModelSpec
from backend.media.reader import read_frames
from backend.project.project_file import SCHEMA_VERSION, Project, append_take

ROOT = Path(__file__).resolve().parents[2]


def clip(seed: int, count: int = 6) -> np.ndarray:
    return (np.random.default_rng(seed).random((count, 24, 32, 3)) * 255).astype(np.uint8)


def test_save_then_open_is_exact_and_lazy(tmp_path):
    project = Project("Sea")
    requests = [GenerationRequest(prompt=f"wave {i}", seed=i) for i in range(3)]
    frames = [clip(i) for i in range(3)]
    for f, r in zip(frames, requests, strict=True):
        project.add_take(f, r, duration=1.5, device="cpu")
    project.takes[1].favourite = True
    project.takes[1].notes = "the good one"
    project.ui_state = {"selected": project.takes[1].id}
    saved = project.save(tmp_path / "sea")
    assert saved == tmp_path / "sea.adsproj" and not project.dirty

    opened = Project.open(saved)
    assert opened.name == "sea" and opened.ui_state  # named after its file == {"selected": opened.takes[1].id}
    assert all(take._frames is None for take in opened.takes)  # nothing decoded yet
    for take, f, r in zip(opened.takes, frames, requests, strict=True):
        assert take.request == r and take.duration == 1.5 and take.device == "cpu"
        assert np.array_equal(opened.frames(take), f)
    assert opened.takes[1].favourite and opened.takes[1].notes == "the good one"


def test_resave_copies_stored_frames_and_keeps_them_exact(tmp_path):
    project = Project("p")
    project.add_take(clip(1), GenerationRequest(prompt="a", seed=1))
    path = project.save(tmp_path / "p.adsproj")
    opened = Project.open(path)
    opened.add_take(clip(2), GenerationRequest(prompt="b", seed=2))
    opened.takes[0].name = "renamed"
    opened.save()
    again = Project.open(path)
    assert [t.name for t in again.takes] == ["renamed", "Take 2"]
    assert np.array_equal(again.frames(again.takes[0]), clip(1))
    assert np.array_equal(again.frames(again.takes[1]), clip(2))


def test_delete_and_undo(tmp_path):
    project = Project("p")
    for i in range(3):
        project.add_take(clip(i), GenerationRequest(prompt=str(i), seed=i))
    removed = project.remove_take(project.takes[1].id)
    assert [t.request.prompt for t in project.takes] == ["0", "2"]
    project.restore_take(removed, 1)
    assert [t.request.prompt for t in project.takes] == ["0", "1", "2"]
    assert project.take(-1).request.prompt == "2" and project.take(1).request.prompt == "0"
    with pytest.raises(InputError, match="takes 1 to 3"):
        project.take(4)


def test_rerunning_a_take_reproduces_its_frames(demo_models, tmp_path):
    from backend.engine.generation import generate

    spec = ModelSpec(base_model=str(demo_models.base), motion_adapter=str(demo_models.motion_adapter),
                     device="cpu", dtype="float32", vae_slicing=False)
    request = GenerationRequest(prompt="a red kite", frames=4, width=64, height=64, steps=2, seed=None, model=spec)
    result = generate(request)
    project, take = append_take(tmp_path / "kites", result.frames, result.request, result.duration, result.device)
    opened = Project.open(project.path)
    rerun = generate(opened.takes[0].request)
    assert np.array_equal(rerun.frames, opened.frames(opened.takes[0]))


def write_v1(path: Path, frames: np.ndarray, request: GenerationRequest) -> None:
    """A project as the first format wrote it: no names, notes, favourites or UI state."""
    import io

    from PIL import Image

    take_id = "0123456789abcdef0123456789abcdef"
    manifest = {
        "format": "animatediff-studio/project",
        "schema_version": 1,
        "name": "Old",
        "takes": [{"id": take_id, "request": request.to_dict(), "frame_count": len(frames),
                   "size": [frames.shape[2], frames.shape[1]], "created": "2026-01-01T00:00:00+00:00",
                   "duration": 2.0, "device": "cuda"}],
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for index, frame in enumerate(frames):
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, format="PNG")
            archive.writestr(f"takes/{take_id}/frame_{index:05d}.png", buffer.getvalue())


def test_version_1_opens_through_the_upgrade_path(tmp_path):
    request = GenerationRequest(prompt="old", seed=5)
    write_v1(tmp_path / "old.adsproj", clip(3), request)
    project = Project.open(tmp_path / "old.adsproj")
    take = project.takes[0]
    assert take.name == "Take 1" and take.notes == "" and take.favourite is False
    assert take.request == request and np.array_equal(project.frames(take), clip(3))
    assert project.ui_state == {}
    project.save()
    data = json.loads(zipfile.ZipFile(tmp_path / "old.adsproj").read("manifest.json"))
    assert data["schema_version"] == SCHEMA_VERSION


def test_newer_project_says_so(tmp_path):
    project = Project("p")
    project.add_take(clip(0), GenerationRequest(prompt="x", seed=0))
    path = project.save(tmp_path / "p.adsproj")
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(entries["manifest.json"])
    manifest["schema_version"] = SCHEMA_VERSION + 1
    entries["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(InputError, match="newer AnimateDiff Studio"):
        Project.open(path)


def test_zip_slip_is_refused_and_nothing_is_written(tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    hostile = inner / "evil.adsproj"
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "animatediff-studio/project", "schema_version": 2, "takes": []}))
        archive.writestr("../escaped.txt", "gotcha")
        archive.writestr("/abs.txt", "gotcha")
    with pytest.raises(InputError, match="unsafe path"):
        Project.open(hostile)
    assert not (tmp_path / "escaped.txt").exists()
    assert sorted(p.name for p in inner.iterdir()) == ["evil.adsproj"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "no-manifest", "bad-json", "missing-frames"])
def test_damaged_projects_are_refused_and_left_untouched(tmp_path, damage):
    project = Project("p")
    project.add_take(clip(0), GenerationRequest(prompt="x", seed=0))
    path = project.save(tmp_path / "p.adsproj")
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = b"\x00" * 100
    else:
        with zipfile.ZipFile(path) as archive:
            entries = {name: archive.read(name) for name in archive.namelist()}
        if damage == "no-manifest":
            del entries["manifest.json"]
        elif damage == "bad-json":
            entries["manifest.json"] = b"{broken"
        else:
            entries = {k: v for k, v in entries.items() if not k.endswith("00003.png")}
        with zipfile.ZipFile(path, "w") as archive:
            for name, value in entries.items():
                archive.writestr(name, value)
        data = path.read_bytes()
    path.write_bytes(data)
    with pytest.raises(InputError) as error:
        Project.open(path)
    assert str(path) in str(error.value)
    assert path.read_bytes() == data


KILL_SAVER = """
import sys, numpy as np
from backend.project.project_file import Project
from backend.core.request import GenerationRequest
path = sys.argv[1]
project = Project.open(path)
for round in range(10_000):
    frames = np.full((8, 64, 64, 3), round % 256, dtype=np.uint8)
    project.add_take(frames, GenerationRequest(prompt=f"round {round}", seed=round))
    if len(project.takes) > 6:
        project.remove_take(project.takes[0].id)
    project.save(path)
    print(round, flush=True)
"""


def test_sigkill_during_saves_never_corrupts(tmp_path):
    path = tmp_path / "busy.adsproj"
    seed = Project("busy")
    seed.add_take(clip(0), GenerationRequest(prompt="start", seed=0))
    seed.save(path)
    rng = np.random.default_rng(0)
    for _attempt in range(12):
        process = subprocess.Popen([sys.executable, "-c", KILL_SAVER, str(path)], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        process.stdout.readline()  # it is saving in a loop now
        time.sleep(float(rng.uniform(0.0, 0.3)))
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        project = Project.open(path)  # whole: the old or the new version, never half
        assert project.takes
        for take in project.takes:
            frames = project.frames(take)
            assert frames.shape[0] == take.frame_count
        process.stdout.close()
        process.stderr.close()


def test_cli_generate_into_project_and_export(demo_models, tmp_path, capsys):
    project = tmp_path / "film.adsproj"
    base = ["generate", "--base-model", str(demo_models.base), "--motion-adapter", str(demo_models.motion_adapter),
            "--width", "64", "--height", "64", "--frames", "4", "--steps", "2", "--quiet", "--device", "cpu",
            "--no-vae-slicing", "--project", str(project)]
    assert cli_main([*base, "--prompt", "one", "--seed", "1", "--output", str(tmp_path / "one")]) == 0
    assert cli_main([*base, "--prompt", "two", "--seed", "2", "--output", str(tmp_path / "two")]) == 0
    opened = Project.open(project)
    assert [t.request.prompt for t in opened.takes] == ["one", "two"]
    assert cli_main(["export", str(project), "--output", str(tmp_path / "first"), "--take", "1"]) == 0
    assert np.array_equal(read_frames(tmp_path / "first"), read_frames(tmp_path / "one"))
    assert cli_main(["export", str(project), "--output", str(tmp_path / "latest.gif")]) == 0
    assert len(read_frames(tmp_path / "latest.gif")) == 4
    capsys.readouterr()
    assert cli_main(["export", str(project), "--output", str(tmp_path / "x.gif"), "--take", "9"]) == 2
    assert "takes 1 to 2" in capsys.readouterr().err
    (tmp_path / "broken.adsproj").write_bytes(b"PK\x03\x04 not really")
    assert cli_main(["export", str(tmp_path / "broken.adsproj"), "--output", str(tmp_path / "y.gif")]) == 2
    assert "damaged or truncated" in capsys.readouterr().err


def forge(path: Path, change) -> bytes:
    """Rewrite the project's manifest through `change(manifest)`; return the file's bytes."""
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(entries["manifest.json"])
    change(manifest)
    entries["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in entries.items():
            archive.writestr(name, value)
    return path.read_bytes()


def _set_take(key, value):
    return lambda m: m["takes"][0].__setitem__(key, value)


FORGED = {
    "takes-not-a-list": (lambda m: m.__setitem__("takes", {"a": 1}), "takes must be a list"),
    "take-not-an-object": (lambda m: m.__setitem__("takes", ["x"]), "a take must be a JSON object"),
    "frame-count-text": (_set_take("frame_count", "6"), "frame_count must be from 1 to 1024"),
    "frame-count-zero": (_set_take("frame_count", 0), "frame_count must be from 1 to 1024"),
    "frame-count-huge": (_set_take("frame_count", 10**9), "frame_count must be from 1 to 1024"),
    "size-zero": (_set_take("size", [0, 24]), "size must be [width, height]"),
    "size-text": (_set_take("size", "big"), "size must be [width, height]"),
    "size-huge": (_set_take("size", [100000, 100000]), "size must be [width, height]"),
    "too-many-bytes": (lambda m: m["takes"][0].update(frame_count=1024, size=[8192, 8192]), "more than 8 GiB"),
    "id-path": (_set_take("id", "../../etc/passwd"), "invalid id"),
    "no-request": (lambda m: m["takes"][0].pop("request"), "has no generation settings"),
    "request-newer": (lambda m: m["takes"][0]["request"].__setitem__("schema_version", 99), "newer AnimateDiff Studio"),
    "request-seed-too-big": (lambda m: m["takes"][0]["request"].__setitem__("seed", 2**64), "seed must be from 0 to 4294967295"),
    "name-not-text": (_set_take("name", ["x"]), "name must be str"),
    "favourite-not-bool": (_set_take("favourite", "yes"), "favourite must be bool"),
    "duration-nan": (_set_take("duration", float("nan")), "duration must be a number"),
    "ui-state-list": (lambda m: m.__setitem__("ui_state", [1]), "ui_state an object"),
    "schema-newer": (lambda m: m.__setitem__("schema_version", SCHEMA_VERSION + 1), "newer AnimateDiff Studio"),
    "duplicate-ids": (lambda m: m["takes"].append(dict(m["takes"][0])), "two takes share an id"),
}


@pytest.mark.parametrize("case", sorted(FORGED))
def test_forged_manifests_are_refused_before_anything_is_allocated(tmp_path, case):
    change, message = FORGED[case]
    project = Project("p")
    project.add_take(clip(0), GenerationRequest(prompt="x", seed=0))
    path = project.save(tmp_path / "p.adsproj")
    data = forge(path, change)
    with pytest.raises(InputError, match=message.replace("[", r"\[")) as error:
        Project.open(path)
    assert str(path) in str(error.value)
    assert path.read_bytes() == data  # left as it was


def test_a_frame_of_the_wrong_size_is_refused_when_read(tmp_path):
    from PIL import Image

    project = Project("p")
    project.add_take(clip(0), GenerationRequest(prompt="x", seed=0))
    path = project.save(tmp_path / "p.adsproj")
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    name = next(n for n in entries if n.endswith("00002.png"))
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (4000, 4000)).save(buffer, format="PNG")
    entries[name] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in entries.items():
            archive.writestr(key, value)
    opened = Project.open(path)
    with pytest.raises(InputError, match="is 4000x4000, the take says 32x24"):
        opened.frames(opened.takes[0])


def test_a_project_cannot_switch_on_pickle_loading(tmp_path):
    project = Project("p")
    project.add_take(clip(0), GenerationRequest(prompt="x", seed=0))
    path = project.save(tmp_path / "p.adsproj")
    forge(path, lambda m: m["takes"][0]["request"]["model"].__setitem__("allow_pickle", True))
    assert Project.open(path).takes[0].request.model.allow_pickle is False


def test_projects_and_exports_are_created_with_the_users_umask(tmp_path, demo_models):
    import os
    import stat

    from backend.media.writer import write_clip

    old = os.umask(0o022)
    try:
        project = Project("p")
        project.add_take(clip(0), GenerationRequest(prompt="x", seed=0))
        path = project.save(tmp_path / "p.adsproj")
        written = write_clip(clip(0), tmp_path / "clip.gif", 8)
        written += write_clip(clip(0), tmp_path / "frames", 8)
        assert cli_main(["export", str(path), "--output", str(tmp_path / "out.mp4")]) == 0
        written.append(tmp_path / "out.mp4")
    finally:
        os.umask(old)
    for file in [path, *written]:
        assert stat.S_IMODE(file.stat().st_mode) == 0o644, file


def test_browsing_many_takes_keeps_only_a_few_in_memory(tmp_path):
    from backend.project.project_file import KEEP_LOADED

    project = Project("p")
    for index in range(12):
        project.add_take(clip(index), GenerationRequest(prompt="x", seed=index))
    assert project.loaded_takes() == 12  # nothing is in a file yet: all must stay
    path = project.save(tmp_path / "p.adsproj")
    assert project.loaded_takes() <= KEEP_LOADED  # now in the file, so they may go
    opened = Project.open(path)
    for take in opened.takes * 2:
        assert np.array_equal(opened.frames(take), clip(opened.takes.index(take)))
        assert opened.loaded_takes() <= KEEP_LOADED


def test_deleted_take_can_be_undone_after_its_file_changed(tmp_path):
    project = Project("p")
    project.add_take(clip(1), GenerationRequest(prompt="x", seed=1))
    project.add_take(clip(2), GenerationRequest(prompt="y", seed=2))
    path = project.save(tmp_path / "p.adsproj")
    opened = Project.open(path)
    removed = opened.remove_take(opened.takes[0].id)
    opened.save()
    opened.restore_take(removed, 0)
    opened.save()
    again = Project.open(path)
    assert np.array_equal(again.frames(again.takes[0]), clip(1))
