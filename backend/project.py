"""Project files (.adsproj): every take with the exact request that made it.

Format: a zip archive holding `manifest.json` (versioned: the project's name, its takes and the
UI state) and each take's frames as lossless PNGs under `takes/<take id>/frame_00000.png`.
Why a zip rather than SQLite: one ordinary file that any unzip tool can inspect, frames
compressed losslessly by PNG, random access so frames load lazily per take, and saving is a
plain "write a new file beside it, then rename", which a crash or a kill cannot half-do.

Safety: a project is read, never extracted: members are looked up by the names the manifest
implies, so a hostile archive cannot write anywhere (no zip-slip) and nothing in it runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from backend.errors import InputError
from backend.request import GenerationRequest

SUFFIX = ".adsproj"
FORMAT = "animatediff-studio/project"
SCHEMA_VERSION = 2
MANIFEST = "manifest.json"
FRAME_NAME = "frame_{:05d}.png"
_TAKE_ID = re.compile(r"^[0-9a-f]{32}$")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Take:
    id: str
    request: GenerationRequest
    frame_count: int
    size: tuple[int, int]  # width, height
    name: str = ""
    created: str = field(default_factory=_now)
    duration: float = 0.0
    device: str = ""
    notes: str = ""
    favourite: bool = False
    _frames: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "request": self.request.to_dict(),
            "frame_count": self.frame_count,
            "size": list(self.size),
            "created": self.created,
            "duration": self.duration,
            "device": self.device,
            "notes": self.notes,
            "favourite": self.favourite,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Take:
        take_id = str(data.get("id", ""))
        if not _TAKE_ID.match(take_id):
            raise InputError(f"project: a take has an invalid id {take_id!r}")
        size = data.get("size") or [0, 0]
        return cls(
            id=take_id,
            name=str(data.get("name", "")),
            request=GenerationRequest.from_dict(data["request"]),
            frame_count=int(data["frame_count"]),
            size=(int(size[0]), int(size[1])),
            created=str(data.get("created", "")),
            duration=float(data.get("duration", 0.0)),
            device=str(data.get("device", "")),
            notes=str(data.get("notes", "")),
            favourite=bool(data.get("favourite", False)),
        )


# schema_version N -> N + 1, in order from the first version on.
def _upgrade_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no notes, favourite marks, take names or UI state."""
    data = dict(data)
    takes = []
    for number, take in enumerate(data.get("takes", []), start=1):
        take = dict(take)
        take.setdefault("name", f"Take {number}")
        take.setdefault("notes", "")
        take.setdefault("favourite", False)
        takes.append(take)
    data["takes"] = takes
    data.setdefault("ui_state", {})
    data["schema_version"] = 2
    return data


_UPGRADES = {1: _upgrade_1_to_2}


def upgrade_manifest(data: dict[str, Any]) -> dict[str, Any]:
    version = data.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise InputError(f"project: the manifest has an invalid schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise InputError(
            f"this project was saved by a newer AnimateDiff Studio (project format {version}, this "
            f"one reads up to {SCHEMA_VERSION}); update the program to open it"
        )
    for step in range(version, SCHEMA_VERSION):
        data = _UPGRADES[step](data)
    return data


class Project:
    def __init__(self, name: str = "Untitled", path: Path | None = None) -> None:
        self.name = name
        self.path = path
        self.takes: list[Take] = []
        self.ui_state: dict[str, Any] = {}
        self.dirty = False

    # -- takes ----------------------------------------------------------------------------

    def add_take(self, frames: np.ndarray, request: GenerationRequest, duration: float = 0.0,
                 device: str = "", name: str = "") -> Take:
        frames = np.ascontiguousarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise InputError(f"a take needs uint8 frames [F, H, W, 3], got {frames.shape} {frames.dtype}")
        take = Take(
            id=uuid.uuid4().hex,
            request=request,
            frame_count=int(frames.shape[0]),
            size=(int(frames.shape[2]), int(frames.shape[1])),
            name=name or f"Take {len(self.takes) + 1}",
            duration=duration,
            device=device,
            _frames=frames,
        )
        self.takes.append(take)
        self.dirty = True
        return take

    def take(self, number_or_id: int | str) -> Take:
        """A take by 1-based number (negative counts from the end) or by id."""
        if isinstance(number_or_id, str):
            for take in self.takes:
                if take.id == number_or_id:
                    return take
            raise InputError(f"project has no take with id {number_or_id!r}")
        if not self.takes:
            raise InputError(f"project {self.name!r} has no takes yet")
        count = len(self.takes)
        index = number_or_id - 1 if number_or_id > 0 else count + number_or_id
        if not 0 <= index < count:
            raise InputError(f"take {number_or_id}: the project has takes 1 to {count}")
        return self.takes[index]

    def remove_take(self, take_id: str) -> Take:
        take = self.take(take_id)
        self.takes.remove(take)
        self.dirty = True
        return take

    def restore_take(self, take: Take, index: int) -> None:
        """Put a removed take back (undo)."""
        self.takes.insert(max(0, min(index, len(self.takes))), take)
        self.dirty = True

    def frames(self, take: Take) -> np.ndarray:
        """The take's frames, read from the project file the first time they are asked for."""
        if take._frames is None:
            if self.path is None:
                raise InputError(f"take {take.name!r} has no frames")
            take._frames = _read_take_frames(self.path, take)
        return take._frames

    # -- files ----------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "saved": _now(),
            "takes": [take.to_dict() for take in self.takes],
            "ui_state": self.ui_state,
        }

    def thumbnail(self, take: Take) -> np.ndarray:
        """The take's first frame, without loading the rest."""
        if take._frames is not None:
            return take._frames[0]
        if self.path is None:
            raise InputError(f"take {take.name!r} has no frames")
        from PIL import Image

        with zipfile.ZipFile(self.path) as archive, Image.open(io.BytesIO(archive.read(_frame_names(take)[0]))) as image:
            return np.asarray(image.convert("RGB"))

    def save_copy(self, path: str | os.PathLike) -> Path:
        """Write the project to `path` (an autosave or recovery copy) without making it the
        project's file or marking the project saved."""
        keep = (self.path, self.name, self.dirty)
        try:
            return self.save(path)
        finally:
            self.path, self.name, self.dirty = keep

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the project atomically: a complete new file beside the target, flushed to disk,
        then renamed over it. Frames already in the old file are copied as stored bytes."""
        target = Path(os.path.expanduser(str(path))) if path is not None else self.path
        if target is None:
            raise InputError("project has no file yet: give a path to save it to")
        if target.suffix.lower() != SUFFIX:
            target = target.with_name(target.name + SUFFIX)
        if not target.parent.is_dir():
            raise InputError(f"project {str(target)!r}: the folder {str(target.parent)!r} does not exist")
        old = self.path if self.path is not None and self.path.is_file() else None
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
                    archive.writestr(MANIFEST, json.dumps(self.manifest(), indent=1))
                    source = zipfile.ZipFile(old) if old is not None else None
                    try:
                        for take in self.takes:
                            _write_take(archive, take, source)
                    finally:
                        if source is not None:
                            source.close()
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self.path = target
        if not self.name or self.name == "Untitled":
            self.name = target.stem
        self.dirty = False
        return target

    @classmethod
    def open(cls, path: str | os.PathLike) -> Project:
        """Read the manifest (frames load lazily). A corrupt, truncated, hostile or newer file
        raises InputError with what is wrong, and is left untouched."""
        path = Path(os.path.expanduser(str(path)))
        if not path.is_file():
            raise InputError(f"project {str(path)!r}: no such file")
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                for name in names:
                    if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
                        raise InputError(f"project {str(path)!r} contains an unsafe path {name!r} and was not opened")
                if MANIFEST not in names:
                    raise InputError(f"{str(path)!r} is not an AnimateDiff Studio project (no manifest)")
                data = json.loads(archive.read(MANIFEST).decode("utf-8"))
                if not isinstance(data, dict) or data.get("format") != FORMAT:
                    raise InputError(f"{str(path)!r} is not an AnimateDiff Studio project")
                data = upgrade_manifest(data)
                project = cls(str(data.get("name") or path.stem), path)
                project.ui_state = data.get("ui_state") or {}
                project.takes = [Take.from_dict(item) for item in data.get("takes", [])]
                for take in project.takes:
                    missing = [n for n in _frame_names(take) if n not in names]
                    if missing:
                        raise InputError(f"project {str(path)!r} is damaged: take {take.name!r} is missing {len(missing)} frames")
        except zipfile.BadZipFile:
            raise InputError(f"project {str(path)!r} is damaged or truncated (not a readable zip archive); it was left as it is") from None
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"project {str(path)!r} has a damaged manifest ({exc}); it was left as it is") from None
        return project


def _frame_names(take: Take) -> list[str]:
    return [f"takes/{take.id}/{FRAME_NAME.format(i)}" for i in range(take.frame_count)]


def _write_take(archive: zipfile.ZipFile, take: Take, source: zipfile.ZipFile | None) -> None:
    from PIL import Image

    names = _frame_names(take)
    if source is not None and names and names[0] in source.NameToInfo:
        for name in names:
            info = source.getinfo(name)
            with source.open(info) as member:
                archive.writestr(info, member.read())
        return
    if take._frames is None:
        raise InputError(f"take {take.name!r} has no frames to save")
    for name, frame in zip(names, take._frames, strict=True):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="PNG", compress_level=1)
        archive.writestr(name, buffer.getvalue())


def _read_take_frames(path: Path, take: Take) -> np.ndarray:
    from PIL import Image

    try:
        with zipfile.ZipFile(path) as archive:
            frames = []
            for name in _frame_names(take):
                with Image.open(io.BytesIO(archive.read(name))) as image:
                    frames.append(np.asarray(image.convert("RGB")))
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise InputError(f"project {str(path)!r}: the frames of take {take.name!r} cannot be read ({exc})") from None
    return np.stack(frames)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def append_take(path: str | os.PathLike, frames: np.ndarray, request: GenerationRequest,
                duration: float = 0.0, device: str = "") -> tuple[Project, Take]:
    """Add a take to the project at `path`, creating the project if the file does not exist."""
    path = Path(os.path.expanduser(str(path)))
    if path.suffix.lower() != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    project = Project.open(path) if path.exists() else Project(path.stem, None)
    take = project.add_take(frames, request, duration, device)
    project.save(path)
    return project, take
