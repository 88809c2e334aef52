"""What an install will be: the platform, the GPU found, the backend, its lock, the disk it needs.

Both the command line (installer.launcher) and the setup window (installer.window) make plans;
this module imports neither of them.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from installer.detect import GpuInfo, detect_gpu
from installer.home import Home
from installer.install import human_bytes
from installer.targets import (
    BACKEND_LABELS,
    Lock,
    backends_for,
    current_platform,
    find_target,
    load_lock,
)

ROOT = Path(__file__).resolve().parents[1]
DISK_MARGIN = 512 * 1024 * 1024


class UsageError(Exception):
    """A bad flag or a missing part of the launcher: exit 2 with this line."""


def bundle_dir() -> Path:
    """Where the bundled files are: PyInstaller's unpack folder, or the source tree."""
    return Path(getattr(sys, "_MEIPASS", ROOT))


def locks_dir() -> Path:
    return bundle_dir() / "installer" / "locks"


@dataclass
class Plan:
    platform: str
    gpu: GpuInfo
    backend: str
    lock: Lock
    home: Path
    free_bytes: int

    @property
    def needed_bytes(self) -> int:
        return self.lock.installed_bytes + self.lock.download_bytes + DISK_MARGIN

    @property
    def enough_disk(self) -> bool:
        return self.free_bytes >= self.needed_bytes

    def disk_message(self) -> str:
        return (f"not enough disk space in {self.home}: the {BACKEND_LABELS[self.backend]} "
                f"environment needs about {human_bytes(self.needed_bytes)}, "
                f"{human_bytes(self.free_bytes)} is free. Free some space, or choose another "
                "place with --home DIR")

    def hash_note(self) -> str | None:
        """None when every package is bound to its sha256; else why this install is not."""
        if self.lock.hashed:
            return None
        return (f"The {BACKEND_LABELS[self.backend]} install is not hash-bound: its lock leaves "
                "torch's own dependencies to the PyTorch index at install time (the index "
                "could not be reached when the lock was made), so torch and its dependencies "
                "are not checked against recorded hashes.")

    def lines(self) -> list[str]:
        estimate = "" if self.lock.sizes_measured else " (estimate)"
        return [
            f"GPU: {self.gpu.description}",
            f"Backend: {self.backend} ({BACKEND_LABELS[self.backend]})",
            f"Lock: {self.lock.target.name} ({len(self.lock.packages)} packages, "
            f"torch {self.lock.target.torch})",
            f"Download: {human_bytes(self.lock.download_bytes)}{estimate}",
            f"Disk needed: {human_bytes(self.needed_bytes)}{estimate}",
            f"Free disk: {human_bytes(self.free_bytes)} in {self.home}",
            "Hashes: every package is checked against its sha256 in the lock"
            if self.lock.hashed else f"Hashes: {self.hash_note()}",
        ]


def free_space(path: Path) -> int:
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def make_plan(home: Home, backend: str, gpu: GpuInfo | None = None) -> Plan:
    platform_name = current_platform()
    gpu = gpu or detect_gpu()
    choice = gpu.backend if backend == "auto" else backend
    target = find_target(platform_name, choice)
    if target is None:
        raise UsageError(f"--backend {choice} is not available on {platform_name} (choose from "
                         f"{', '.join(backends_for(platform_name)) or 'none'})")
    return Plan(platform_name, gpu, choice, load_lock(locks_dir(), target), home.root,
                free_space(home.root))


