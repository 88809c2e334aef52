"""Is an environment whole: RECORD checks, the resume that reinstalls what they find, the one
rebuild when a resumed environment still fails, rollback's check, and the sha256 checks of the
bundled uv and the unpacked Qt. Fast, from source, on small made-up packages."""

from __future__ import annotations

import base64
import hashlib
import json
import lzma
import sys
import zipfile
from pathlib import Path

import pytest

from installer import launcher as launcher_module
from installer.home import Env, Home
from installer.install import CheckFailed, Installer, Sources
from installer.launcher import main
from installer.plan import UsageError
from installer.qt_runtime import unpack_qt
from installer.records import damaged_packages
from installer.targets import TARGETS, load_lock

ROOT = Path(__file__).resolve().parents[2]


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_package(site: Path, name: str, files: dict[str, bytes]) -> Path:
    """A package as an installer leaves it: its files and a dist-info whose RECORD lists them."""
    dist_info = site / f"{name}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Name: {name}\nVersion: 1.0\n")
    rows = [f"{dist_info.name}/METADATA,{record_hash((dist_info / 'METADATA').read_bytes())},"
            f"{(dist_info / 'METADATA').stat().st_size}"]
    for relative, data in files.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        rows.append(f"{relative},{record_hash(data)},{len(data)}")
    rows.append(f"{dist_info.name}/RECORD,,")
    (dist_info / "RECORD").write_text("\n".join(rows) + "\n")
    return dist_info


@pytest.fixture
def env_path(tmp_path) -> Path:
    site = tmp_path / "env" / "lib" / "python3.11" / "site-packages"
    make_package(site, "big", {"big/__init__.py": b"x = 1\n", "big/data.bin": b"\0" * 5000,
                               "big/sub/more.py": b"y = 2\n"})
    make_package(site, "small", {"small.py": b"z = 3\n"})
    return tmp_path / "env"


@pytest.mark.skipif(sys.platform == "win32", reason="the Linux layout")
def test_a_whole_environment_has_no_damage(env_path):
    assert damaged_packages(env_path) == []
    assert damaged_packages(env_path, hashes=False) == []


@pytest.mark.skipif(sys.platform == "win32", reason="the Linux layout")
def test_missing_cut_and_changed_files_are_found(env_path):
    site = env_path / "lib" / "python3.11" / "site-packages"
    (site / "big" / "sub" / "more.py").unlink()  # a kill before uv linked it
    [damaged] = damaged_packages(env_path, hashes=False)
    assert damaged.name == "big" and damaged.problems == ["big/sub/more.py: missing"]
    (site / "big" / "data.bin").write_bytes(b"\0" * 100)  # a copy cut short
    assert "big/data.bin: 100 bytes, RECORD says 5000" in damaged_packages(env_path)[0].problems
    (site / "small.py").write_bytes(b"z = 4\n")  # same size, other bytes: only the hash sees it
    assert [d.name for d in damaged_packages(env_path, hashes=False)] == ["big"]
    assert [d.name for d in damaged_packages(env_path)] == ["big", "small"]
    assert "small.py: sha256 differs from RECORD" in damaged_packages(env_path)[1].line()


@pytest.mark.skipif(sys.platform == "win32", reason="the Linux layout")
def test_a_dist_info_without_record_or_metadata_is_damage(env_path):
    site = env_path / "lib" / "python3.11" / "site-packages"
    (site / "small-1.0.dist-info" / "RECORD").unlink()
    (site / "big-1.0.dist-info" / "METADATA").unlink()
    found = {d.name: d.problems for d in damaged_packages(env_path)}
    assert found == {"big": ["no METADATA"], "small": ["no RECORD"]}


class ScriptedInstaller(Installer):
    """The real build() logic around prepare and fill steps that only record and fail."""

    def __init__(self, tmp_path: Path, failures: int) -> None:
        lock = load_lock(ROOT / "installer" / "locks", TARGETS[0])
        wheel = tmp_path / "app.whl"
        wheel.write_bytes(b"wheel")
        self.messages: list[str] = []
        super().__init__(Home(tmp_path / "home"), lock, wheel, "uv", "0.1.0", Sources(),
                         on_progress=lambda p: self.messages.append(p.message))
        self.failures, self.calls = failures, []

    def prepare(self, name, fresh=False):
        self.calls.append(("prepare", fresh))
        path = self.home.envs / name
        path.mkdir(parents=True, exist_ok=True)
        return Env(path, {}), not fresh  # resumed unless fresh

    def fill(self, env, resumed):
        self.calls.append(("fill", resumed))
        if self.failures:
            self.failures -= 1
            raise CheckFailed("the new environment failed its check: ModuleNotFoundError")


def test_a_resumed_environment_that_fails_its_check_is_built_again_once(tmp_path):
    installer = ScriptedInstaller(tmp_path, failures=1)
    env = installer.build("0.1.0-cpu-1")
    assert env.info["verified"]
    assert installer.calls == [("prepare", False), ("fill", True), ("prepare", True),
                               ("fill", False)]
    assert any("discarding it and building it again from scratch" in m
               for m in installer.messages)


def test_a_rebuilt_environment_that_fails_again_fails_with_the_message(tmp_path):
    installer = ScriptedInstaller(tmp_path, failures=2)
    with pytest.raises(CheckFailed, match="ModuleNotFoundError"):
        installer.build("0.1.0-cpu-1")
    assert [c for c in installer.calls if c[0] == "prepare"] == [("prepare", False),
                                                                 ("prepare", True)]


@pytest.mark.skipif(sys.platform == "win32", reason="symlinked python")
def test_rollback_refuses_a_previous_environment_with_missing_files(tmp_path, capsys):
    home = Home(tmp_path / "home")
    for name in ("0.2.0-cpu-1", "0.1.0-cpu-1"):
        env = home.envs / name
        (env / "bin").mkdir(parents=True)
        (env / "bin" / "python").symlink_to(sys.executable)
        (env / "ads-env.json").write_text(json.dumps({"version": name[:5], "verified": True}))
        make_package(env / "lib" / "python3.11" / "site-packages", "torch",
                     {"torch/__init__.py": b"", "torchgen/__init__.py": b""})
    home.set_state(current="0.2.0-cpu-1", previous="0.1.0-cpu-1")
    site = home.envs / "0.1.0-cpu-1" / "lib" / "python3.11" / "site-packages"
    (site / "torchgen" / "__init__.py").unlink()
    assert main(["--rollback", "--no-launch", "--home", str(home.root)]) == 1
    out = capsys.readouterr().out
    assert "the previous environment 0.1.0-cpu-1 is incomplete: torch 1.0: " \
           "torchgen/__init__.py: missing" in out
    assert home.state()["current"] == "0.2.0-cpu-1"


def packed_uv(tmp_path: Path, monkeypatch, data: bytes, recorded: bytes) -> dict:
    (tmp_path / "bundle" / "uv").mkdir(parents=True)
    (tmp_path / "bundle" / "uv" / "uv.xz").write_bytes(lzma.compress(data))
    monkeypatch.setattr(launcher_module, "bundle_dir", lambda: tmp_path / "bundle")
    return {"uv": "uv.xz", "uv_sha256": hashlib.sha256(recorded).hexdigest()}


def test_the_bundled_uv_is_checked_by_its_sha256(tmp_path, monkeypatch):
    info = packed_uv(tmp_path, monkeypatch, b"uv binary", b"uv binary")
    home = Home(tmp_path / "home")
    path = Path(launcher_module.uv_path(home, info))
    assert path.read_bytes() == b"uv binary"
    path.write_bytes(b"changed on disk")  # the unpacked copy is checked before each use
    assert Path(launcher_module.uv_path(home, info)).read_bytes() == b"uv binary"


def test_a_bundled_uv_with_another_sha256_is_refused(tmp_path, monkeypatch):
    info = packed_uv(tmp_path, monkeypatch, b"not the uv that was built", b"uv binary")
    with pytest.raises(UsageError, match="the bundled uv is damaged"):
        launcher_module.uv_path(Home(tmp_path / "home"), info)
    assert not list((tmp_path / "home").rglob("uv"))


def qt_bundle(tmp_path: Path) -> dict:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    files = {"PySide6/__init__.py": b"# qt\n", "PySide6/Qt/lib/libQt6Core.so.6": b"\1" * 999}
    with zipfile.ZipFile(bundle / "qt.zip", "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return {"qt": "qt.zip", "qt_sha256": hashlib.sha256((bundle / "qt.zip").read_bytes())
            .hexdigest(), "qt_files": {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}}


def test_the_unpacked_qt_is_checked_file_by_file(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("QT_PLUGIN_PATH", "")
    info = qt_bundle(tmp_path)
    unpack_qt(tmp_path / "bundle", tmp_path / "home", info)
    [target] = (tmp_path / "home" / "launcher").glob("qt-*")
    library = target / "PySide6" / "Qt" / "lib" / "libQt6Core.so.6"
    library.write_bytes(b"\2" * 999)  # same size, other bytes; a marker file would not tell
    unpack_qt(tmp_path / "bundle", tmp_path / "home", info)
    assert library.read_bytes() == b"\1" * 999


def test_a_bundled_qt_with_another_sha256_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("QT_PLUGIN_PATH", "")
    info = dict(qt_bundle(tmp_path), qt_sha256="0" * 64)
    with pytest.raises(OSError, match="the bundled Qt is damaged"):
        unpack_qt(tmp_path / "bundle", tmp_path / "home", info)
