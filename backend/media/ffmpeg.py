"""The one ffmpeg: the executable imageio-ffmpeg installs, so nothing needs to be on PATH."""

from __future__ import annotations

import functools


@functools.cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
