"""Linux desktop integration, on request: an applications-menu entry with the app's icon, and
.adsproj files opened by the app (a MIME type the entry declares)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

DESKTOP_ID = "animatediff-studio"
MIME_TYPE = "application/x-animatediff-studio-project"


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def desktop_files() -> list[Path]:
    base = data_home()
    return [
        base / "applications" / f"{DESKTOP_ID}.desktop",
        base / "icons" / "hicolor" / "256x256" / "apps" / f"{DESKTOP_ID}.png",
        base / "mime" / "packages" / f"{DESKTOP_ID}.xml",
    ]


def icon_source() -> Path:
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[1]))
    return base / "resources" / "icon.png"


def install_desktop_entry(command: list[str]) -> list[Path]:
    if not sys.platform.startswith("linux"):
        raise ValueError("--desktop-entry is for Linux; on Windows and macOS pin the launcher "
                         "to the taskbar or Dock")
    entry, icon, mime = desktop_files()
    for path in (entry, icon, mime):
        path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(icon_source(), icon)
    exec_line = " ".join(shlex.quote(part) for part in command) + " -- %f"
    entry.write_text(
        "[Desktop Entry]\nType=Application\nName=AnimateDiff Studio\n"
        "Comment=Make short animations with AnimateDiff\n"
        f"Exec={exec_line}\nIcon={DESKTOP_ID}\nTerminal=false\n"
        f"Categories=Graphics;Video;\nMimeType={MIME_TYPE};\n",
        encoding="utf-8",
    )
    mime.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">\n'
        f'  <mime-type type="{MIME_TYPE}">\n'
        "    <comment>AnimateDiff Studio project</comment>\n"
        f'    <glob pattern="*.adsproj"/>\n    <icon name="{DESKTOP_ID}"/>\n'
        "  </mime-type>\n</mime-info>\n",
        encoding="utf-8",
    )
    # The desktop's caches pick the new files up; both tools are optional.
    for tool, folder in (("update-mime-database", mime.parents[1]),
                         ("update-desktop-database", entry.parent)):
        if shutil.which(tool):
            subprocess.run([tool, str(folder)], capture_output=True, check=False)
    return [entry, icon, mime]
