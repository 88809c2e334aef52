"""Making Qt importable for the setup window, and saying clearly when it cannot show.

The built launcher carries PySide6 as qt.zip, unpacked into HOME/launcher/qt-<hash>/ the first
time the window is needed (later starts, which go straight to the app, never pay for it).
The zip is checked against its sha256, and the unpacked folder against each file's sha256, both
recorded when the launcher was built (build_info.json), every time the window is about to
show: a changed or missing file is unpacked again. From source, the installed PySide6 is used
as it is.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from installer.records import file_digest

# What Qt's xcb platform plugin loads from the system, and the Debian/Ubuntu package of each.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
}


def missing_system_libraries() -> list[str]:
    """Debian package names of the X11 libraries Qt needs and cannot load (Linux, X11 only)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or platform.startswith(("offscreen", "wayland",
                                                                      "minimal")):
        return []
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return []
    missing = []
    for library, package in XCB_LIBRARIES.items():
        try:
            ctypes.CDLL(library)
        except OSError:
            missing.append(package)
    return missing


def qt_is_whole(target: Path, files: dict[str, str]) -> bool:
    """Every file of the manifest is in target with its recorded sha256."""
    if not files or not target.is_dir():
        return False

    def matches(item: tuple[str, str]) -> bool:
        path = target / item[0]
        return path.is_file() and file_digest(path).hex() == item[1]

    with ThreadPoolExecutor(max_workers=4) as pool:
        return all(pool.map(matches, files.items()))


def unpack_qt(bundle: Path, home_root: Path, info: dict) -> None:
    """Puts the bundled PySide6 on sys.path, unpacking it when it is not there whole."""
    packed = bundle / info.get("qt", "")
    if not info.get("qt") or not packed.is_file():
        return
    files = info.get("qt_files", {})
    target = home_root / "launcher" / f"qt-{info['qt_sha256'][:16]}"
    if not qt_is_whole(target, files):
        if hashlib.sha256(packed.read_bytes()).hexdigest() != info["qt_sha256"]:
            raise OSError("the bundled Qt is damaged (its sha256 is not the one recorded when "
                          "the launcher was built); download the launcher again")
        partial = target.with_name(target.name + ".part")
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(packed) as archive:
            archive.extractall(partial)
        if not qt_is_whole(partial, files):
            shutil.rmtree(partial, ignore_errors=True)
            raise OSError("the unpacked Qt does not match the files recorded when the launcher "
                          "was built")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    sys.path.insert(0, str(target))
    os.environ["QT_PLUGIN_PATH"] = str(target / "PySide6" / "Qt" / "plugins")


def window_problem(bundle: Path, home_root: Path, info: dict) -> str | None:
    """None when the setup window can show; else why not, in a line that says what to do."""
    missing = missing_system_libraries()
    if missing:
        return ("the setup window needs system libraries that are missing; install them with "
                f"`sudo apt install {' '.join(missing)}` (Debian/Ubuntu names). Continuing here.")
    try:
        unpack_qt(bundle, home_root, info)
        import PySide6.QtWidgets  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"the setup window cannot start ({exc}); continuing here."
    return None
