"""Platforms, GPU backends and the lock file each pair installs.

A lock pins every package of the app's environment for one platform and backend; torch is the
only package whose build differs between backends, so it is the only one that may come from a
PyTorch index instead of PyPI.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("cuda", "rocm", "mps", "cpu")
BACKEND_LABELS = {
    "cuda": "NVIDIA CUDA",
    "rocm": "AMD ROCm",
    "mps": "Apple Metal (MPS)",
    "cpu": "CPU only (slow, no GPU needed)",
}
TORCH_VERSION = "2.13.0"
PYTHON_VERSION = "3.11"
PYTORCH_INDEX = "https://download.pytorch.org/whl"


@dataclass(frozen=True)
class Target:
    """One lock: what `uv pip compile` resolves for a platform and backend."""

    platform: str  # linux-x86_64, windows-x86_64, macos-arm64
    backend: str
    torch: str  # the exact torch version, local part included (2.13.0+cpu)
    torch_index: str | None  # extra index torch comes from; None: PyPI's own build is right
    uv_platform: str  # uv's --python-platform for the resolution

    @property
    def name(self) -> str:
        return f"{self.platform}-{self.backend}"


TARGETS = [
    Target("linux-x86_64", "cpu", f"{TORCH_VERSION}+cpu", f"{PYTORCH_INDEX}/cpu",
           "x86_64-manylinux_2_28"),
    # PyPI's Linux torch is the CUDA build, with the nvidia-* libraries as dependencies.
    Target("linux-x86_64", "cuda", TORCH_VERSION, None, "x86_64-manylinux_2_28"),
    Target("linux-x86_64", "rocm", f"{TORCH_VERSION}+rocm6.4", f"{PYTORCH_INDEX}/rocm6.4",
           "x86_64-manylinux_2_28"),
    # PyPI's Windows torch is the CPU build.
    Target("windows-x86_64", "cpu", TORCH_VERSION, None, "x86_64-pc-windows-msvc"),
    Target("windows-x86_64", "cuda", f"{TORCH_VERSION}+cu128", f"{PYTORCH_INDEX}/cu128",
           "x86_64-pc-windows-msvc"),
    # PyPI's macOS arm64 torch has MPS built in; the CPU backend is the same environment.
    Target("macos-arm64", "mps", TORCH_VERSION, None, "aarch64-apple-darwin"),
    Target("macos-arm64", "cpu", TORCH_VERSION, None, "aarch64-apple-darwin"),
]


def project_version(pyproject: Path) -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text("utf-8"), re.M)
    if not match:
        raise ValueError(f"{pyproject}: no version")
    return match[1]


def current_platform() -> str:
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}.get(
        machine, machine)
    system = {"win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)
    if system.startswith("linux"):
        system = "linux"
    return f"{system}-{arch}"


def backends_for(platform_name: str) -> list[str]:
    return [t.backend for t in TARGETS if t.platform == platform_name]


def find_target(platform_name: str, backend: str) -> Target | None:
    for target in TARGETS:
        if target.platform == platform_name and target.backend == backend:
            return target
    return None


@dataclass(frozen=True)
class Lock:
    target: Target
    path: Path
    packages: list[str]  # "name==version" lines
    download_bytes: int
    installed_bytes: int
    sizes_measured: bool
    hashed: bool = False  # every package carries its sha256: installed with --require-hashes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def read_requirements(path: Path) -> list[tuple[str, list[str]]]:
    """(pin, its --hash values) for each requirement; continuation lines are joined."""
    logical, pending = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        pending += " " + line.strip()
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        if pending.strip():
            logical.append(pending.strip())
        pending = ""
    if pending.strip():
        logical.append(pending.strip())
    requirements = []
    for line in logical:
        words = line.split()
        if words[0].startswith("-"):
            continue
        hashes = [w.removeprefix("--hash=") for w in words[1:] if w.startswith("--hash=")]
        requirements.append((words[0], hashes))
    return requirements


def load_lock(locks_dir: Path, target: Target) -> Lock:
    path = locks_dir / f"{target.name}.txt"
    sizes = json.loads((locks_dir / "sizes.json").read_text(encoding="utf-8"))
    size = sizes.get(target.name, {})
    requirements = read_requirements(path)
    return Lock(
        target=target,
        path=path,
        packages=[pin for pin, _ in requirements],
        hashed=bool(requirements) and all(hashes for _, hashes in requirements),
        download_bytes=int(size.get("download_mb", 0) * 1024 * 1024),
        installed_bytes=int(size.get("installed_mb", 0) * 1024 * 1024),
        sizes_measured=bool(size.get("measured", False)),
    )
