"""The launcher's parts from source, fast: GPU detection, sources, the disk check, rollback,
uninstall's question, the desktop entry, the setup window."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from installer import launcher as launcher_module
from installer import plan as plan_module
from installer.detect import detect_gpu
from installer.home import Home
from installer.install import Progress, Sources
from installer.launcher import main
from installer.plan import make_plan


def stub_tool(folder: Path, name: str, script: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / name
    tool.write_text("#!/bin/sh\n" + script + "\n")
    tool.chmod(0o755)


@pytest.fixture
def no_gpu_path(tmp_path, monkeypatch):
    """PATH without any nvidia-smi: only a folder with the basic tools."""
    empty = tmp_path / "nobin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


@pytest.mark.skipif(sys.platform == "win32", reason="shell stubs")
def test_an_nvidia_driver_means_cuda(tmp_path, monkeypatch):
    stub_tool(tmp_path / "bin", "nvidia-smi",
              "echo 'NVIDIA A100-SXM4-80GB, 550.54.15'; echo 'NVIDIA A100-SXM4-80GB, 550.54.15'")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    gpu = detect_gpu()
    assert gpu.backend == "cuda"
    assert gpu.description == "NVIDIA A100-SXM4-80GB, driver 550.54.15 (+1 more)"


def test_no_gpu_means_cpu(no_gpu_path):
    if os.path.exists("/dev/kfd") or sys.platform == "darwin":
        pytest.skip("this machine has a ROCm device or is a Mac")
    assert detect_gpu().backend == "cpu"


def test_sources_merge_flags_and_both_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("UV_FIND_LINKS", "/a,/b")
    monkeypatch.setenv("PIP_FIND_LINKS", "/b /c")
    sources = Sources.from_environment(["/flag"], "http://index", False)
    assert sources.find_links == ["/flag", "/a", "/b", "/c"]
    assert sources.index_url == "http://index"
    (tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    assert Sources([str(tmp_path)]).has_local("torch-2.13.0+cpu-")
    assert not Sources([str(tmp_path)]).has_local("torch-2.13.0+rocm6.4-")


def test_a_small_disk_is_refused_before_anything_is_installed(tmp_path, monkeypatch,
                                                               capsys, no_gpu_path):
    monkeypatch.setattr(plan_module, "free_space", lambda path: 100 * 1024 * 1024)
    home = tmp_path / "home"
    code = main(["--unattended", "--backend", "cpu", "--home", str(home)])
    out = capsys.readouterr().out
    assert code == 1
    assert "Error: not enough disk space" in out and "--home DIR" in out
    assert not (home / "envs").exists()


def test_dry_run_prints_the_plan(tmp_path, capsys, no_gpu_path):
    assert main(["--dry-run", "--backend", "cpu", "--home", str(tmp_path / "h")]) == 0
    out = capsys.readouterr().out
    assert "Backend: cpu" in out and "Dry run: nothing was installed." in out
    assert not (tmp_path / "h").exists()


def test_bad_flags_exit_2(tmp_path, capsys):
    assert main(["--backend", "tpu"]) == 2
    assert main(["--repair", "--rollback"]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_a_backend_the_platform_lacks_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plan_module, "current_platform", lambda: "linux-x86_64")
    assert main(["--dry-run", "--backend", "mps", "--home", str(tmp_path)]) == 2
    assert "--backend mps is not available on linux-x86_64" in capsys.readouterr().err


def fake_env(home: Path, name: str, version: str = "0.1.0") -> None:
    """A verified environment whose python is this interpreter (enough for the state logic)."""
    env = home / "envs" / name
    (env / "bin").mkdir(parents=True)
    (env / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (env / "bin" / "python").symlink_to(sys.executable)
    (env / "ads-env.json").write_text(json.dumps(
        {"version": version, "backend": "cpu", "verified": True}))


@pytest.mark.skipif(sys.platform == "win32", reason="symlinked python")
def test_rollback_swaps_current_and_previous(tmp_path, capsys):
    home = tmp_path / "home"
    fake_env(home, "0.2.0-cpu-1", "0.2.0")
    fake_env(home, "0.1.0-cpu-1")
    Home(home).set_state(current="0.2.0-cpu-1", previous="0.1.0-cpu-1")
    assert main(["--rollback", "--no-launch", "--home", str(home)]) == 0
    assert Home(home).state()["current"] == "0.1.0-cpu-1"
    assert Home(home).state()["previous"] == "0.2.0-cpu-1"
    Home(home).set_state(previous=None)
    assert main(["--rollback", "--no-launch", "--home", str(home)]) == 1
    assert "no previous environment" in capsys.readouterr().out


@pytest.mark.skipif(sys.platform == "win32", reason="symlinked python")
def test_an_unverified_current_environment_is_never_started(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    fake_env(home, "0.1.0-cpu-1")
    info = home / "envs" / "0.1.0-cpu-1" / "ads-env.json"
    info.write_text(json.dumps({"version": "0.1.0", "backend": "cpu", "verified": False}))
    Home(home).set_state(current="0.1.0-cpu-1")
    assert Home(home).current() is None
    started = []
    monkeypatch.setattr(launcher_module.Launcher, "launch", lambda self, env: started.append(1))
    monkeypatch.setattr(plan_module, "free_space", lambda path: 0)
    assert main(["--unattended", "--backend", "cpu", "--home", str(home)]) == 1
    assert started == []


def test_uninstall_asks_and_removes_only_its_own_files(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    for folder in ("envs/0.1.0-cpu-1", "cache", "python", "launcher"):
        (home / folder).mkdir(parents=True)
    (home / "state.json").write_text("{}")
    (home / "projects-i-put-here").mkdir()
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["--uninstall", "--home", str(home)]) == 1
    assert (home / "envs").exists() and "Nothing was removed" in capsys.readouterr().out
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["--uninstall", "--home", str(home)]) == 0
    assert sorted(p.name for p in home.iterdir()) == ["projects-i-put-here"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux desktop entry")
def test_desktop_entry_opens_projects(tmp_path, monkeypatch):
    from installer.desktop import desktop_files, install_desktop_entry

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    written = install_desktop_entry(["/opt/My Apps/AnimateDiffStudio"])
    assert written == desktop_files() and all(path.exists() for path in written)
    entry = written[0].read_text()
    assert "Exec='/opt/My Apps/AnimateDiffStudio' -- %f" in entry
    assert "MimeType=application/x-animatediff-studio-project;" in entry
    assert '<glob pattern="*.adsproj"/>' in written[2].read_text()


def test_setup_window_shows_the_plan_and_progress(qtbot, tmp_path, monkeypatch, no_gpu_path):
    from installer.window import SetupWindow

    launcher = launcher_module.Launcher(*launcher_module.parse_args(["--home", str(tmp_path)]))
    plan = make_plan(launcher.home, "cpu")
    window = SetupWindow(launcher, plan)
    qtbot.addWidget(window)
    assert window.gpu_label.text() == "no supported GPU found"
    assert window.backend_combo.currentData() == "cpu"
    assert window.install_button.isEnabled()
    for widget in (window.backend_combo, window.install_button, window.cancel_button,
                   window.progress_bar):
        assert widget.objectName() and widget.accessibleName()
    window.show_progress(Progress("packages", "Installed 27 of 55 packages", 27, 55))
    assert 40 <= window.progress_bar.value() <= 50
    assert window.status_label.text() == "Installed 27 of 55 packages"
    assert window.hash_label.isHidden()  # the CPU lock is bound to its hashes
    monkeypatch.setattr(plan_module, "free_space", lambda path: 0)
    window.backend_combo.setCurrentIndex(window.backend_combo.findData("cuda"))
    assert not window.install_button.isEnabled()
    assert "Not enough space" in window.disk_label.text()
    assert window.hash_label.isHidden()
    window.backend_combo.setCurrentIndex(window.backend_combo.findData("rocm"))
    assert not window.hash_label.isHidden()
    assert "AMD ROCm install is not hash-bound" in window.hash_label.text()


class ScriptedLauncher:
    """Stands in for Launcher.build in the window: reports progress, then succeeds or fails."""

    def __init__(self, real, error: str | None = None) -> None:
        self.home, self.version, self.error = real.home, real.version, error

    def build(self, plan, on_progress, cancel):
        from installer.install import InstallError

        on_progress(Progress("packages", "Downloaded 1 of 2 large packages", 0, 55, 10, 20))
        on_progress(Progress("packages", "Installed 55 of 55 packages", 55, 55))
        if self.error:
            raise InstallError(self.error)
        return "the environment"


@pytest.mark.parametrize("error", [None, "could not install the packages: no network"])
def test_setup_window_install_succeeds_or_says_why_not(qtbot, tmp_path, no_gpu_path, error):
    from installer.window import SetupWindow

    real = launcher_module.Launcher(*launcher_module.parse_args(["--home", str(tmp_path)]))
    window = SetupWindow(ScriptedLauncher(real, error), make_plan(real.home, "cpu"))
    qtbot.addWidget(window)
    window.show()
    if error is None:
        with qtbot.waitSignal(window.accepted, timeout=10000):
            window.install_button.click()
        assert window.env == "the environment"
        return
    window.install_button.click()
    qtbot.waitUntil(lambda: window.install_button.isEnabled(), timeout=10000)
    assert window.env is None and window.isVisible()
    assert error in window.status_label.text()
    assert "previous installation, if any, is unchanged" in window.status_label.text()
    assert window.install_button.text() == "Try again" and window.backend_combo.isEnabled()
