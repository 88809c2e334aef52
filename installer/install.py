"""Building one environment: a Python, the lock installed with uv, the app wheel, a check that
torch works on the chosen device. Progress goes to a callback; nothing here knows about windows.

An environment is marked verified only after the check passed, and only a verified environment
is ever started, so a kill at any point leaves nothing half-installed that could run. Running
again resumes the same folder: uv skips what is already there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from installer.home import Env, Home
from installer.targets import PYTHON_VERSION, Lock

VERIFY_SCRIPT = r"""
import json, sys
backend = sys.argv[1]
import torch
if backend in ("cuda", "rocm"):
    if not torch.cuda.is_available():
        sys.exit("torch cannot use the GPU: torch.cuda.is_available() is False "
                 "(is the driver installed and new enough?)")
    if backend == "rocm" and not torch.version.hip:
        sys.exit("this torch build is not a ROCm build")
    device = "cuda"
elif backend == "mps":
    if not torch.backends.mps.is_available():
        sys.exit("torch cannot use the Apple GPU: torch.backends.mps.is_available() is False")
    device = "mps"
else:
    device = "cpu"
x = torch.ones(64, 64, device=device)
total = float((x @ x).sum().item())
if total != 64.0 ** 3:
    sys.exit(f"a matrix product on {device} gave {total}, expected {64.0 ** 3}")
import PySide6.QtCore
import main, backend.engine.generation
print(json.dumps({"torch": torch.__version__, "device": device,
                  "qt": PySide6.QtCore.qVersion()}))
"""


class InstallError(Exception):
    """A failure the user can act on; the message says what happened and what to do."""


class Cancelled(Exception):
    pass


@dataclass
class Progress:
    phase: str  # python, packages, app, verify, done
    message: str
    done: int = 0  # packages installed
    total: int = 0
    bytes_done: int = 0  # bytes of packages downloaded so far
    bytes_total: int = 0


@dataclass
class Sources:
    """Where packages come from: local wheel folders, an index, or only the cache."""

    find_links: list[str] = field(default_factory=list)
    index_url: str | None = None
    offline: bool = False

    @staticmethod
    def from_environment(find_links: list[str], index_url: str | None, offline: bool) -> Sources:
        links = list(find_links)
        links += [p for p in re.split(r"[,\s]+", os.environ.get("UV_FIND_LINKS", "")) if p]
        links += [p for p in os.environ.get("PIP_FIND_LINKS", "").split() if p]
        unique = list(dict.fromkeys(links))
        return Sources(unique, index_url, offline)

    def has_local(self, filename_prefix: str) -> bool:
        for link in self.find_links:
            folder = Path(link.removeprefix("file://"))
            if folder.is_dir() and any(folder.glob(f"{filename_prefix}*.whl")):
                return True
        return False


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit in ("B", "KB") else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


SIZE_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
DOWNLOADING = re.compile(r"^\s*Downloading (\S+) \(([\d.]+)\s*(B|KiB|MiB|GiB)\)")
DOWNLOADED = re.compile(r"^\s*Downloaded (\S+)")


def child_environment(home: Home) -> dict[str, str]:
    """The environment for uv and the app: ours, without what the frozen launcher set for itself."""
    env = dict(os.environ)
    if getattr(sys, "frozen", False):
        for key in list(env):
            if key.startswith(("_PYI_", "_MEI")) or key in ("QT_PLUGIN_PATH", "QML2_IMPORT_PATH"):
                env.pop(key)
        for key in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
            original = env.pop(key + "_ORIG", None)
            if original is not None:
                env[key] = original
            else:
                env.pop(key, None)
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONHOME", None)
    # A cache the user chose is shared (and never removed by --uninstall); else our own.
    env["UV_CACHE_DIR"] = os.environ.get("UV_CACHE_DIR") or str(home.cache)
    env["UV_PYTHON_INSTALL_DIR"] = str(home.pythons)
    env["UV_NO_PROGRESS"] = "1"
    return env


class Installer:
    def __init__(self, home: Home, lock: Lock, app_wheel: Path, uv: str, version: str,
                 sources: Sources, python: str | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.home = home
        self.lock = lock
        self.app_wheel = Path(app_wheel)
        self.uv = uv
        self.version = version
        self.sources = sources
        self.python = python
        self.on_progress = on_progress or (lambda progress: None)
        self.cancel = cancel or threading.Event()
        self.log_lines: list[str] = []

    # -- the steps -------------------------------------------------------------------------

    def build(self, name: str) -> Env:
        """Creates (or resumes) envs/NAME and returns it verified; raises InstallError."""
        env = self.prepare(name)
        self.install_packages(env)
        self.install_app(env)
        self.verify(env)
        env.info["verified"] = True
        env.info["verified_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        env.save()
        self.report(Progress("done", "Ready", len(self.lock.packages), len(self.lock.packages)))
        return env

    def prepare(self, name: str) -> Env:
        path = self.home.envs / name
        info = {
            "version": self.version,
            "backend": self.lock.target.backend,
            "lock": self.lock.target.name,
            "lock_sha256": self.lock.sha256,
            "app_wheel": self.app_wheel.name,
            "python_request": self.python or f"uv-managed {PYTHON_VERSION}",
            "verified": False,
        }
        env = Env(path, info)
        resumable = (path / "pyvenv.cfg").exists() and env.python.exists()
        old = self.home.env(name)
        if old and resumable and old.info.get("lock_sha256") == info["lock_sha256"]:
            self.report(Progress("python", f"Resuming the environment in {path}"))
        else:
            if path.exists():
                shutil.rmtree(path)
            self.report(Progress("python", "Creating the Python environment"))
            command = [self.uv, "venv", str(path), "--no-project", "--quiet"]
            if self.python:
                command += ["--python", self.python]
            else:
                command += ["--python", PYTHON_VERSION, "--managed-python"]
            if self.sources.offline:
                command.append("--offline")
            self.run_uv(command, "create the Python environment")
        env.save()
        return env

    def source_args(self) -> list[str]:
        args = []
        for link in self.sources.find_links:
            args += ["--find-links", link]
        if self.sources.index_url:
            args += ["--index-url", self.sources.index_url]
        if self.sources.offline:
            args.append("--offline")
        target = self.lock.target
        torch_wheel = f"torch-{target.torch}-"
        if target.torch_index and not self.sources.offline and not self.sources.has_local(
                torch_wheel):
            args += ["--extra-index-url", target.torch_index,
                     "--index-strategy", "unsafe-best-match"]
        return args

    def install_packages(self, env: Env) -> None:
        total = len(self.lock.packages)
        self.report(Progress("packages", f"Installing {total} packages", 0, total, 0,
                             self.lock.download_bytes))
        command = [self.uv, "pip", "install", "--python", str(env.python), "-r",
                   str(self.lock.path), *self.source_args()]
        self.run_uv(command, "install the packages", env=env, total=total)

    def install_app(self, env: Env) -> None:
        self.report(Progress("app", "Installing AnimateDiff Studio"))
        command = [self.uv, "pip", "install", "--python", str(env.python), "--no-deps",
                   "--reinstall-package", "animatediff-studio", str(self.app_wheel)]
        if self.sources.offline:
            command.append("--offline")
        self.run_uv(command, "install the app")

    def verify(self, env: Env) -> None:
        backend = self.lock.target.backend
        self.report(Progress("verify", f"Checking that torch works on {backend}"))
        result = subprocess.run(
            [str(env.python), "-I", "-c", VERIFY_SCRIPT, backend],
            capture_output=True, text=True, env=child_environment(self.home),
            cwd=str(self.home.root),
        )
        if result.returncode != 0:
            detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise InstallError(f"the new environment failed its check: {detail}")
        try:
            env.info["check"] = json.loads(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            env.info["check"] = {}

    # -- running uv --------------------------------------------------------------------------

    def report(self, progress: Progress) -> None:
        self.on_progress(progress)

    def run_uv(self, command: list[str], what: str, env: Env | None = None,
               total: int = 0) -> None:
        if self.cancel.is_set():
            raise Cancelled()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=child_environment(self.home), cwd=str(self.home.root), bufsize=1,
        )
        sizes: dict[str, int] = {}  # what uv announced it downloads, name: bytes
        state = {"bytes": 0, "done": -1, "downloaded": 0}
        stop = threading.Event()

        def watch() -> None:  # packages installed so far, seen as dist-info folders
            while not stop.wait(0.5):
                if self.cancel.is_set():
                    process.kill()
                    return
                if env is not None:
                    done = min(count_dist_info(env.path), total)
                    if done != state["done"] and done > 0:
                        state["done"] = done
                        self.report(self.installed_progress(done, total))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                line = line.rstrip()
                self.log_lines.append(line)
                if env is None:
                    continue
                match = DOWNLOADING.match(line)
                if match:
                    sizes[match[1]] = int(float(match[2]) * SIZE_UNITS[match[3]])
                    continue
                match = DOWNLOADED.match(line)
                if match:
                    state["bytes"] += sizes.get(match[1], 0)
                    state["downloaded"] += 1
                    self.report(Progress(
                        "packages", f"Downloaded {state['downloaded']} of {len(sizes)} large "
                        f"packages, {human_bytes(state['bytes'])} of "
                        f"{human_bytes(sum(sizes.values()))}",
                        0, total, state["bytes"], sum(sizes.values())))
            process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            stop.set()
            watcher.join()
        if self.cancel.is_set():
            raise Cancelled()
        if process.returncode != 0:
            raise InstallError(explain_uv_failure(what, self.log_lines))
        if env is not None:
            self.report(self.installed_progress(min(count_dist_info(env.path), total), total))

    def installed_progress(self, done: int, total: int) -> Progress:
        return Progress("packages", f"Installed {done} of {total} packages", done, total)

def count_dist_info(env_path: Path) -> int:
    patterns = ("lib/python*/site-packages/*.dist-info", "Lib/site-packages/*.dist-info")
    return sum(1 for pattern in patterns for _ in env_path.glob(pattern))


def explain_uv_failure(what: str, lines: list[str]) -> str:
    errors = [line.strip() for line in lines if line.strip()]
    tail = " | ".join(errors[-4:]) if errors else "uv gave no output"
    text = " ".join(errors[-20:]).lower()
    if any(word in text for word in ("dns error", "failed to fetch", "connect", "network",
                                     "offline", "timed out", "not found in the cache")):
        hint = ("no network? Connect and run the launcher again (it resumes), or use --offline "
                "with --find-links DIR holding the wheels")
    elif "no space left" in text:
        hint = "the disk is full: free some space and run the launcher again (it resumes)"
    else:
        hint = "run the launcher again to retry; --repair rebuilds from scratch"
    return f"could not {what}: {tail}. {hint}"
