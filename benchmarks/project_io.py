"""Project save and open: 10 takes of 16 frames at 512x512.

Prints the save time, the file size, the time to open the project and list its takes (frames
load lazily; goal: under 1 s), and the time to load one take's frames.

    python benchmarks/project_io.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def take_frames(seed: int) -> np.ndarray:
    """Smooth moving colour fields with a little grain: compresses like generated frames."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:512, 0:512].astype(np.float32) / 512
    frames = []
    for t in range(16):
        phase = t / 16 * 2 * np.pi + seed
        rgb = np.stack([np.sin(xx * 6 + phase), np.cos(yy * 5 - phase), np.sin((xx + yy) * 4 + phase / 2)], -1)
        grain = rng.normal(0, 0.03, rgb.shape)
        frames.append(np.clip((rgb + grain + 1) * 127.5, 0, 255).astype(np.uint8))
    return np.stack(frames)


def main() -> int:
    from backend.project import Project
    from backend.request import GenerationRequest

    with tempfile.TemporaryDirectory() as tmp:
        project = Project("benchmark")
        for seed in range(10):
            project.add_take(take_frames(seed), GenerationRequest(prompt=f"take {seed}", seed=seed), 12.0, "cuda")
        raw = sum(t._frames.nbytes for t in project.takes)
        start = time.perf_counter()
        path = project.save(Path(tmp) / "bench.adsproj")
        save_time = time.perf_counter() - start
        size = path.stat().st_size
        start = time.perf_counter()
        opened = Project.open(path)
        names = [take.name for take in opened.takes]
        open_time = time.perf_counter() - start
        start = time.perf_counter()
        opened.frames(opened.takes[5])
        take_time = time.perf_counter() - start
        opened.takes[0].name = "renamed"
        start = time.perf_counter()
        opened.save()
        resave_time = time.perf_counter() - start
    print(f"10 takes x 16 frames x 512x512 ({raw / 2**20:.0f} MiB raw RGB)")
    print(f"save (first, encodes PNGs): {save_time:.2f} s; file {size / 2**20:.1f} MiB ({size / raw:.0%} of raw)")
    print(f"open and list {len(names)} takes: {open_time * 1000:.1f} ms (goal < 1 s): {'PASS' if open_time < 1 else 'FAIL'}")
    print(f"load one take's 16 frames: {take_time * 1000:.0f} ms")
    print(f"save again after a rename (frames copied as stored): {resave_time:.2f} s")
    return 0 if open_time < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
