"""Which GPU this machine has, and so which backend to install by default."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuInfo:
    backend: str  # cuda, rocm, mps or cpu
    description: str  # what the window and --dry-run show


def nvidia_gpu() -> GpuInfo | None:
    """An NVIDIA GPU with a working driver, as nvidia-smi reports it."""
    tool = shutil.which("nvidia-smi")
    if not tool:
        return None
    try:
        result = subprocess.run(
            [tool, "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=15,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        return None
    name, _, driver = lines[0].partition(",")
    more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
    return GpuInfo("cuda", f"{name.strip()}, driver {driver.strip()}{more}")


def amd_gpu() -> GpuInfo | None:
    """An AMD GPU that ROCm can drive: the kernel driver's device and a ROCm tool or install."""
    if not sys.platform.startswith("linux") or not os.path.exists("/dev/kfd"):
        return None
    tool = shutil.which("rocminfo") or shutil.which("rocm-smi")
    if not tool and not os.path.isdir("/opt/rocm"):
        return None
    name = "AMD GPU"
    if tool and tool.endswith("rocminfo"):
        try:
            out = subprocess.run([tool], capture_output=True, text=True, timeout=15).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            if "Marketing Name" in line and "CPU" not in line:
                name = line.split(":", 1)[1].strip() or name
                break
    return GpuInfo("rocm", name)


def apple_gpu() -> GpuInfo | None:
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return GpuInfo("mps", "Apple Silicon GPU")
    return None


def detect_gpu() -> GpuInfo:
    for probe in (nvidia_gpu, amd_gpu, apple_gpu):
        found = probe()
        if found:
            return found
    return GpuInfo("cpu", "no supported GPU found")
