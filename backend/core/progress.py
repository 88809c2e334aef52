"""Progress reports thinned for a listener: one a step is more than a window or a broker needs,
but the last one and each phase change always pass."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class ProgressThrottle:
    """`report(progress)` says whether to pass a progress report on; `preview(progress)` whether
    to send its preview too. Intervals in seconds."""

    interval: float
    preview_interval: float = 0.0
    clock: object = field(default=time.monotonic, repr=False)
    _last: float = field(default=float("-inf"), init=False, repr=False)
    _last_preview: float = field(default=float("-inf"), init=False, repr=False)

    def report(self, progress) -> bool:
        now = self.clock()
        final = progress.phase != "denoising" or progress.step == progress.total
        if not final and now - self._last < self.interval:
            return False
        self._last = now
        return True

    def preview(self, progress) -> bool:
        if progress.latents is None:
            return False
        now = self.clock()
        if now - self._last_preview < self.preview_interval:
            return False
        self._last_preview = now
        return True
