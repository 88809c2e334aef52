"""Builds the launcher: one executable that sets up and starts AnimateDiff Studio.

    pip install -e ".[build]" && python scripts/build_installer.py --output DIR

It bundles the setup window (PySide6), the uv binary (from the uv wheel), this app as a wheel
and the lock files in installer/locks/. On Linux the result is DIR/AnimateDiffStudio-<version>-
linux-x86_64; the same script makes a .exe on Windows and a .app on macOS (untested there).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import lzma
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from installer.targets import current_platform  # noqa: E402
from installer.targets import project_version as read_version  # noqa: E402

# Never imported by the launcher; keeping them out keeps it small even when they are installed.
EXCLUDES = ["torch", "numpy", "diffusers", "transformers", "PIL", "tkinter", "backend", "gui",
            "main", "pytest", "IPython", "matplotlib", "PySide6", "shiboken6"]


def project_version() -> str:
    return read_version(ROOT / "pyproject.toml")


def executable_name(version: str) -> str:
    return f"AnimateDiffStudio-{version}-{current_platform()}"


def build_app_wheel(out: Path) -> Path:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
               str(ROOT)]
    if importlib.util.find_spec("setuptools"):
        command.insert(4, "--no-build-isolation")  # no download of the build backend
    had = {path for path in ROOT.glob("*.egg-info")} | {p for p in [ROOT / "build"] if p.exists()}
    subprocess.run(command, check=True, cwd=ROOT)
    for leftover in [*ROOT.glob("*.egg-info"), ROOT / "build"]:  # setuptools' litter
        if leftover not in had:
            shutil.rmtree(leftover, ignore_errors=True)
    wheels = sorted(out.glob("animatediff_studio-*.whl"))
    if not wheels:
        raise SystemExit("building the app wheel made no wheel")
    return wheels[-1]


def uv_binary() -> Path:
    try:
        from uv import find_uv_bin
    except ImportError:
        raise SystemExit('the uv wheel is not installed: pip install -e ".[build]"') from None
    return Path(find_uv_bin())


def platform_icon(work: Path) -> Path | None:
    png = ROOT / "resources" / "icon.png"
    if sys.platform == "win32" or sys.platform == "darwin":
        from PIL import Image

        suffix = ".ico" if sys.platform == "win32" else ".icns"
        icon = work / f"icon{suffix}"
        Image.open(png).save(icon)
        return icon
    return None


# The setup window's Qt travels as a zip the launcher unpacks into its data folder the first
# time it shows the window, not in the executable's own archive: a one-file executable unpacks
# that archive on every start, and Qt was three quarters of it (3 s per start on a busy machine).
QT_MODULES = ("QtCore", "QtGui", "QtWidgets", "QtDBus")
QT_PLUGINS_KEPT = ("platforms/libqxcb", "platforms/libqwayland", "platforms/libqoffscreen",
                   "platforms/libqminimal.", "platforms/libqcocoa", "platforms/qwindows",
                   "platforminputcontexts/libcompose", "platforminputcontexts/libibus",
                   "wayland-shell-integration", "xcbglintegrations",
                   "wayland-decoration-client", "wayland-graphics-integration-client", "styles")
QT_SKIPPED_DIRS = ("translations", "qml", "metatypes", "typesystems", "include", "doc", "glue",
                   "scripts", "support", "examples", "libexec", "resources")
# What PySide6's own Python code may import from the standard library; the frozen launcher
# holds only the modules its analysis found, so these are added by name.
QT_STDLIB = ["inspect", "typing", "textwrap", "enum", "functools", "collections",
             "collections.abc", "keyword", "tokenize", "ast", "dis", "types", "weakref", "copy",
             "struct", "zipfile", "importlib", "importlib.util", "importlib.machinery",
             "warnings", "traceback", "pprint", "reprlib", "operator", "contextlib"]


def qt_payload(out: Path) -> Path:
    """Zips PySide6 and shiboken6, only the modules, plugins and libraries the window uses."""
    import PySide6
    import shiboken6

    pyside = Path(PySide6.__file__).parent
    site = pyside.parent
    shiboken = Path(shiboken6.__file__).parent
    chosen: set[Path] = set()
    chosen |= {p for p in pyside.glob("*.py")}
    chosen |= {p for p in shiboken.iterdir() if p.is_file() and p.suffix != ".pyi"}
    for module in QT_MODULES:
        chosen |= {p for p in pyside.glob(f"{module}.*") if p.suffix in (".so", ".pyd")}
    chosen |= {p for p in pyside.glob("libpyside6.*")} | {p for p in pyside.glob("pyside6.*.dll")}
    plugin_dirs = [pyside / "Qt" / "plugins", pyside / "plugins"]
    for folder in plugin_dirs:
        if folder.is_dir():
            chosen |= {p for p in folder.rglob("*") if p.is_file() and any(
                keep in p.relative_to(folder).as_posix() for keep in QT_PLUGINS_KEPT)}
    if sys.platform.startswith("linux"):
        from PyInstaller.depend import bindepend

        for binary in [p for p in chosen if ".so" in p.name]:
            for _, found in bindepend.get_imports(str(binary)):
                if found and Path(found).is_relative_to(site):
                    chosen.add(Path(found))
    else:  # untested platforms: every library, none of the extras
        chosen |= {p for p in pyside.rglob("*") if p.is_file() and not p.suffix == ".pyi"
                   and not (set(p.relative_to(pyside).parts) & set(QT_SKIPPED_DIRS))
                   and "plugins" not in p.relative_to(pyside).parts}
    for conf in pyside.rglob("qt.conf"):
        chosen.add(conf)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(chosen):
            archive.write(path, path.relative_to(site).as_posix())
    return out


SPEC = """# Generated by scripts/build_installer.py; edit that script instead.
import sys

a = Analysis([{entry!r}], pathex=[{root!r}], binaries=[], datas={datas!r},
             hiddenimports={hidden!r}, excludes={excludes!r}, noarchive=False)
pyz = PYZ(a.pure)
if sys.platform == "darwin":
    exe = EXE(pyz, a.scripts, [], exclude_binaries=True, name={name!r}, console=False,
              argv_emulation=True, icon={icon!r}, upx=False)
    coll = COLLECT(exe, a.binaries, a.datas, name={name!r}, upx=False)
    app = BUNDLE(coll, name={name!r} + ".app", icon={icon!r},
                 bundle_identifier="org.animatediff-studio.launcher",
                 info_plist={{"CFBundleDocumentTypes": [{{
                     "CFBundleTypeName": "AnimateDiff Studio project",
                     "CFBundleTypeExtensions": ["adsproj"], "CFBundleTypeRole": "Editor"}}]}})
else:
    exe = EXE(pyz, a.scripts, a.binaries, a.datas, [], name={name!r}, console=True,
              icon={icon!r}, upx=False)
"""


def build(output: Path, keep_work: bool = False) -> Path:
    if importlib.util.find_spec("PyInstaller") is None:
        raise SystemExit('PyInstaller is not installed: pip install -e ".[build]"')
    version = project_version()
    name = executable_name(version)
    output.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ads-build-"))
    try:
        wheel = build_app_wheel(work / "app")
        # uv is needed only to install; packed with xz it unpacks 4x less on every start.
        uv = uv_binary()
        uv_packed = work / "uv" / (uv.name + ".xz")
        uv_packed.parent.mkdir()
        uv_packed.write_bytes(lzma.compress(uv.read_bytes(), preset=6))
        qt = qt_payload(work / "qt.zip")
        with zipfile.ZipFile(qt) as archive:  # each unpacked file is checked against these
            qt_files = {name: hashlib.sha256(archive.read(name)).hexdigest()
                        for name in archive.namelist() if not name.endswith("/")}
        info = {"version": version, "app_wheel": wheel.name, "platform": current_platform(),
                "app_wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
                "uv": uv_packed.name, "uv_sha256": hashlib.sha256(uv.read_bytes()).hexdigest(),
                "qt": qt.name, "qt_sha256": hashlib.sha256(qt.read_bytes()).hexdigest(),
                "qt_files": qt_files,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (work / "build_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        datas = [
            (str(uv_packed), "uv"),
            (str(qt), "."),
            (str(wheel), "app"),
            (str(work / "build_info.json"), "."),
            (str(ROOT / "installer" / "locks"), "installer/locks"),
            (str(ROOT / "resources" / "icon.png"), "resources"),
        ]
        icon = platform_icon(work)
        spec = work / f"{name}.spec"
        spec.write_text(SPEC.format(
            entry=str(ROOT / "installer" / "entry.py"), root=str(ROOT), datas=datas,
            hidden=QT_STDLIB, excludes=EXCLUDES, name=name, icon=str(icon) if icon else None),
            encoding="utf-8")
        command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                   "--distpath", str(output), "--workpath", str(work / "work"), str(spec)]
        subprocess.run(command, check=True, cwd=work)
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    suffix = {"win32": ".exe", "darwin": ".app"}.get(sys.platform, "")
    return output / f"{name}{suffix}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "dist",
                        help="the folder the executable goes to (default: dist/)")
    parser.add_argument("--keep-work", action="store_true", help="keep PyInstaller's work folder")
    args = parser.parse_args()
    start = time.perf_counter()
    try:
        path = build(args.output, args.keep_work)
    except subprocess.CalledProcessError as exc:
        print(f"build_installer: {exc}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in path.rglob("*")) if path.is_dir() else path.stat().st_size
    print(f"{path} ({size / 1024 / 1024:.1f} MB, built in {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
