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

import io
import json
import math
import os
import re
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.core.atomic import atomic_path
from backend.core.errors import InputError
from backend.core.request import FRAMES_RANGE, GenerationRequest
from backend.project.take_inputs import (
    check_inputs,
    checked_png,
    png_bytes_limit,
    read_inputs,
    rerun_request,
    shapes,
    write_inputs,
    write_pngs,
)

if TYPE_CHECKING:
    import numpy as np  # imported where frames are handled: the window shows before numpy loads

SUFFIX = ".adsproj"
FORMAT = "animatediff-studio/project"
SCHEMA_VERSION = 2
MANIFEST = "manifest.json"
FRAME_NAME = "frame_{:05d}.png"
_TAKE_ID = re.compile(r"^[0-9a-f]{32}$")
# Limits a manifest is checked against before anything is allocated from it.
MAX_TAKES = 10_000
MAX_SIDE = 8192
MAX_MANIFEST_BYTES = 64 * 2**20
MAX_TAKE_BYTES = 8 * 2**30  # one take's frames in memory (1024 frames at 1536x1536)
KEEP_LOADED = 4  # takes whose frames stay in memory while browsing (besides unsaved ones)


def _now() -> str:
    from datetime import datetime, timezone  # here, as uuid in add_take: not at the window's start

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
    # Guidance inputs kept with the take (backend/take_inputs.py): name -> [frames, w, h].
    inputs: dict[str, list[int]] = field(default_factory=dict)
    family: str = ""  # the model family that made it (backend/families); "" before families
    # A finished take (interpolated, upscaled) names the take it was made from and its steps.
    parent: str = ""
    finishing: tuple[dict[str, Any], ...] = ()
    _frames: np.ndarray | None = field(default=None, repr=False, compare=False)
    _inputs: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)
    # A project file that holds this take's frames as PNGs (None: only in memory so far).
    _store: Path | None = field(default=None, repr=False, compare=False)

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
            **({"inputs": self.inputs} if self.inputs else {}),
            **({"family": self.family} if self.family else {}),
            **({"parent": self.parent, "finishing": list(self.finishing)} if self.parent else {}),
        }

    @property
    def fps(self) -> float:
        """The rate it plays at: its request's, times each interpolation's factor."""
        rate = float(self.request.fps)
        for step in self.finishing:
            if step.get("step") == "interpolate":
                rate *= int(step.get("factor", 1))
        return rate

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Take:
        """A take from the manifest, every field checked for its type and range first."""
        if not isinstance(data, dict):
            raise InputError(f"a take must be a JSON object, got {type(data).__name__}")
        take_id = data.get("id", "")
        if not isinstance(take_id, str) or not _TAKE_ID.match(take_id):
            raise InputError(f"a take has an invalid id {str(take_id)[:40]!r}")
        name = _typed(data, "name", str, "", take_id)
        count = data.get("frame_count")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= FRAMES_RANGE[1]:
            raise InputError(f"take {name!r}: frame_count must be from 1 to {FRAMES_RANGE[1]}, got {count!r}")
        size = data.get("size")
        if (not isinstance(size, list) or len(size) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_SIDE for v in size)):
            raise InputError(f"take {name!r}: size must be [width, height] from 1 to {MAX_SIDE}, got {size!r}")
        if count * size[0] * size[1] * 3 > MAX_TAKE_BYTES:
            raise InputError(f"take {name!r}: {count} frames of {size[0]}x{size[1]} are more than "
                             f"{MAX_TAKE_BYTES // 2**30} GiB")
        duration = data.get("duration", 0.0)
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration):
            raise InputError(f"take {name!r}: duration must be a number of seconds, got {duration!r}")
        if "request" not in data:
            raise InputError(f"take {name!r} has no generation settings")
        try:
            request = GenerationRequest.from_dict(data["request"])
        except InputError as exc:
            raise InputError(f"take {name!r}: {exc}") from None
        return cls(
            id=take_id,
            name=name,
            request=request,
            frame_count=count,
            size=(size[0], size[1]),
            created=_typed(data, "created", str, "", name),
            duration=float(duration),
            device=_typed(data, "device", str, "", name),
            notes=_typed(data, "notes", str, "", name),
            favourite=_typed(data, "favourite", bool, False, name),
            inputs=check_inputs(data.get("inputs"), MAX_SIDE, name),
            family=_typed(data, "family", str, "", name)[:40],
            parent=_typed(data, "parent", str, "", name),
            finishing=tuple(step for step in _typed(data, "finishing", list, [], name)
                            if isinstance(step, dict)),
        )


def _typed(data: dict[str, Any], key: str, kind: type, default: Any, take: str) -> Any:
    value = data.get(key, default)
    if not isinstance(value, kind):
        raise InputError(f"take {take!r}: {key} must be {kind.__name__}, got {type(value).__name__}")
    return value


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
    """A project's takes and UI state.

    `dirty` means "not yet saved to the project's own file"; `revision` counts every change, so
    an autosave can tell whether anything changed since the last one. Frames are held in memory
    only for takes not yet written to any file and for the few looked at last (`KEEP_LOADED`);
    the rest are read back from the file that stores them when asked for.
    """

    def __init__(self, name: str = "Untitled", path: Path | None = None) -> None:
        self.name = name
        self.path = path
        self.takes: list[Take] = []
        self.ui_state: dict[str, Any] = {}
        self.dirty = False
        self.revision = 0
        self._loaded: OrderedDict[str, Take] = OrderedDict()

    def touch(self) -> None:
        """Record a change (a take added, removed, renamed, marked, annotated)."""
        self.dirty = True
        self.revision += 1

    # -- takes ----------------------------------------------------------------------------

    def add_take(self, frames: np.ndarray, request: GenerationRequest, duration: float = 0.0,
                 device: str = "", name: str = "",
                 inputs: dict[str, np.ndarray] | None = None, family: str = "") -> Take:
        """A new take; `inputs` are the guidance inputs and start image to keep with it, and
        `family` the model family that made it (GenerationResult's)."""
        import uuid

        import numpy as np

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
            inputs=shapes(inputs or {}),
            family=family,
            _frames=frames,
            _inputs=dict(inputs or {}),
        )
        self.takes.append(take)
        self.touch()
        return take

    def add_finished_take(self, parent: Take, frames: np.ndarray,
                          steps: list[dict[str, Any]]) -> Take:
        """A new take made from `parent` by finishing steps; the parent stays as it is."""
        # Its own request object (equal to the parent's): the window tells takes apart by it.
        take = self.add_take(frames, parent.request.replace(), parent.duration, parent.device,
                             name=f"{parent.name} finished")
        take.parent = parent.id
        take.finishing = (*parent.finishing, *steps)
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
        """Remove a take, its frames kept in memory so that `restore_take` can bring it back
        even after the file holding them was rewritten."""
        take = self.take(take_id)
        self.frames(take)
        self._loaded.pop(take.id, None)
        self.takes.remove(take)
        self.touch()
        return take

    def restore_take(self, take: Take, index: int) -> None:
        """Put a removed take back (undo)."""
        self.takes.insert(max(0, min(index, len(self.takes))), take)
        self.touch()

    def frames(self, take: Take) -> np.ndarray:
        """The take's frames, read from the file that stores them if they are not in memory.
        Loaded takes beyond the last `KEEP_LOADED` are released again (they stay in the file)."""
        if take._frames is None:
            if take._store is None:
                raise InputError(f"take {take.name!r} has no frames")
            take._frames = _read_take_frames(take._store, take)
        if take._store is not None:
            self._loaded[take.id] = take
            self._loaded.move_to_end(take.id)
            while len(self._loaded) > KEEP_LOADED:
                _, old = self._loaded.popitem(last=False)
                if old._store is not None:
                    old._frames = None
        return take._frames

    def take_inputs(self, take: Take) -> dict[str, np.ndarray]:
        """The guidance inputs stored with the take (empty when it has none)."""
        if take._inputs is not None:
            return take._inputs
        if not take.inputs:
            return {}
        if take._store is None:
            raise InputError(f"take {take.name!r} has no stored inputs")
        return read_inputs(take._store, take.id, take.inputs)

    def rerun_request(self, take: Take) -> GenerationRequest:
        """The request that re-runs `take`: its stored guidance inputs written to a new temporary
        folder and the request pointed at them (so it works without the original files)."""
        import tempfile

        inputs = self.take_inputs(take)
        if not inputs:
            return take.request
        return rerun_request(take.request, inputs, Path(tempfile.mkdtemp(prefix="ads-rerun-")))

    def load_all_frames(self) -> None:
        """Read every take's frames into memory (before the file holding them goes away)."""
        for take in self.takes:
            if take._frames is None:
                take._frames = _read_take_frames(take._store, take) if take._store else None
            take._inputs = self.take_inputs(take)
            take._store = None
        self._loaded.clear()

    def loaded_takes(self) -> int:
        return sum(take._frames is not None for take in self.takes)

    # -- files ----------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "saved": _now(),
            "takes": [take.to_dict() for take in self.takes],
            "ui_state": dict(self.ui_state),
        }

    def thumbnail(self, take: Take) -> np.ndarray:
        """The take's first frame, without loading the rest."""
        frames = take._frames  # read once: another thread may release them meanwhile
        if frames is not None:
            return frames[0]
        if take._store is None:
            raise InputError(f"take {take.name!r} has no frames")
        with zipfile.ZipFile(take._store) as archive:
            return _read_frame(archive, _frame_names(take)[0], take)

    def snapshot(self) -> ProjectSnapshot:
        """What a save writes, taken on the caller's thread; the writing itself may then run on
        another thread while the project changes (the frames are never modified in place)."""
        return ProjectSnapshot(
            manifest=self.manifest(),
            takes=[(take, take._store, take._frames) for take in self.takes],
            revision=self.revision,
        )

    def stored_in(self, snapshot: ProjectSnapshot, path: Path) -> None:
        """After `snapshot` was written to `path`: its takes can be read back from there, so
        their frames may leave memory."""
        current = {take.id for take in self.takes}
        for take, _, _ in snapshot.takes:
            take._store = path
            if take.inputs:
                take._inputs = None  # in the file now; read again when asked for
            if take.id in current and take.id not in self._loaded:
                self._loaded[take.id] = take
        while len(self._loaded) > KEEP_LOADED:
            _, old = self._loaded.popitem(last=False)
            old._frames = None

    def save_copy(self, path: str | os.PathLike) -> Path:
        """Write the project to `path` (an autosave or recovery copy) without making it the
        project's file or marking the project saved."""
        snapshot = self.snapshot()
        target = write_snapshot(snapshot, path)
        self.stored_in(snapshot, target)
        return target

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the project atomically: a complete new file beside the target, flushed to disk,
        then renamed over it. Frames already in a project file are copied as stored bytes."""
        target = path if path is not None else self.path
        if target is None:
            raise InputError("project has no file yet: give a path to save it to")
        self.name_after(target)
        snapshot = self.snapshot()
        target = write_snapshot(snapshot, target)
        self.saved_to(snapshot, target)
        return target

    def name_after(self, path: str | os.PathLike) -> None:
        """Name the project after the file it is saved to, before the save writes the name: a
        project saved as fox-final.adsproj is "fox-final" in the file, the title and every
        question."""
        self.name = project_path(path).stem

    def saved_to(self, snapshot: ProjectSnapshot, path: Path) -> None:
        """After `snapshot` was written to `path` as the project's own file (a save that ran on
        another thread ends here): its file, its name, and unsaved only if it changed since."""
        self.stored_in(snapshot, path)
        self.path = path
        if not self.name or self.name == "Untitled":
            self.name = path.stem
        self.dirty = self.revision != snapshot.revision

    @classmethod
    def open(cls, path: str | os.PathLike) -> Project:
        """Read and check the manifest (frames load lazily). A corrupt, truncated, hostile or
        newer file raises InputError with what is wrong, and is left untouched."""
        path = Path(os.path.expanduser(str(path)))
        if not path.is_file():
            raise InputError(f"project {str(path)!r}: no such file")
        where = f"project {str(path)!r}"
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                for name in names:
                    if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
                        raise InputError(f"{where} contains an unsafe path {name!r} and was not opened")
                if MANIFEST not in names:
                    raise InputError(f"{str(path)!r} is not an AnimateDiff Studio project (no manifest)")
                if archive.getinfo(MANIFEST).file_size > MAX_MANIFEST_BYTES:
                    raise InputError(f"{where}: the manifest is larger than {MAX_MANIFEST_BYTES // 2**20} MiB")
                data = json.loads(archive.read(MANIFEST).decode("utf-8"))
        except zipfile.BadZipFile:
            raise InputError(f"{where} is damaged or truncated (not a readable zip archive); it was left as it is") from None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise InputError(f"{where} has a damaged manifest ({type(exc).__name__}); it was left as it is") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"{str(path)!r} is not an AnimateDiff Studio project")
        try:
            data = upgrade_manifest(data)
            takes_data = data.get("takes", [])
            if not isinstance(takes_data, list):
                raise InputError(f"takes must be a list, got {type(takes_data).__name__}")
            if len(takes_data) > MAX_TAKES:
                raise InputError(f"{len(takes_data)} takes are more than the {MAX_TAKES} a project may hold")
            name = path.stem  # the file's name, even when the file was renamed or copied
            ui_state = data.get("ui_state") or {}
            if not isinstance(data.get("name", ""), str) or not isinstance(ui_state, dict):
                raise InputError("the name must be text and ui_state an object")
            takes = [Take.from_dict(item) for item in takes_data]
        except InputError as exc:
            raise InputError(f"{where} is damaged: {exc}; it was left as it is") from None
        ids = [take.id for take in takes]
        if len(set(ids)) != len(ids):
            raise InputError(f"{where} is damaged: two takes share an id; it was left as it is")
        for take in takes:
            missing = [n for n in _frame_names(take) if n not in names]
            if missing:
                raise InputError(f"{where} is damaged: take {take.name!r} is missing {len(missing)} of its {take.frame_count} frames")
            take._store = path
        project = cls(name, path)
        project.ui_state = ui_state
        project.takes = takes
        return project


@dataclass
class ProjectSnapshot:
    manifest: dict[str, Any]
    takes: list[tuple[Take, Path | None, np.ndarray | None]]  # take, file holding it, frames
    revision: int


def project_path(path: str | os.PathLike) -> Path:
    """Where a project saved to `path` is written: `~` expanded, the suffix added if missing."""
    target = Path(os.path.expanduser(str(path)))
    if target.suffix.lower() != SUFFIX:
        target = target.with_name(target.name + SUFFIX)
    return target


def write_snapshot(snapshot: ProjectSnapshot, path: str | os.PathLike,
                   on_take: Callable[[int, int], None] | None = None) -> Path:
    """Write a project file from a snapshot, atomically. Safe to call off the GUI thread.
    `on_take(done, total)` is called after each take is written (a save's progress)."""
    target = project_path(path)
    if not target.parent.is_dir():
        raise InputError(f"project {str(target)!r}: the folder {str(target.parent)!r} does not exist")
    sources: dict[Path, zipfile.ZipFile] = {}
    try:
        with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(MANIFEST, json.dumps(snapshot.manifest, indent=1))
            for number, (take, store, frames) in enumerate(snapshot.takes, start=1):
                source = None
                if store is not None and store.is_file():
                    if store not in sources:
                        sources[store] = zipfile.ZipFile(store)
                    source = sources[store]
                _write_take(archive, take, source, frames)
                if on_take is not None:
                    on_take(number, len(snapshot.takes))
    finally:
        for source in sources.values():
            source.close()
    return target


def _frame_names(take: Take) -> list[str]:
    return [f"takes/{take.id}/{FRAME_NAME.format(i)}" for i in range(take.frame_count)]


def _write_take(archive: zipfile.ZipFile, take: Take, source: zipfile.ZipFile | None,
                frames: np.ndarray | None) -> None:
    write_inputs(archive, take.id, take.inputs, source, take._inputs)
    write_pngs(archive, _frame_names(take), source, frames, f"take {take.name!r}",
               check=lambda name: _checked_member(source, name, take))


def frame_bytes_limit(take: Take) -> int:
    return png_bytes_limit(*take.size)


def _checked_member(archive: zipfile.ZipFile, name: str, take: Take) -> zipfile.ZipInfo:
    return checked_png(archive, name, *take.size)


def _read_frame(archive: zipfile.ZipFile, name: str, take: Take) -> np.ndarray:
    """One frame, its declared size checked against its take before it is read and its image
    size against the manifest's before it is decoded."""
    import numpy as np
    from PIL import Image

    data = archive.read(_checked_member(archive, name, take))
    with Image.open(io.BytesIO(data)) as image:
        if image.size != take.size:
            raise InputError(f"frame {name!r} is {image.size[0]}x{image.size[1]}, "
                             f"the take says {take.size[0]}x{take.size[1]}")
        return np.asarray(image.convert("RGB"))


def _read_take_frames(path: Path, take: Take) -> np.ndarray:
    import numpy as np
    from PIL import Image

    width, height = take.size
    try:
        frames = np.empty((take.frame_count, height, width, 3), np.uint8)
        with zipfile.ZipFile(path) as archive:
            for index, name in enumerate(_frame_names(take)):
                frames[index] = _read_frame(archive, name, take)
    except InputError as exc:
        raise InputError(f"project {str(path)!r}: take {take.name!r} is damaged: {exc}") from None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"project {str(path)!r}: the frames of take {take.name!r} cannot be read ({exc})") from None
    except MemoryError:
        raise InputError(f"project {str(path)!r}: not enough memory for the {take.frame_count} frames "
                         f"of take {take.name!r}; close other programs and try again") from None
    return frames


def append_take(path: str | os.PathLike, frames: np.ndarray, request: GenerationRequest,
                duration: float = 0.0, device: str = "",
                inputs: dict[str, np.ndarray] | None = None,
                family: str = "") -> tuple[Project, Take]:
    """Add a take to the project at `path`, creating the project if the file does not exist."""
    path = Path(os.path.expanduser(str(path)))
    if path.suffix.lower() != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    project = Project.open(path) if path.exists() else Project(path.stem, None)
    take = project.add_take(frames, request, duration, device, inputs=inputs, family=family)
    project.save(path)
    return project, take
