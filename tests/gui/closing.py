"""Ending a probe as the app ends: the window is closed as a user closes it (the quit sequence,
gui/quit_sequence.py, stops the worker in the event loop; a worker still importing torch is
left, as a second close does), then the process exits at once as main.run does."""

from __future__ import annotations

import os
import sys
import time

CLOSED_WITHIN_S = 60.0


def close_like_a_user_and_exit(app, window) -> None:
    window.close()
    deadline = time.monotonic() + CLOSED_WITHIN_S
    while window.isVisible() and time.monotonic() < deadline:
        app.processEvents()
        if window.quitting.said_still:
            window.close()  # "still loading…": closing again quits without the worker
        time.sleep(0.01)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if not window.isVisible() else 1)
