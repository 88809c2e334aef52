"""Killing an install at a chosen moment, chosen by what has appeared on disk (never by time).

Used by the launcher tests and benchmarks/installer.py. No pytest here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

POLL = 0.002  # seconds between looks at the disk; a look is a few stat calls


def site_dirs(home: Path) -> list[Path]:
    """The site-packages folders of every environment under HOME (the pending one, usually)."""
    return sorted(home.glob("envs/*/lib/python*/site-packages"))


def appeared(home: Path, *names: str) -> Callable[[], bool]:
    """True once any environment's site-packages holds one of these names."""
    def look() -> bool:
        return any((site / name).exists() for site in site_dirs(home) for name in names)

    return look


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Starts an install in its own process group, output to a file (no pipe to fill)."""
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], what: str,
              log: Path, timeout: float = 900) -> float:
    """SIGKILLs the install and everything it started once ready() is true; returns when.

    Fails if the install ends first: then the moment was never reached.
    """
    start_time = time.monotonic()
    while not ready():
        if process.poll() is not None:
            raise AssertionError(f"the install ended (rc {process.returncode}) before {what}:\n"
                                 + log.read_text(errors="replace")[-3000:])
        if time.monotonic() - start_time > timeout:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(f"{what} did not happen in {timeout:.0f} s")
        time.sleep(POLL)
    os.killpg(process.pid, signal.SIGKILL)  # the launcher and uv with it
    process.wait()
    return time.monotonic() - start_time
