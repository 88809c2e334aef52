"""The timeline player's timing and memory.

Plays a clip at 8, 24 and 60 fps for 5 s each (offscreen unless a display is set) and prints
the achieved frame rate (frames advanced / time; goal within 2% of the target) and the largest
frame-time error (how late a frame appeared against its ideal time; goal under one frame
period). Then loads a 256-frame 512x512 clip and prints what it costs in the player against its
raw RGB size (goal at most 1.1x).

    python benchmarks/player_timing.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def play(app, player, fps: float, seconds: float) -> tuple[float, float]:
    frames = player.frame_count
    player.fps_spin.setValue(fps)
    player.seek(0)
    player.shown_log = []
    player.play()
    start = player._start_time
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.0005)
    player.pause()
    log, player.shown_log = player.shown_log, None
    # Unwrap loop positions: each display moved forward by (index - previous) mod frames.
    position, previous, worst = 0, 0, 0.0
    for shown_at, index in log[1:]:
        position += (index - previous) % frames
        previous = index
        ideal = start + position / fps
        worst = max(worst, shown_at - ideal)
    elapsed = log[-1][0] - start if len(log) > 1 else seconds
    achieved = position / elapsed if elapsed > 0 else 0.0
    return achieved, worst


def rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.app import get_app
    from gui.player import TimelinePlayer

    app = get_app()
    player = TimelinePlayer()
    player.resize(800, 600)
    player.show()
    clip = (np.random.default_rng(0).random((240, 256, 256, 3)) * 255).astype(np.uint8)
    player.set_frames(clip, fps=8)
    ok = True
    for fps in (8, 24, 60):
        achieved, worst = play(app, player, fps, args.seconds)
        period = 1.0 / fps
        good = abs(achieved - fps) / fps <= 0.02 and worst < period
        ok &= good
        print(f"{fps:3d} fps: achieved {achieved:7.3f} fps ({(achieved / fps - 1) * 100:+.2f}%), "
              f"largest frame-time error {worst * 1000:6.2f} ms (period {period * 1000:.1f} ms): "
              f"{'PASS' if good else 'FAIL'}")

    player.set_frames(None)
    gc.collect()
    before = rss()
    big = np.random.default_rng(1).integers(0, 256, (256, 512, 512, 3), dtype=np.uint8)
    with_array = rss()
    player.set_frames(big, fps=8)
    for index in range(0, 256, 32):  # paint a few frames, as playing would
        player.seek(index)
        app.processEvents()
    loaded = rss()
    raw = big.nbytes
    ratio = (raw + max(0, loaded - with_array)) / raw
    good = ratio <= 1.1
    ok &= good
    print(f"256 frames of 512x512: raw RGB {raw / 2**20:.1f} MiB (array added {(with_array - before) / 2**20:.1f} MiB RSS), "
          f"player added {(loaded - with_array) / 2**20:.1f} MiB: {ratio:.3f}x raw (goal <= 1.1): {'PASS' if good else 'FAIL'}")
    print("all goals met" if ok else "some goals missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
