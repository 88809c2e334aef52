"""The inputs a take keeps: each control's preprocessed frames, the keyframe images, the
IP-Adapter reference image and an image-to-video job's start image, stored in the project as PNGs under
`takes/<take id>/inputs/<name>/frame_00000.png`, so Re-run works from the project alone, on
another machine too.

Names: `control_<i>` (the i-th control), `keyframe_<frame>`, `reference`, `start_image`. Re-run writes them to
a folder and points the request at them (controls then go in with preprocess=none: the stored
frames are already preprocessed, so the clip is the same).
"""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.core.errors import InputError

if TYPE_CHECKING:
    import numpy as np  # loaded where frames are handled: the window shows before numpy loads

INPUT_NAME = re.compile(r"^(control_\d{1,3}|keyframe_\d{1,4}|reference|start_image)$")
FRAME_NAME = "frame_{:05d}.png"


def input_names(take_id: str, name: str, count: int) -> list[str]:
    return [f"takes/{take_id}/inputs/{name}/{FRAME_NAME.format(i)}" for i in range(count)]


def check_inputs(data: Any, max_side: int, label: str) -> dict[str, list[int]]:
    """A manifest's `inputs` entry: name -> [frame count, width, height], checked."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"take {label!r}: inputs must be a JSON object")
    result = {}
    for name, shape in data.items():
        if not isinstance(name, str) or not INPUT_NAME.match(name):
            raise InputError(f"take {label!r}: an input has an invalid name {str(name)[:40]!r}")
        if (not isinstance(shape, list) or len(shape) != 3
                or any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= max_side
                       for v in shape) or shape[0] > 1024):
            raise InputError(f"take {label!r}: input {name} must be [frames, width, height]")
        result[name] = list(shape)
    return result


def shapes(inputs: dict[str, np.ndarray]) -> dict[str, list[int]]:
    return {name: [int(a.shape[0]), int(a.shape[2]), int(a.shape[1])] for name, a in inputs.items()}


def png_bytes_limit(width: int, height: int) -> int:
    """The most bytes a PNG frame of this size can need: 16-bit RGBA stored without
    compression (8 bytes a pixel and a filter byte a row), zlib's block overhead, and room for
    the text chunks (the settings)."""
    raw = height * (width * 8 + 1)
    return raw + raw // 1000 + 1024 * 1024


def checked_png(archive: zipfile.ZipFile, name: str, width: int, height: int) -> zipfile.ZipInfo:
    """The member's entry, refused before it is read when it declares more bytes than a frame
    of this size can hold (a small file that would inflate to gigabytes)."""
    info = archive.getinfo(name)
    limit = png_bytes_limit(width, height)
    if info.file_size > limit:
        raise InputError(f"frame {name!r} declares {info.file_size} bytes; a {width}x{height} "
                         f"frame needs at most {limit}")
    return info


def write_pngs(archive: zipfile.ZipFile, names: list[str], source: zipfile.ZipFile | None,
               frames: np.ndarray | None, what: str,
               check: Callable[[str], zipfile.ZipInfo] | None = None) -> None:
    """Write frames as the PNG members `names`: copied as stored bytes from `source` when it
    holds them all, else encoded from `frames` (InputError naming `what` when there are none).
    `check` gives a member's entry after refusing one too large to be a frame."""
    from PIL import Image

    if source is not None and all(n in source.NameToInfo for n in names):
        for member in names:
            info = check(member) if check is not None else source.getinfo(member)
            with source.open(info) as stored:
                archive.writestr(info, stored.read())
        return
    if frames is None:
        raise InputError(f"{what} has no frames to save")
    for member, frame in zip(names, frames, strict=True):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="PNG", compress_level=1)
        archive.writestr(member, buffer.getvalue())


def write_inputs(archive: zipfile.ZipFile, take_id: str, shape: dict[str, list[int]],
                 source: zipfile.ZipFile | None, arrays: dict[str, np.ndarray] | None) -> None:
    """Write a take's inputs, from the project file holding them or from memory."""
    for name, (count, width, height) in shape.items():
        write_pngs(archive, input_names(take_id, name, count), source,
                   (arrays or {}).get(name), f"take {take_id}: input {name}",
                   check=lambda member, w=width, h=height: checked_png(source, member, w, h))


def read_inputs(path: Path, take_id: str, shape: dict[str, list[int]]) -> dict[str, np.ndarray]:
    import numpy as np
    from PIL import Image

    result = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name, (count, width, height) in shape.items():
                frames = np.empty((count, height, width, 3), np.uint8)
                for index, member in enumerate(input_names(take_id, name, count)):
                    data = archive.read(checked_png(archive, member, width, height))
                    with Image.open(io.BytesIO(data)) as image:
                        if image.size != (width, height):
                            raise InputError(f"input {member!r} is {image.size}, not {width}x{height}")
                        frames[index] = np.asarray(image.convert("RGB"))
                result[name] = frames
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError(f"project {str(path)!r}: the stored inputs of a take cannot be read "
                         f"({exc})") from None
    return result


def rerun_request(request, inputs: dict[str, np.ndarray], folder: Path):
    """`request` with its control sources, keyframes, reference and start image pointing at the stored
    `inputs` written into `folder` (which must exist). Unchanged when nothing was stored."""
    from PIL import Image

    if not inputs:
        return request

    def save(name: str) -> Path:
        target = folder / name
        target.mkdir(exist_ok=True)
        for index, frame in enumerate(inputs[name]):
            Image.fromarray(frame).save(target / FRAME_NAME.format(index))
        return target

    controls = tuple(
        dataclasses.replace(c, source=str(save(f"control_{i}")), preprocess="none", sha256=None)
        if f"control_{i}" in inputs else c
        for i, c in enumerate(request.controls)
    )
    keyframes = tuple(
        dataclasses.replace(k, image=str(save(f"keyframe_{k.frame}") / FRAME_NAME.format(0)),
                            sha256=None)
        if f"keyframe_{k.frame}" in inputs else k
        for k in request.keyframes
    )
    reference = request.ip_adapter
    if reference is not None and "reference" in inputs:
        reference = dataclasses.replace(
            reference, image=str(save("reference") / FRAME_NAME.format(0)), sha256=None)
    start = {}
    if request.start_image and "start_image" in inputs:
        start = {"start_image": str(save("start_image") / FRAME_NAME.format(0)),
                 "start_image_sha256": None}
    return request.replace(controls=controls, keyframes=keyframes, ip_adapter=reference, **start)

