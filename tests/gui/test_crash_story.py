"""The whole crash story in real processes: generate, autosave, SIGKILL, restart within a
second, restore, SIGKILL again right after the restore, restart: nothing is lost."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

APP = Path(__file__).with_name("crash_story_app.py")


# The window starts in well under a second on a quiet machine (README); this bound leaves room
# for a loaded shared machine (5.7 s measured with 2 cores busy) and still fails when the
# recovery is offered only late (after a model load, a scan of the disk).
QUESTION_WITHIN = 15.0


def start(args, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(APP), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def read_report(process: subprocess.Popen, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if ready:
            line = process.stdout.readline()
            if line.startswith("{"):
                return json.loads(line)
            if not line and process.poll() is not None:
                break
    process.kill()
    pytest.fail(f"the window process reported nothing (exit {process.poll()})")


def kill(process: subprocess.Popen) -> float:
    process.send_signal(signal.SIGKILL)
    process.wait()
    return time.monotonic()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_generate_crash_restore_crash_restore_loses_nothing(demo_models, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               ANIMATEDIFF_STUDIO_CONFIG_DIR=str(tmp_path / "config"),
               ANIMATEDIFF_STUDIO_DATA_DIR=str(tmp_path / "data"))
    first = start(["generate", str(demo_models.base), str(demo_models.motion_adapter),
                   str(tmp_path / "one.json")], env)
    made = read_report(first)
    assert len(made["takes"]) == 1 and Path(made["recovery"]).is_file()
    killed_at = kill(first)

    second = start(["restore", str(tmp_path / "two.json")], env)
    restored = read_report(second)
    assert restored["restored"] and restored["dirty"]
    # Timed in the app: from the kill to the restore question on screen (the new window's
    # start included), on the one monotonic clock both processes read.
    to_question = restored["asked_at"] - killed_at
    print(f"kill to restore question: {to_question:.2f} s")
    assert 0 < to_question < QUESTION_WITHIN
    assert restored["takes"] == made["takes"]  # bit-identical frames
    assert Path(restored["recovery"]).is_file() and not Path(made["recovery"]).exists()
    kill(second)  # a second crash right after the restore

    third = start(["restore", str(tmp_path / "three.json")], env)
    again = read_report(third)
    third.kill()
    third.wait()
    assert again["restored"] and again["takes"] == made["takes"]
