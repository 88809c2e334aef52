"""Launcher figures: size, build time, first install time (from local wheels with an empty uv
cache, and from a warm uv cache), second start time (against starting the app directly).

    python benchmarks/installer.py [--launcher PATH]   # Linux; PATH skips the build

Installs are CPU environments on the running interpreter, both offline: "local wheels" first
downloads every package of the lock into a folder (not timed), then installs from it with an
empty cache; "warm cache" installs again into a new folder from the cache that install left.

A resumed install: a third install is killed while torch is being linked (when torch's folder
appears in the environment), and the rerun that makes it whole is timed against the fresh
install from the same warm cache. The two ways of making a resumed environment whole are timed
on a whole environment: uv reinstalling every package from its cache, against checking every
file against its RECORD (sizes and sha256) and reinstalling only torch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from installer.records import damaged_packages  # noqa: E402
from installer.targets import current_platform, project_version  # noqa: E402
from tests.installer.kill import appeared, kill_when, start  # noqa: E402


def timed(command: list[str], **kwargs) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{command[:3]}... failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds


def best_of(runs: int, command: list[str], **kwargs) -> float:
    return min(timed(command, **kwargs) for _ in range(runs))


def whole_again(env_path: Path, lock: Path, wheels: Path, env: dict) -> tuple[float, ...]:
    """The two ways to make a resumed environment whole, timed on a whole one."""
    from uv import find_uv_bin

    base = [find_uv_bin(), "pip", "install", "--python", str(env_path / "bin" / "python"), "-r",
            str(lock), "--require-hashes", "--offline", "--find-links", str(wheels)]
    reinstall_all = timed([*base, "--reinstall"], env=env)
    start_time = time.perf_counter()
    damaged = damaged_packages(env_path, hashes=True)
    record_check = time.perf_counter() - start_time
    assert not damaged, damaged
    reinstall_torch = timed([*base, "--reinstall-package", "torch"], env=env)
    return reinstall_all, record_check, reinstall_torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launcher", type=Path, help="an already built launcher (skips the build)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ads-bench-"))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PIP_FIND_LINKS", None)
    env.pop("UV_FIND_LINKS", None)
    try:
        if args.launcher:
            launcher, build_seconds = args.launcher, None
        else:
            build_seconds = timed([sys.executable, str(ROOT / "scripts" / "build_installer.py"),
                                   "--output", str(work / "dist")])
            launcher = work / "dist" / (f"AnimateDiffStudio-{project_version(ROOT / 'pyproject.toml')}"
                                        f"-{current_platform()}")
        lock = ROOT / "installer" / "locks" / f"{current_platform()}-cpu.txt"
        wheels = work / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary", ":all:", "-r", str(lock), "-d", str(wheels)],
                       check=True)
        download_mb = sum(p.stat().st_size for p in wheels.iterdir()) / 1024**2
        env["UV_CACHE_DIR"] = str(work / "uv-cache")
        install = [str(launcher), "--unattended", "--backend", "cpu", "--python", sys.executable,
                   "--offline", "--find-links", str(wheels), "--no-launch"]
        local_seconds = timed([*install, "--home", str(work / "home-1")], env=env)
        warm_seconds = timed([*install, "--home", str(work / "home-2")], env=env)
        killed_home = work / "home-3"
        killed_home.mkdir()
        log = work / "killed.log"
        kill_when(start([*install, "--home", str(killed_home)], env, log),
                  appeared(killed_home, "torch"), "torch being linked", log)
        resumed_seconds = timed([*install, "--home", str(killed_home)], env=env)
        reinstall_all, record_check, reinstall_torch = whole_again(
            next((work / "home-2" / "envs").iterdir()), lock, wheels, env)
        home = work / "home-2"
        timed([str(launcher), "--home", str(home), "--", "--help"], env=env)  # page cache warm
        second_start = best_of(3, [str(launcher), "--home", str(home), "--", "--help"], env=env)
        python = next((home / "envs").iterdir()) / "bin" / "python"
        direct = best_of(3, [str(python), "-I", "-c",
                             "import sys; from main import main; sys.exit(main())", "--help"],
                         env=env)
        launcher_only = best_of(3, [str(launcher), "--help"], env=env)
        size_mb = launcher.stat().st_size / 1024**2
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"launcher size: {size_mb:.1f} MB ({launcher.name})")
    print("build time: " + (f"{build_seconds:.0f} s" if build_seconds else "not measured"))
    print(f"first install from local wheels ({download_mb:.0f} MB, empty uv cache, offline): "
          f"{local_seconds:.1f} s")
    print(f"first install from a warm uv cache (offline): {warm_seconds:.1f} s "
          f"({local_seconds / warm_seconds:.1f}x faster)")
    print(f"resumed install after a kill while torch was linked (warm cache, offline): "
          f"{resumed_seconds:.1f} s ({resumed_seconds / warm_seconds:.2f}x the fresh install "
          "from the same cache)")
    print(f"making a resumed environment whole: uv reinstalling every package from its cache "
          f"{reinstall_all:.1f} s; checking every file against its RECORD {record_check:.1f} s "
          f"+ reinstalling torch {reinstall_torch:.1f} s = "
          f"{record_check + reinstall_torch:.1f} s")
    print(f"second start, launcher -- --help: {second_start:.2f} s "
          f"(the app's --help started directly: {direct:.2f} s; the launcher's own "
          f"--help: {launcher_only:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
