"""The one ffmpeg: the executable imageio-ffmpeg installs, so nothing needs to be on PATH."""

from __future__ import annotations

import functools


@functools.cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# How long a call that only reads a header or metadata may take; decoding and encoding are
# streamed and watched by their callers instead.
PROBE_TIMEOUT = 120
# After the last frame is written, how long the encoder may take to finish the file.
FINISH_TIMEOUT = 600


def file_arg(path) -> str:
    """A path as ffmpeg must get it: with the `file:` protocol and absolute, so that a file named
    `-`, `concat:x.mp4` or `http:…` is read as the file it is, never as standard input or a
    protocol."""
    import os

    return "file:" + os.path.abspath(os.fspath(path))
