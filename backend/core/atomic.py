"""Writing files so that a crash or a kill never leaves a half-written one under the real name.

Every file the program writes (exports, projects, settings, sidecars, recovery copies) goes
through `atomic_path`: the content is written to a temporary file beside the target, flushed to
disk, given the permissions a plain `open()` would give it, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the system allows."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _umask_lock:  # os.umask can only be read by setting it; keep the window short
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def new_file_mode(target: Path) -> int:
    """An existing file keeps its mode; a new one gets 0666 less the umask, like open()."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, durable: bool = True,
                mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; when the block succeeds, it becomes `target`.

    The temporary name keeps the target's suffix (writers such as ffmpeg pick the format from
    it) and starts with a dot, so a file browser hides it. On any error it is removed. `mode`
    overrides the permissions (a secret: 0o600; the temporary file is 0o600 from the start).
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if durable:
            with open(tmp_path, "rb+") as handle:
                os.fsync(handle.fileno())
        os.chmod(tmp_path, new_file_mode(target) if mode is None else mode)
        os.replace(tmp_path, target)
        if durable:
            fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)


def write_bytes(target: str | os.PathLike, data: bytes, durable: bool = True,
                mode: int | None = None) -> Path:
    target = Path(target)
    with atomic_path(target, durable, mode) as tmp:
        tmp.write_bytes(data)
    return target


def write_text(target: str | os.PathLike, text: str, durable: bool = True,
               mode: int | None = None) -> Path:
    return write_bytes(target, text.encode("utf-8"), durable, mode)
