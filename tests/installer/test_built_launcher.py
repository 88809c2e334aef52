"""The built launcher end to end: build, plan, install, start, resume after a kill at four
moments (chosen by what has appeared on disk), a lock with an altered hash, repair, upgrade
and rollback, uninstall. One CPU environment is installed once and shared, in this order; the
other installs reuse the session's uv cache."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from installer.home import Home
from installer.install import Installer, InstallError, Sources
from installer.records import damaged_packages
from installer.targets import find_target, load_lock
from tests.installer.conftest import ROOT, VERSION, launcher_env, local_wheel_dirs, run_launcher
from tests.installer.kill import appeared, kill_when
from tests.installer.kill import start as start_install

GENERATE = ["generate", "--prompt", "a lighthouse", "--width", "64", "--height", "64",
            "--frames", "4", "--steps", "2", "--seed", "7"]


def state(home: Path) -> dict:
    return json.loads((home / "state.json").read_text())


def current_env(home: Path) -> Path:
    return home / "envs" / state(home)["current"]


def stub_nvidia_smi(folder: Path, output: str, code: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\necho '{output}'\nexit {code}\n")
    tool.chmod(0o755)
    return folder


def test_build_makes_one_executable(launcher):
    assert launcher.is_file() and os.access(launcher, os.X_OK)
    size = launcher.stat().st_size
    assert 20e6 < size < 150e6, f"{size / 1e6:.0f} MB"
    result = run_launcher(launcher, "--help", check=True)
    for flag in ("--unattended", "--backend", "--home", "--python", "--find-links",
                 "--index-url", "--offline", "--no-launch", "--dry-run", "--repair",
                 "--rollback", "--uninstall"):
        assert flag in result.stdout


def test_dry_run_with_nvidia_driver_chooses_cuda_and_installs_nothing(launcher, tmp_path):
    stub = stub_nvidia_smi(tmp_path / "bin", "NVIDIA GeForce RTX 4090, 560.35.03")
    home = tmp_path / "home"
    env = launcher_env(PATH=f"{stub}{os.pathsep}{os.environ['PATH']}")
    result = run_launcher(launcher, "--dry-run", "--home", str(home), env=env, check=True)
    assert "GPU: NVIDIA GeForce RTX 4090, driver 560.35.03" in result.stdout
    assert "Backend: cuda" in result.stdout
    assert "Lock: linux-x86_64-cuda" in result.stdout
    assert "Free disk:" in result.stdout and "Download:" in result.stdout
    assert not home.exists(), "a dry run must not create anything"


def test_dry_run_with_a_broken_driver_falls_back_to_cpu(launcher, tmp_path):
    stub = stub_nvidia_smi(tmp_path / "bin", "NVIDIA-SMI has failed", code=9)
    env = launcher_env(PATH=f"{stub}{os.pathsep}{os.environ['PATH']}")
    result = run_launcher(launcher, "--dry-run", "--home", str(tmp_path / "h"), env=env,
                          check=True)
    assert "Backend: cpu" in result.stdout


def test_the_setup_window_opens_from_the_built_launcher(launcher, tmp_path):
    home, shot = tmp_path / "home", tmp_path / "setup.png"
    env = launcher_env(QT_QPA_PLATFORM="offscreen")
    run_launcher(launcher, "--home", str(home), "--backend", "cpu", "--screenshot", str(shot),
                 env=env, check=True)
    with Image.open(shot) as image:
        assert image.width >= 500 and image.height >= 200
    assert len(list((home / "launcher").glob("qt-*"))) == 1, "Qt is unpacked once, on demand"
    assert not (home / "envs").exists()


def test_unattended_cpu_install_is_verified_and_current(installed):
    assert "Installed and verified" in installed.output
    total = re.search(r"Installing (\d+) packages", installed.output)[1]
    assert f"Installed {total} of {total} packages" in installed.output
    env = current_env(installed.home)
    info = json.loads((env / "ads-env.json").read_text())
    assert info["verified"] and info["backend"] == "cpu"
    assert info["check"]["torch"].endswith("+cpu") and info["check"]["device"] == "cpu"
    # The app runs from the environment's own copy, not from the source tree.
    where = subprocess.run([str(env / "bin" / "python"), "-I", "-c",
                            "import main, torch; print(main.__file__); print(torch.__version__)"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert where[0].startswith(str(env)) and where[1].endswith("+cpu")


def test_installed_generate_writes_the_frames_the_source_tree_writes(installed, demo_dir,
                                                                     tmp_path):
    models = ["--base-model", str(demo_dir / "base"), "--motion-adapter",
              str(demo_dir / "motion-adapter")]
    source_out, installed_out = tmp_path / "source", tmp_path / "installed"
    subprocess.run([sys.executable, str(ROOT / "main.py"), *GENERATE, *models, "--output",
                    str(source_out)], check=True, capture_output=True, timeout=600,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
    run_launcher(installed.launcher, "--home", str(installed.home), "--", *GENERATE, *models,
                 "--output", str(installed_out), env=installed.env, check=True, timeout=600)
    source_frames = sorted(source_out.glob("frame_*.png"))
    installed_frames = sorted(installed_out.glob("frame_*.png"))
    assert len(source_frames) == 4
    assert [p.name for p in source_frames] == [p.name for p in installed_frames]
    for a, b in zip(source_frames, installed_frames, strict=True):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b))), a.name


def test_second_start_reuses_the_environment_and_is_quick(installed):
    before = state(installed.home)
    start = time.perf_counter()
    result = run_launcher(installed.launcher, "--home", str(installed.home), "--", "--help",
                          env=installed.env, check=True)
    seconds = time.perf_counter() - start
    assert "generate" in result.stdout  # the app's own --help
    assert "Installing" not in result.stdout and "Resuming" not in result.stdout
    assert state(installed.home) == before
    assert not list((installed.home / "launcher").glob("qt-*")), "no window, no Qt unpacked"
    assert seconds < 5, f"{seconds:.1f} s"


def test_the_app_exit_code_is_the_launchers(installed):
    result = run_launcher(installed.launcher, "--home", str(installed.home), "--", "generate",
                          "--prompt", "x", "--output", "/nonexistent/dir/out.xyz",
                          env=installed.env)
    assert result.returncode == 2, result.stderr[-2000:]


def install_command(launcher: Path, home: Path) -> list[str]:
    links = [arg for folder in local_wheel_dirs() for arg in ("--find-links", folder)]
    return [str(launcher), "--unattended", "--backend", "cpu", "--home", str(home),
            "--python", sys.executable, *links, "--no-launch"]


def pending_site(home: Path) -> Path:
    [site] = (home / "envs" / state(home)["pending"]).glob("lib/python*/site-packages")
    return site


def kill_and_rerun(installed, home: Path, ready, what: str, env: dict | None = None,
                   after_kill=None) -> str:
    """Kills an install of HOME once ready() (what has appeared on disk), checks that nothing
    was made current, runs the launcher again and starts the app from what it finished.
    Returns the rerun's output."""
    env = env or installed.env
    command = install_command(installed.launcher, home)
    log = home.parent / "killed.log"
    home.mkdir(parents=True, exist_ok=True)
    kill_when(start_install(command, env, log), ready, what, log)
    killed = state(home)
    assert killed["current"] is None and killed["pending"], log.read_text()
    info = json.loads((home / "envs" / killed["pending"] / "ads-env.json").read_text())
    assert not info["verified"]
    if after_kill:
        after_kill(home)
    # Nothing half-installed starts: without a verified environment the launcher installs.
    rerun = run_launcher(installed.launcher, *command[1:], env=env, check=True)
    assert "Resuming the environment" in rerun.stdout
    assert "Installed and verified" in rerun.stdout
    assert state(home)["current"] == killed["pending"]
    started = run_launcher(installed.launcher, "--home", str(home), "--", "--help", env=env,
                           check=True)
    assert "generate" in started.stdout  # the app's own --help
    return rerun.stdout


def test_a_kill_while_torch_is_being_linked_is_made_whole_on_the_rerun(installed, tmp_path):
    home = tmp_path / "home"
    torch_incomplete = []

    def record_damage(home: Path) -> None:
        damaged = damaged_packages(pending_site(home).parents[2], hashes=False)
        torch_incomplete.extend(d.name for d in damaged if d.name == "torch")

    # uv makes torch's folder, then links its 12,000 files into it: kill at the folder.
    out = kill_and_rerun(installed, home, appeared(home, "torch"), "torch being linked",
                         after_kill=record_damage)
    assert torch_incomplete == ["torch"], "the kill did not land while torch was linked"
    assert re.search(r"Reinstalling \d+ incompletely installed package\(s\): .*torch", out), out


def test_a_kill_while_downloading_resumes_the_downloads(installed, tmp_path):
    home, cache = tmp_path / "home", tmp_path / "cache"
    env = dict(installed.env, UV_CACHE_DIR=str(cache))  # empty: everything is downloaded

    def downloading() -> bool:
        return len(list(cache.glob("wheels-v*/pypi/*"))) >= 3

    def nothing_linked(home: Path) -> None:
        assert not (pending_site(home) / "torch").exists()

    kill_and_rerun(installed, home, downloading, "downloads", env=env,
                   after_kill=nothing_linked)


def test_a_kill_while_the_app_is_installed_is_finished_on_the_rerun(installed, tmp_path):
    home = tmp_path / "home"
    app = appeared(home, "main.py", "gui", f"animatediff_studio-{VERSION}.dist-info")
    kill_and_rerun(installed, home, app, "the app's wheel being installed")


SABOTAGE = """import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            raise ImportError("torch blocked by a file no RECORD lists (test)")
sys.meta_path.insert(0, Block())
"""


def test_a_kill_during_the_check_then_a_failing_check_rebuilds_once(installed, tmp_path):
    home = tmp_path / "home"

    def sabotage(home: Path) -> None:
        # Damage no RECORD can see: the resumed environment passes the file check and fails
        # torch's, so it must be discarded and built again from scratch, once.
        (pending_site(home) / "sitecustomize.py").write_text(SABOTAGE)

    # The check imports torch, which writes torch's byte code: that is the moment.
    out = kill_and_rerun(installed, home, appeared(home, "torch/__pycache__"), "the check",
                         after_kill=sabotage)
    assert "The resumed environment failed its check (the new environment failed its check: " \
           "ImportError: torch blocked by a file no RECORD lists (test)); discarding it and " \
           "building it again from scratch" in out
    [site] = current_env(home).glob("lib/python*/site-packages")
    assert not (site / "sitecustomize.py").exists()


def test_a_lock_whose_hash_was_altered_by_hand_is_refused(installed, uv_cache, tmp_path,
                                                           monkeypatch):
    from uv import find_uv_bin

    target = find_target("linux-x86_64", "cpu")
    locks = tmp_path / "locks"
    locks.mkdir()
    shutil.copy(ROOT / "installer" / "locks" / "sizes.json", locks)
    text = (ROOT / "installer" / "locks" / f"{target.name}.txt").read_text(encoding="utf-8")
    digest = re.search(r"^torch==\S+ \\\n\s+--hash=sha256:([0-9a-f]{64})", text, re.M)[1]
    altered = ("0" if digest[0] != "0" else "1") + digest[1:]  # one digit changed by hand
    (locks / f"{target.name}.txt").write_text(text.replace(digest, altered), encoding="utf-8")
    lock = load_lock(locks, target)
    assert lock.hashed
    monkeypatch.setenv("UV_CACHE_DIR", str(uv_cache))  # torch is in it, and is refused
    home = Home(tmp_path / "home")
    home.root.mkdir()
    installer = Installer(home, lock, tmp_path / "unused.whl", find_uv_bin(), VERSION,
                          Sources(local_wheel_dirs()), sys.executable, app_sha256="0" * 64)
    with pytest.raises(InstallError) as refused:
        installer.build("altered")
    print(f"Error: {refused.value}")  # quoted in the report
    assert "Hash mismatch for `torch==2.13.0+cpu`" in str(refused.value)
    assert f"sha256:{altered}" in str(refused.value) and "nothing was installed" in str(
        refused.value)
    assert not list((home.envs / "altered").glob("lib/python*/site-packages/torch*"))
    assert not json.loads((home.envs / "altered" / "ads-env.json").read_text())["verified"]


def test_a_failed_install_leaves_the_previous_environment_current(installed, tmp_path):
    before = state(installed.home)
    env = dict(installed.env, UV_CACHE_DIR=str(tmp_path / "empty-cache"))
    env.pop("PIP_FIND_LINKS", None)
    env.pop("UV_FIND_LINKS", None)
    result = run_launcher(installed.launcher, "--repair", "--unattended", "--no-launch",
                          "--home", str(installed.home), "--index-url",
                          "http://127.0.0.1:9/simple", env=env)
    assert result.returncode == 1
    assert "Error: could not install the packages" in result.stdout
    assert "still the one that starts" in result.stdout
    assert state(installed.home)["current"] == before["current"]
    run_launcher(installed.launcher, "--home", str(installed.home), "--", "--help",
                 env=installed.env, check=True)


def test_an_upgrade_builds_beside_the_old_environment_and_rollback_returns_to_it(installed):
    old = state(installed.home)["current"]
    info_file = installed.home / "envs" / old / "ads-env.json"
    info = json.loads(info_file.read_text())
    info_file.write_text(json.dumps(dict(info, version="0.0.9")))  # as an older launcher left it
    result = run_launcher(installed.launcher, "--unattended", "--no-launch", "--home",
                          str(installed.home), env=installed.env, check=True)
    assert "Installed and verified" in result.stdout
    upgraded = state(installed.home)
    assert upgraded["current"] != old and upgraded["previous"] == old
    assert (installed.home / "envs" / old).is_dir()
    run_launcher(installed.launcher, "--rollback", "--no-launch", "--home", str(installed.home),
                 env=installed.env, check=True)
    assert state(installed.home)["current"] == old
    again = run_launcher(installed.launcher, "--home", str(installed.home), "--", "--help",
                         env=installed.env, check=True)
    assert "Installing" not in again.stdout and state(installed.home)["current"] == old


def test_repair_rebuilds_the_environment_into_a_working_app(installed, demo_dir, tmp_path):
    old = state(installed.home)["current"]
    result = run_launcher(installed.launcher, "--repair", "--unattended", "--home",
                          str(installed.home), "--", *GENERATE, "--base-model",
                          str(demo_dir / "base"), "--motion-adapter",
                          str(demo_dir / "motion-adapter"), "--output", str(tmp_path / "out"),
                          env=installed.env, check=True)
    assert "Installed and verified" in result.stdout
    new = state(installed.home)["current"]
    assert new != old and not (installed.home / "envs" / old).exists()
    assert len(list((tmp_path / "out").glob("frame_*.png"))) == 4


def test_uninstall_removes_only_the_launchers_data(installed):
    keep = installed.home / "my-notes.txt"
    keep.write_text("not the launcher's")
    result = run_launcher(installed.launcher, "--uninstall", "--unattended", "--home",
                          str(installed.home), env=installed.env, check=True)
    assert "Hugging Face cache" in result.stdout
    assert sorted(p.name for p in installed.home.iterdir()) == ["my-notes.txt"]
