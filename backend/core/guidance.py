"""The guidance inputs of a request: ControlNets with their control videos, SparseCtrl keyframes
and an IP-Adapter reference image.

Each records the sha256 of the file it reads once a job has run with it, so metadata and
projects say exactly which control video, keyframe or reference made a clip, and a re-run whose
file has changed since says so instead of making another clip under the same settings.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.core.errors import InputError

PREPROCESSORS = ("none", "canny", "lineart", "depth", "pose")
DEFAULT_IP_ADAPTER = "h94/IP-Adapter/models/ip-adapter_sd15.safetensors"
CONTROL_WEIGHT_RANGE = (0.0, 2.0)
IP_SCALE_RANGE = (0.0, 2.0)
CONTROL_KEYS = ("model", "source", "preprocess", "weight", "start", "end")


def _absolute(value: str | None) -> str | None:
    if not value:
        return value
    expanded = os.path.expanduser(value)
    return os.path.abspath(expanded) if os.path.exists(expanded) else value


def _number(term: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InputError(f"{term} must be a number from {low:g} to {high:g}, got {value!r}")
    if not low <= value <= high:
        raise InputError(f"{term} must be from {low:g} to {high:g}, got {value:g}")


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a folder's files (sorted by name, each name and content)."""
    import hashlib  # here: loading it is a cost the window's start need not pay

    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for item in files:
        if path.is_dir():
            digest.update(item.name.encode("utf-8") + b"\0")
        with open(item, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def checked_sha256(path: str | None, recorded: str | None, what: str) -> str | None:
    """The file's sha256; InputError when the settings recorded another one (the file changed
    since the clip was made, so re-running would make a different clip under its settings)."""
    if not path:
        return recorded
    if not os.path.exists(path):
        raise InputError(f"{what} {path!r}: no such file or folder")
    try:
        current = file_sha256(path)
    except OSError as exc:
        raise InputError(f"{what} {path!r} cannot be read: {exc.strerror or exc}") from None
    if recorded and current != recorded:
        raise InputError(
            f"{what} {path!r} has changed since these settings were recorded (sha256 "
            f"{recorded[:12]}... then, {current[:12]}... now); restore that file, or run "
            "without --from-metadata to make a new clip"
        )
    return current


@dataclass(frozen=True)
class ControlSpec:
    """One ControlNet: its model (Hub id, diffusers folder or single v1.1 file), its control
    video (None: video-to-video's input), how the frames are preprocessed, and
    controlnet_conditioning_scale / control_guidance_start / control_guidance_end."""

    model: str
    source: str | None = None
    preprocess: str = "none"
    weight: float = 1.0
    start: float = 0.0
    end: float = 1.0
    sha256: str | None = None

    def validate(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise InputError("control: the model is empty (model=M: a Hub id, folder or file)")
        if self.preprocess not in PREPROCESSORS:
            raise InputError(
                f"control {self.model}: preprocess must be one of {', '.join(PREPROCESSORS)}; "
                f"got {self.preprocess!r} (a pose, depth or edge video made elsewhere: preprocess=none)"
            )
        _number(f"control {self.model} weight", self.weight, *CONTROL_WEIGHT_RANGE)
        _number(f"control {self.model} start", self.start, 0.0, 1.0)
        _number(f"control {self.model} end", self.end, 0.0, 1.0)
        if self.start >= self.end:
            raise InputError(f"control {self.model}: start {self.start:g} must be below end {self.end:g}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ControlSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_absolute_path(self) -> ControlSpec:
        return dataclasses.replace(self, model=_absolute(self.model), source=_absolute(self.source))


@dataclass(frozen=True)
class SparseControl:
    """A SparseCtrl model (RGB or scribble) and its conditioning scale."""

    model: str
    weight: float = 1.0

    def validate(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise InputError("--sparse-control: the model is empty")
        _number(f"sparse control {self.model} weight", self.weight, *CONTROL_WEIGHT_RANGE)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SparseControl:
        return cls(str(data["model"]), float(data.get("weight", 1.0)))

    def with_absolute_path(self) -> SparseControl:
        return dataclasses.replace(self, model=_absolute(self.model))


@dataclass(frozen=True)
class Keyframe:
    """An image SparseCtrl holds the clip to at one frame (frame 0 alone: image-to-video)."""

    frame: int
    image: str
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Keyframe:
        return cls(int(data["frame"]), str(data["image"]), data.get("sha256"))

    def with_absolute_path(self) -> Keyframe:
        return dataclasses.replace(self, image=_absolute(self.image))


@dataclass(frozen=True)
class ReferenceImage:
    """The IP-Adapter's reference image and its scale."""

    image: str
    scale: float = 1.0
    sha256: str | None = None

    def validate(self) -> None:
        if not isinstance(self.image, str) or not self.image.strip():
            raise InputError("--ip-adapter: the image path is empty")
        _number("IP-Adapter scale", self.scale, *IP_SCALE_RANGE)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceImage:
        return cls(str(data["image"]), float(data.get("scale", 1.0)), data.get("sha256"))

    def with_absolute_path(self) -> ReferenceImage:
        return dataclasses.replace(self, image=_absolute(self.image))


def check_guidance(request) -> None:
    """The rules between guidance settings and the rest of the request (GenerationRequest.validate
    calls this). Raises InputError naming the first problem and what to do."""
    for control in request.controls:
        control.validate()
        if control.source is None and request.mode != "video2video":
            raise InputError(
                f"control {control.model}: text-to-video needs source=PATH (a video, GIF/WebP, "
                "folder of frames or one image)"
            )
    if request.sparse_control is not None:
        request.sparse_control.validate()
        if request.mode != "text2video":
            raise InputError("--sparse-control works in text-to-video only (diffusers has no "
                             "video-to-video SparseCtrl pipeline)")
        if request.controls:
            raise InputError("--sparse-control and --control cannot be combined in one job; "
                             "use one or the other")
        if request.context_length is not None or request.prompt_travel:
            raise InputError("SparseCtrl has no FreeNoise in diffusers, so it cannot run with "
                             "--context-length or prompt travel (--prompt-at)")
        if not request.keyframes:
            raise InputError("--sparse-control needs at least one --keyframe FRAME:IMAGE")
    elif request.keyframes:
        raise InputError("--keyframe needs --sparse-control M (a SparseCtrl model, e.g. "
                         "guoyww/animatediff-sparsectrl-rgb)")
    seen = set()
    for keyframe in request.keyframes:
        frame = keyframe.frame
        if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < request.frames:
            raise InputError(
                f"keyframe at frame {frame!r} is outside the clip: frames go from 0 to "
                f"{request.frames - 1} (the clip has {request.frames} frames)"
            )
        if frame in seen:
            raise InputError(f"two keyframes at frame {frame}; give each frame one image")
        seen.add(frame)
        if not isinstance(keyframe.image, str) or not keyframe.image.strip():
            raise InputError(f"keyframe at frame {frame}: the image path is empty")
    if request.ip_adapter is not None:
        request.ip_adapter.validate()
        if not isinstance(request.ip_adapter_model, str) or not request.ip_adapter_model.strip():
            raise InputError("--ip-adapter-model is empty")


def has_guidance(request) -> bool:
    return bool(request.controls or request.sparse_control or request.ip_adapter)


def with_input_hashes(request):
    """The request with the sha256 of every control source, keyframe and reference image
    (checked against the ones it already records). InputError for a missing or changed file."""
    controls = []
    for control in request.controls:
        source = control.source or (request.input_video if request.mode == "video2video" else None)
        digest = checked_sha256(source, control.sha256, f"control {control.model} source")
        controls.append(dataclasses.replace(control, sha256=digest))
    keyframes = tuple(
        dataclasses.replace(k, sha256=checked_sha256(k.image, k.sha256, f"keyframe {k.frame}"))
        for k in request.keyframes
    )
    reference = request.ip_adapter
    if reference is not None:
        digest = checked_sha256(reference.image, reference.sha256, "IP-Adapter image")
        reference = dataclasses.replace(reference, sha256=digest)
    return request.replace(controls=tuple(controls), keyframes=keyframes, ip_adapter=reference)


def parse_control(text: str) -> ControlSpec:
    """`model=M[,source=PATH][,preprocess=KIND][,weight=W][,start=S][,end=E]`."""
    values: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in CONTROL_KEYS:
            raise InputError(
                f"--control {text!r}: expected model=M[,source=PATH][,preprocess=KIND]"
                f"[,weight=W][,start=S][,end=E]; {part.strip()!r} is not one of those"
            )
        if key in values:
            raise InputError(f"--control {text!r}: {key} is given twice")
        value = value.strip()
        if key in ("weight", "start", "end"):
            try:
                values[key] = float(value)
            except ValueError:
                raise InputError(f"--control {text!r}: {key} must be a number, got {value!r}") from None
        else:
            values[key] = value
    if not values.get("model"):
        raise InputError(f"--control {text!r}: model=M is required (a Hub id, folder or file)")
    return ControlSpec(**values)


def _split_number(text: str, option: str, example: str) -> tuple[str, float | None]:
    if ":" in text and not os.path.exists(os.path.expanduser(text)):
        head, tail = text.rsplit(":", 1)
        try:
            return head, float(tail)
        except ValueError:
            if "/" not in tail and "\\" not in tail:
                raise InputError(
                    f"{option} {text!r}: the number after ':' must be a number, e.g. {example}"
                ) from None
    return text, None


def parse_sparse_control(text: str) -> SparseControl:
    model, weight = _split_number(text, "--sparse-control", "guoyww/animatediff-sparsectrl-rgb:0.8")
    return SparseControl(model, 1.0 if weight is None else weight)


def parse_keyframe(text: str) -> Keyframe:
    frame, sep, image = text.partition(":")
    if not sep or not frame.strip().isdigit() or not image.strip():
        raise InputError(f"--keyframe {text!r}: expected FRAME:IMAGE, e.g. 0:photo.png")
    return Keyframe(int(frame), image.strip())


def parse_reference(text: str) -> ReferenceImage:
    image, scale = _split_number(text, "--ip-adapter", "face.png:0.6")
    return ReferenceImage(image, 1.0 if scale is None else scale)
