"""How long the GUI thread goes without serving its event loop while some work runs: the
figure behind "the window never waits" (used by gui_responsiveness.py and project_io.py)."""

from __future__ import annotations

import time
from collections.abc import Callable


def stall_during(app, action: Callable[[], Callable[[], bool]]) -> tuple[float, float]:
    """Run `action` (which starts the work, or does it on the GUI thread, and returns a "done?"
    check) while a 5 ms timer on the GUI thread notes how late it is served. Returns (seconds
    until done, the largest delay in ms)."""
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer

    clock, worst, last = QElapsedTimer(), [0.0], [0.0]
    clock.start()

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        worst[0] = max(worst[0], now - last[0] - 5.0)
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    started = time.perf_counter()
    last[0] = clock.nsecsElapsed() / 1e6
    done = action()
    tick()  # work done on the GUI thread inside `action` shows here
    while not done():
        app.processEvents()
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    timer.stop()
    return elapsed, worst[0]
