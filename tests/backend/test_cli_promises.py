"""Issue 20's command-line items: a mistyped local model path fails at once, before any
estimate or loading; the estimate never prints a nonzero amount as 0.0; a mistyped command is
told its closest name and never opens a window."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_main(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, env=env, timeout=120)
    return done, time.monotonic() - started


def test_a_missing_local_model_is_refused_before_any_estimate_or_loading(tmp_path):
    done, _ = run_main("generate", "--base-model", "/nope", "--prompt", "x",
                       "--output", str(tmp_path / "x.gif"))
    assert done.returncode == 2
    assert "'/nope': no such file or folder" in done.stderr
    assert "estimated" not in done.stderr and "loading" not in done.stderr
    assert "torch" not in done.stderr  # one line, no traceback
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.gif").exists()


def test_a_mistyped_command_suggests_the_closest_and_opens_no_window():
    done, _ = run_main("genrate")
    assert done.returncode == 2
    assert "did you mean generate?" in done.stderr


def test_a_project_name_still_goes_to_the_window():
    from main import mistyped_command

    assert mistyped_command("fox.adsproj", ["generate"]) is None
    assert mistyped_command("lighthouse", ["generate", "export"]) is None
    assert mistyped_command("exprot", ["generate", "export"]) == "export"


def test_small_estimates_print_as_under_a_tenth():
    from backend.models.memory_estimate import MemoryEstimate

    tiny = MemoryEstimate(weights=3 * 2**20, load_transient=None, activations=2**20, decode=2**19,
                          runtime=600 * 2**20)
    text = tiny.describe()
    assert "0.0" not in text and "weights < 0.1, denoising < 0.1, decoding < 0.1" in text
