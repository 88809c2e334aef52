"""Progress of a finishing step, shaped like the engine's Progress so every view shows it alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from backend.core.errors import Cancelled


@dataclass
class FinishingProgress:
    phase: str  # "interpolating" or "upscaling"
    step: int = 0
    total: int = 0
    elapsed: float = 0.0
    eta: float | None = None
    latents: None = None  # the engine's Progress has it; finishing has no preview
    message: str = ""  # as the engine's Progress (its memory-plan lines); none here

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


ProgressCallback = Callable[[FinishingProgress], None]


class StepCounter:
    """Counts units of work, reports them with an ETA, and stops when cancel is asked."""

    def __init__(self, phase: str, total: int, on_progress: ProgressCallback | None,
                 should_cancel: Callable[[], bool]) -> None:
        self.phase, self.total = phase, total
        self.on_progress, self.should_cancel = on_progress, should_cancel
        self.start = time.monotonic()
        self.done = 0
        self.check()
        self.report()

    def check(self) -> None:
        if self.should_cancel():
            raise Cancelled()

    def report(self) -> None:
        if self.on_progress is None:
            return
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        self.on_progress(FinishingProgress(self.phase, self.done, self.total, elapsed, eta))

    def advance(self, count: int = 1) -> None:
        self.done += count
        self.report()
        self.check()
