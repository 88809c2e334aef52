"""What a render worker checks in a job before any work, as a local run checks it: the frames
times the size against free memory, and the input frames a video-to-video job sends (how many,
how large, readable PNG). Also the bounded record of cancelled job ids and the worker's scratch
folders, which a killed worker leaves behind."""

from __future__ import annotations

import base64
import binascii
import collections
import io
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from backend.core.atomic import host_tag, owner_tag, process_alive
from backend.core.errors import InputError
from backend.core.limits import check_memory
from backend.core.request import FRAMES_RANGE, SIZE_RANGE

# A PNG frame as base64 text: a lossless frame of the largest size is well under this.
MAX_FRAME_TEXT = 64 * 2**20
# The output's bytes a pixel while generating: float32 RGB decoded, then our uint8 copy (as the
# command line's check for a local run).
GENERATE_BYTES_PER_PIXEL = 15
SCRATCH_PREFIX = "ads-input-"
_SCRATCH = re.compile(rf"^{SCRATCH_PREFIX}(?P<host>[0-9a-f]{{6}})-(?P<pid>\d+)-")


def check_job(request, input_frames: Any, worker: str) -> None:
    """Refuse, before any work, a job this machine could not hold or whose input is hostile."""
    check_memory(request.frames, request.width, request.height, f"job on {worker}",
                 bytes_per_pixel=GENERATE_BYTES_PER_PIXEL)
    if request.mode != "video2video":
        return
    if not isinstance(input_frames, list) or not input_frames:
        raise InputError("video-to-video job without input frames")
    if len(input_frames) > FRAMES_RANGE[1]:
        raise InputError(
            f"the job sends {len(input_frames)} input frames; at most {FRAMES_RANGE[1]} are taken"
        )
    widest = tallest = 0
    for index, item in enumerate(input_frames):
        width, height = frame_size(item, index)
        widest, tallest = max(widest, width), max(tallest, height)
    # The frames are read as RGB, then scaled to the request's size: two copies at most.
    check_memory(len(input_frames), widest, tallest, f"the job's input on {worker}")


def frame_size(item: Any, index: int) -> tuple[int, int]:
    """The size a sent PNG frame declares, read from its header only."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(item, str) or len(item) > MAX_FRAME_TEXT:
        raise InputError(f"input frame {index} of the job is not a PNG of a sensible size")
    try:
        data = base64.b64decode(item, validate=True)
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise InputError(f"input frame {index} of the job is not a PNG")
            width, height = image.size
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"input frame {index} of the job is not a readable PNG") from None
    except Image.DecompressionBombError:
        raise InputError(f"input frame {index} of the job claims too many pixels") from None
    largest = 4 * SIZE_RANGE[1]
    if not (0 < width <= largest and 0 < height <= largest):
        raise InputError(
            f"input frame {index} of the job is {width}x{height}; at most {largest} pixels a side"
        )
    return width, height


class RecentIds:
    """A set of job ids that forgets the oldest past `limit`: cancels of jobs this worker never
    runs must not grow it forever."""

    def __init__(self, limit: int = 4096) -> None:
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.limit = limit

    def add(self, job_id: str) -> None:
        self._ids[job_id] = None
        self._ids.move_to_end(job_id)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def discard(self, job_id: str) -> None:
        self._ids.pop(job_id, None)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


def make_scratch() -> str:
    """A scratch folder for a job's input frames, named by its owner so a later worker can tell
    a killed worker's leftovers from a live one's."""
    return tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{owner_tag()}-")


def sweep_scratch(folder: str | None = None) -> list[Path]:
    """Remove scratch folders that workers on this machine left when killed (process gone)."""
    removed = []
    root = Path(folder or tempfile.gettempdir())
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        match = _SCRATCH.match(entry.name)
        if match is None or match["host"] != host_tag() or process_alive(int(match["pid"])):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed
