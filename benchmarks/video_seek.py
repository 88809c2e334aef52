"""Reading a short range from deep inside a long video.

Makes a 2-minute 640x360 30 fps H.264 clip (keyframes every 250 frames, B-frames, as x264 writes
by default) and times `convert --frames A:B` into a PNG folder for 0:16, 1000:1016, 1010:1026
(between keyframes) and 3000:3016. Goal: a deep range costs about what 0:16 does. For scale it
also times decoding the first 1016 frames, what dropping frames instead of seeking would cost.

    python benchmarks/video_seek.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(function, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    import imageio_ffmpeg

    from backend.cli.commands import main as cli_main
    from backend.media.reader import ReadOptions, iter_frames

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "long.mp4"
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi",
             "-i", "testsrc2=size=640x360:rate=30", "-t", "120", "-c:v", "libx264",
             "-preset", "veryfast", "-pix_fmt", "yuv420p", str(clip)],
            check=True,
        )

        def convert(frames: str):
            def run() -> None:
                code = cli_main(["convert", str(clip), "--output", str(Path(tmp) / "out"), "--frames", frames])
                assert code == 0

            return run

        import contextlib
        import io

        with contextlib.redirect_stderr(io.StringIO()):
            figures = {frames: timed(convert(frames)) for frames in ("0:16", "1000:1016", "1010:1026", "3000:3016")}
        dropped = timed(lambda: sum(1 for _ in iter_frames(clip, ReadOptions(max_frames=1016))), repeats=3)
    base = figures["0:16"]
    print("long clip: 3600 frames, 640x360, 30 fps, H.264 (median of 5 runs)")
    for frames, seconds in figures.items():
        print(f"convert --frames {frames:>9}: {seconds * 1000:7.0f} ms  ({seconds / base:.2f}x of 0:16)")
    print(f"decoding 1016 frames to drop 1000 (no seek): {dropped * 1000:.0f} ms "
          f"({dropped / figures['1000:1016']:.1f}x the seek)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
