"""The prepared GPU check runs here as its own smoke test (`--device cpu --tiny`): every line but
the slowest (torch.compile, the timed recipes) on the tiny demo models, so a check that no GPU in
this project has run yet does not rot unseen. Its first run here found that the Wan section
passed an in-memory scheduler config without its class name and would have failed on the GPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_smoke_runs_every_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--tiny",
         "--skip", "standard,lightning,compile"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path, check=False)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    names = [line[7:35].strip() for line in lines if line.startswith("  ok")]
    assert "out of memory, then a job" in names and "fp16 VAE decode" in names
    assert "plan split_inference" in names and "wan s/step" in names
    assert {"wan plan text_encoder_cpu", "wan plan group_offload", "wan plan vae_tiling"} <= set(names)
    assert not any(line.startswith("  FAIL") for line in lines)
