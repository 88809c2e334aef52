"""Issue 19's pieces that are not a command-line row: Ctrl+C while PNG frames are written, the
sweep of what a killed process left (our temporary files, a worker's scratch folders), the
limits a worker checks in a job before any work, the bounded cancel record, and passwords
kept out of messages."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from backend.core.atomic import atomic_path, owner_tag
from backend.core.errors import InputError, failure_kind, redact_urls
from backend.core.request import GenerationRequest
from backend.remote.job_limits import RecentIds, check_job, make_scratch, sweep_scratch
from tests.backend import test_bad_inputs
from tests.backend.test_bad_inputs import fill, png_header, signal_mid_run


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """The bad-input table's long clip: writing it as PNG frames takes seconds."""
    return test_bad_inputs.long_clip.__wrapped__(tmp_path_factory)


def test_ctrl_c_while_png_frames_are_written_leaves_no_folder(long_clip, demo_models, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    argv = fill(("convert", str(long_clip), "--output", "{out}/frames", "--size", "640x480"),
                tmp_path, out, demo_models)
    code, err = signal_mid_run(argv, out, lambda seen: (out / "frames").exists(), signal.SIGINT)
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "animatediff-studio: interrupted"
    assert list(out.iterdir()) == []


def test_a_killed_save_is_swept_at_the_next_save(tmp_path):
    """A SIGKILL mid-save runs no cleanup: the next save removes that temporary file, and only
    ours from dead processes."""
    target = tmp_path / "take.adsproj"
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[2]);"
        "from backend.core.atomic import atomic_path;"
        "ctx = atomic_path(sys.argv[1]); tmp = ctx.__enter__(); tmp.write_bytes(b'half');"
        "os.kill(os.getpid(), 9)"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    process = subprocess.run([sys.executable, "-c", code, str(target), root])
    assert process.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".take.") and left[0].endswith(".tmp.adsproj")
    live = tmp_path / f".take.{owner_tag()}-abcd1234.tmp.adsproj"  # ours, this process: alive
    live.write_bytes(b"in progress")
    foreign = tmp_path / ".take.000000-1-abcd1234.tmp.adsproj"  # another machine's
    foreign.write_bytes(b"theirs")
    unrelated = tmp_path / ".take.notes.tmp.txt"
    unrelated.write_bytes(b"someone else's")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, foreign.name, unrelated.name, "take.adsproj"])


def test_a_killed_workers_scratch_is_swept(tmp_path):
    mine = make_scratch()
    try:
        stale = tmp_path / f"ads-input-{owner_tag().split('-')[0]}-{dead_pid()}-xyz"
        stale.mkdir()
        (stale / "frame_00000.png").write_bytes(b"x")
        other = tmp_path / "ads-input-old-format"
        other.mkdir()
        assert sweep_scratch(str(tmp_path)) == [stale]
        assert other.exists()
        assert os.path.isdir(mine)
        sweep_scratch()  # the live one (this process) stays
        assert os.path.isdir(mine)
    finally:
        os.rmdir(mine)


def test_dead_process_temporary_removed_by_export(tmp_path):
    from backend.media.writer import write_clip

    stale = tmp_path / f".o.{owner_tag().split('-')[0]}-{dead_pid()}-abcdefgh.tmp.gif"
    stale.write_bytes(b"half a gif")
    write_clip(np.zeros((2, 16, 16, 3), np.uint8), tmp_path / "o.gif", 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.gif"]


def test_cancel_record_is_bounded():
    ids = RecentIds(limit=100)
    for index in range(10_000):
        ids.add(f"job-{index}")
    assert len(ids) == 100
    assert "job-9999" in ids and "job-0" not in ids
    ids.discard("job-9999")
    assert "job-9999" not in ids


def png_text(width: int, height: int, fmt: str = "PNG") -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def v2v(**changes) -> GenerationRequest:
    values = dict(prompt="x", mode="video2video", input_video="sent", frames=2, width=64,
                  height=64, steps=2, seed=1)
    values.update(changes)
    return GenerationRequest(**values)


HOSTILE = [
    ("no frames", [], "without input frames"),
    ("frames not a list", "AAAA", "without input frames"),
    ("too many frames", ["x"] * 1025, "sends 1025 input frames; at most 1024"),
    ("not base64", ["***"], "input frame 0 of the job is not a readable PNG"),
    ("not a string", [42], "not a PNG of a sensible size"),
    ("a JPEG", None, "input frame 0 of the job is not a PNG"),
    ("PNG claiming 100000x100000", [base64.b64encode(png_header(100_000, 100_000)).decode()],
     "claims too many pixels"),
    ("PNG 9000x16", None, "input frame 0 of the job is 9000x16; at most 8192"),
]


@pytest.mark.parametrize("name,frames,fragment", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_job_refused_before_any_work(name, frames, fragment):
    if name == "a JPEG":
        frames = [png_text(8, 8, "JPEG")]
    if name == "PNG 9000x16":
        frames = [png_text(9000, 16)]
    with pytest.raises(InputError, match=fragment.replace("(", r"\(")):
        check_job(v2v(), frames, "w@host")


def test_job_past_memory_refused_as_locally():
    from backend.core.limits import MEMORY_SHARE, available_memory

    need = 1024 * 2048 * 2048 * 15
    if need <= available_memory() * MEMORY_SHARE:
        pytest.skip("this machine has the memory for it")
    request = GenerationRequest(prompt="x", frames=1024, width=2048, height=2048, seed=1)
    with pytest.raises(InputError, match="1024 frames of 2048x2048 need about"):
        check_job(request, None, "w@host")


def test_sane_job_passes():
    check_job(v2v(), [png_text(64, 64), png_text(64, 64)], "w@host")


def test_passwords_never_in_messages():
    url = "amqp://studio:a%20long%20secret@render-host:5672//"
    text = redact_urls(f"ConnectionRefusedError: {url} refused")
    assert "secret" not in text and "amqp://studio:**@render-host:5672//" in text
    assert "secret" not in failure_kind(OSError(f"cannot reach {url}"))[1]
