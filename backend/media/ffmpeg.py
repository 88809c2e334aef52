"""The one ffmpeg: the executable imageio-ffmpeg installs, so nothing needs to be on PATH."""

from __future__ import annotations

import contextlib
import functools
import time


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

# Streamed decoding and encoding have no overall bound (a long clip takes as long as it takes),
# but ffmpeg making no progress at all this long is stuck: a hung network drive, a FIFO nobody
# writes, a decoder spinning on a damaged file.
STALL_TIMEOUT = 120


class Watchdog:
    """Kills `process` when one wait on it (a read of its output, a write to its input) has
    lasted `seconds`; time the caller spends between waits does not count. `fired` then says
    so, for the caller's message. Use as a context manager around the streaming loop, and
    `with watchdog.waiting():` around each blocking read or write."""

    def __init__(self, process, seconds: float | None = None) -> None:
        import threading

        self.process = process
        self.seconds = STALL_TIMEOUT if seconds is None else seconds
        self.fired = False
        self._since: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="ffmpeg-watchdog")

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    @contextlib.contextmanager
    def waiting(self):
        self._since = time.monotonic()
        try:
            yield
        finally:
            self._since = None

    def _watch(self) -> None:
        while not self._done.wait(min(1.0, self.seconds / 4)):
            since = self._since
            if since is not None and time.monotonic() - since >= self.seconds:
                if self.process.poll() is None:
                    self.fired = True
                    self.process.kill()
                return
