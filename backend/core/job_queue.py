"""The queue of jobs waiting to run: ordered, reorderable, removable. Plain Python so the window
and tests share it; the window shows it and feeds its head to the worker."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from backend.core.request import GenerationRequest


@dataclass
class Job:
    id: int
    request: GenerationRequest
    label: str = ""
    state: str = "queued"  # queued, running, done, failed, cancelled
    message: str = ""
    # A finishing job (interpolate, upscale a take) carries its task here; None: generation.
    finishing: object | None = None


@dataclass
class JobQueue:
    pending: list[Job] = field(default_factory=list)
    running: Job | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add(self, request: GenerationRequest) -> Job:
        prompt = request.prompt.strip().splitlines()[0] if request.prompt.strip() else "(no prompt)"
        job = Job(next(self._ids), request, label=f"{prompt} · seed {request.seed if request.seed is not None else 'random'}")
        self.pending.append(job)
        return job

    def take_next(self) -> Job | None:
        if self.running is not None or not self.pending:
            return None
        self.running = self.pending.pop(0)
        self.running.state = "running"
        return self.running

    def finish(self, job_id: int, state: str, message: str = "") -> Job | None:
        if self.running is None or self.running.id != job_id:
            return None
        job, self.running = self.running, None
        job.state, job.message = state, message
        return job

    def remove(self, job_id: int) -> bool:
        for index, job in enumerate(self.pending):
            if job.id == job_id:
                del self.pending[index]
                return True
        return False

    def move(self, job_id: int, offset: int) -> bool:
        """Move a waiting job up (negative) or down (positive) in the queue."""
        for index, job in enumerate(self.pending):
            if job.id == job_id:
                target = max(0, min(len(self.pending) - 1, index + offset))
                if target == index:
                    return False
                self.pending.insert(target, self.pending.pop(index))
                return True
        return False

    def clear(self) -> None:
        self.pending.clear()
