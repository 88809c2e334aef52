"""Fixtures for the launcher tests: the launcher built once per session, a uv cache shared by
every install in the session, and one CPU environment installed once and shared.

The built-launcher tests are slow (a PyInstaller build, a real install); they run on Linux with
the local torch CPU wheel in PIP_FIND_LINKS (other packages come from PyPI). ADS_TEST_LAUNCHER
names an already built launcher to skip the build while working on the tests.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from installer.targets import TORCH_VERSION, current_platform, project_version  # noqa: E402

VERSION = project_version(ROOT / "pyproject.toml")


def local_wheel_dirs() -> list[str]:
    return [p for p in os.environ.get("PIP_FIND_LINKS", "").split() if Path(p).is_dir()]


def has_local_torch_cpu() -> bool:
    pattern = f"torch-{TORCH_VERSION}+cpu-*.whl"
    return any(any(Path(folder).glob(pattern)) for folder in local_wheel_dirs())


def launcher_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the installed app must not see the source tree
    env.update(extra)
    return env


def run_launcher(launcher: Path, *args: str, env: dict | None = None, timeout: float = 900,
                 check: bool = False) -> subprocess.CompletedProcess:
    result = subprocess.run([str(launcher), *args], capture_output=True, text=True,
                            env=env or launcher_env(), timeout=timeout)
    if check:
        assert result.returncode == 0, f"{args}: rc {result.returncode}\n{result.stdout[-3000:]}" \
            f"\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="session")
def launcher(tmp_path_factory) -> Path:
    prebuilt = os.environ.get("ADS_TEST_LAUNCHER")
    if prebuilt:
        return Path(prebuilt)
    if not sys.platform.startswith("linux"):
        pytest.skip("the launcher tests run on Linux")
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip('PyInstaller is not installed (pip install -e ".[build]")')
    out = tmp_path_factory.mktemp("launcher")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_installer.py"),
                             "--output", str(out)], capture_output=True, text=True, timeout=1200,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / f"AnimateDiffStudio-{VERSION}-{current_platform()}"


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("uv-cache")


@dataclass
class Installed:
    launcher: Path
    home: Path
    output: str
    seconds: float
    env: dict


@pytest.fixture(scope="session")
def installed(launcher, uv_cache, tmp_path_factory) -> Installed:
    """One unattended CPU install on the running interpreter, from the local wheel folder."""
    if not has_local_torch_cpu():
        pytest.skip(f"no torch {TORCH_VERSION}+cpu wheel in PIP_FIND_LINKS "
                    "(the PyTorch CPU index is not reachable here)")
    try:
        socket.create_connection(("pypi.org", 443), timeout=10).close()
    except OSError:
        pytest.skip("PyPI cannot be reached (the install takes all but torch from it)")
    home = tmp_path_factory.mktemp("home")
    env = launcher_env(UV_CACHE_DIR=str(uv_cache))
    links = [arg for folder in local_wheel_dirs() for arg in ("--find-links", folder)]
    start = time.perf_counter()
    result = run_launcher(launcher, "--unattended", "--backend", "cpu", "--home", str(home),
                          "--python", sys.executable, *links, "--no-launch", env=env, check=True)
    return Installed(launcher, home, result.stdout, time.perf_counter() - start, env)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, str(ROOT / "main.py"), "demo-model", str(folder)], check=True,
                   capture_output=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600)
    return folder
