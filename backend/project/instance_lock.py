"""A lock the operating system releases when the process holding it dies.

The window holds one beside its recovery file for as long as it runs. Another start tells a
crashed window (lock free: offer its recovery file) from a running one (lock held) by trying to
take the lock, which no PID check can do reliably: a dead process's PID may not be reaped yet,
or may already belong to someone else.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


class InstanceLock:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._handle = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False if another live process holds it."""
        if self._handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            if sys.platform == "win32":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self, remove: bool = True) -> None:
        if self._handle is None:
            return
        if remove:
            # Unlink while still holding it, so nobody takes a lock on a file about to vanish.
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._handle.close()
        self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def __enter__(self) -> InstanceLock:
        if not self.acquire():
            raise OSError(f"{self.path} is held by another process")
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def is_held_elsewhere(path: str | os.PathLike) -> bool:
    """True while a live process holds the lock at `path`."""
    probe = InstanceLock(path)
    if probe.acquire():
        probe.release(remove=False)
        return False
    return True
