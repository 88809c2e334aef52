"""The generation settings carried inside exported files.

The same versioned request dict that projects store is embedded where a format allows it (a PNG
text chunk as the Stable Diffusion web UIs do, the MP4/WebM comment tag, the GIF comment, WebP
XMP) and optionally written as a sidecar `<file>.json`, so any export can be re-run exactly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from backend.core.errors import InputError

FORMAT = "animatediff-studio/metadata"
VERSION = 1
PNG_KEY = "animatediff-studio"
SOFTWARE = "AnimateDiff Studio"
FOLDER_SIDECAR = "animatediff-studio.json"


def build_metadata(request_dict: dict[str, Any], **extra: Any) -> dict[str, Any]:
    from backend import __version__

    return {
        "format": FORMAT,
        "version": VERSION,
        "software": f"{SOFTWARE} {__version__}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "request": request_dict,
        **extra,
    }


def input_records(request) -> dict[str, Any]:
    """The input files a request starts from (the start image), each with its sha256 (the one
    the job recorded, else the file's now), so a re-run can tell whether the same image is
    still there."""
    import hashlib

    records: dict[str, Any] = {}
    if getattr(request, "start_image", None):
        digest = request.start_image_sha256
        if digest is None and Path(request.start_image).is_file():
            digest = hashlib.sha256(Path(request.start_image).read_bytes()).hexdigest()
        records["start_image"] = {"path": request.start_image, "sha256": digest}
    return records


def exported_range(metadata: dict[str, Any], frames: int) -> tuple[int, int] | None:
    """The frames an export held, as [start, end) of the clip's `frames`, when it held only some
    of them (the window's in/out points); None for the whole clip. A range that does not fit
    the clip is an InputError, not silently ignored."""
    found = metadata.get("frame_range")
    if found is None:
        return None
    if (not isinstance(found, list) or len(found) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in found)
            or not 0 <= found[0] < found[1] <= frames):
        raise InputError(f"the settings' frame_range {found!r} is not a range of the clip's "
                         f"{frames} frames")
    return None if (found[0], found[1]) == (0, frames) else (found[0], found[1])


def to_text(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, separators=(",", ":"), ensure_ascii=True)


def webui_parameters(request: dict[str, Any]) -> str:
    """The settings in the AUTOMATIC1111 'parameters' text layout, which many tools read. The keys
    are the declared settings' `webui` names; settings sharing a key (width and height: Size)
    join with "x"."""
    from backend.core.request import SETTINGS

    lines = [request.get("prompt", "")]
    if request.get("negative_prompt"):
        lines.append(f"Negative prompt: {request['negative_prompt']}")
    values: dict[str, list[Any]] = {}
    for setting in SETTINGS.values():
        if setting.webui:
            owner = (request.get("model") or {}) if setting.path.startswith("model.") else request
            values.setdefault(setting.webui, []).append(owner.get(setting.name))
    # Readers find this line by its leading "Steps:", as the web UI writes it.
    keys = sorted(values, key=lambda key: key != "Steps")
    fields = [(key, "x".join(map(str, values[key]))) for key in keys if None not in values[key]]
    lines.append(", ".join(f"{k}: {v}" for k, v in fields))
    return "\n".join(lines)


def sidecar_path(path: Path) -> Path:
    return path / FOLDER_SIDECAR if path.is_dir() else Path(f"{path}.json")


def xmp_packet(text: str) -> bytes:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:ads="https://github.com/animatediff-studio/ns/1.0/">'
        f"<ads:metadata>{escaped}</ads:metadata>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def _from_xmp(data: bytes | str) -> str | None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    match = re.search(r"<ads:metadata>(.*?)</ads:metadata>", text, re.S)
    if not match:
        return None
    return match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _ffmpeg_comment(path: Path) -> str | None:
    from backend.media.ffmpeg import PROBE_TIMEOUT, ffmpeg_exe, file_arg

    command = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", file_arg(path),
               "-f", "ffmetadata", "-"]
    try:
        result = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None  # no comment to read: the caller says the file holds no settings
    if result.returncode != 0:
        return None
    text = result.stdout.decode("utf-8", "replace")
    # ffmetadata escapes '=', ';', '#', '\\' and newlines with a backslash.
    for line in re.split(r"(?<!\\)\n", text):
        if line.lower().startswith("comment="):
            return re.sub(r"\\(.)", r"\1", line[len("comment="):], flags=re.S)
    return None


def _embedded_text(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if path.is_dir():
        frames = sorted(path.glob("*.png"))
        return _embedded_text(frames[0]) if frames else None
    if suffix in (".png", ".gif", ".webp"):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                info = dict(image.info)
                if suffix == ".png":
                    return getattr(image, "text", {}).get(PNG_KEY) or info.get(PNG_KEY)
                if suffix == ".gif":
                    comment = info.get("comment")
                    return comment.decode("utf-8", "replace") if isinstance(comment, bytes) else comment
                xmp = info.get("xmp")
                return _from_xmp(xmp) if xmp else None
        except (UnidentifiedImageError, OSError):
            return None
    return _ffmpeg_comment(path)


def read_metadata(source: str | os.PathLike) -> dict[str, Any]:
    """The metadata dict in (or beside) an exported file or frame folder."""
    path = Path(os.path.expanduser(str(source)))
    if not path.exists():
        raise InputError(f"--from-metadata {str(source)!r}: no such file or folder")
    candidates = []
    if path.suffix.lower() == ".json" and path.is_file():
        candidates.append(path.read_text(encoding="utf-8", errors="replace"))
    else:
        embedded = _embedded_text(path)
        if embedded:
            candidates.append(embedded)
        sidecar = sidecar_path(path)
        if sidecar.is_file():
            candidates.append(sidecar.read_text(encoding="utf-8", errors="replace"))
    for text in candidates:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            continue  # not JSON, nested past Python's limit, or a number thousands of digits long
        if isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("request"), dict):
            version = data.get("version", VERSION)
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise InputError(f"{str(source)!r}: the settings have an invalid version {version!r}")
            if version > VERSION:
                raise InputError(
                    f"{str(source)!r}: the settings were written by a newer AnimateDiff Studio "
                    f"(metadata version {version}, this one reads up to {VERSION}); update the program"
                )
            return data
        if isinstance(data, dict) and data.get("format") == "animatediff-studio/generation-request":
            return {"format": FORMAT, "version": VERSION, "request": data}
    raise InputError(
        f"{str(source)!r} holds no AnimateDiff Studio settings (it was not made by this program, "
        "or its metadata was stripped; a sidecar .json works too)"
    )
