"""Limits checked before any work starts, so a hostile or mistaken number gets a message, not a
MemoryError minutes later or an encoder failure after the frames exist.

Each output format has a largest frame it can hold; frames in memory must fit in the memory
that is free now (psutil), with room for the copies the pipeline makes.
"""

from __future__ import annotations

from backend.core.errors import InputError
from backend.core.units import format_bytes

# Largest width or height each format takes: GIF stores 16-bit sizes; WebP 14-bit; x264 refuses
# more than 16384 (checked with the bundled ffmpeg); VP9 stores 16-bit sizes minus one.
MAX_SIDE = {"gif": 65535, "webp": 16383, "mp4": 16384, "webm": 65536}
# Output frame rates: GIF's longest frame delay is 655.35 s; nothing plays faster than 240.
FPS_RANGE = (0.01, 240.0)
# Times in a clip: past this (about 115 days) a number is a mistake, and ffmpeg overflows.
MAX_SECONDS = 10_000_000
# What share of the free memory one job's frames may take.
MEMORY_SHARE = 0.8
FORMAT_NAMES = {"gif": "GIF", "webp": "WebP", "mp4": "MP4 (H.264)", "webm": "WebM (VP9)"}


def available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(frames: int, width: int, height: int, what: str, bytes_per_pixel: int = 6) -> None:
    """Refuse `frames` frames of width x height when they cannot fit in free memory.

    The default of 6 bytes a pixel is two RGB copies: a reader stacks the frames it read, a
    writer pads or repeats them."""
    need = max(1, frames) * width * height * bytes_per_pixel
    free = available_memory()
    if need > free * MEMORY_SHARE:
        raise InputError(
            f"{what}: {frames} frame{'s' if frames != 1 else ''} of {width}x{height} need about "
            f"{format_bytes(need)} of memory, {format_bytes(free)} is free; use fewer frames or a "
            "smaller size"
        )


def check_output_size(kind: str, width: int, height: int, output: str) -> None:
    """Refuse a frame size the output format cannot hold (kind: gif, webp, mp4, webm, folder)."""
    limit = MAX_SIDE.get(kind)
    if kind in ("mp4", "webm"):  # yuv420p pads odd sizes by one pixel
        width, height = width + width % 2, height + height % 2
    if limit is not None and max(width, height) > limit:
        raise InputError(
            f"output {output!r}: {FORMAT_NAMES[kind]} holds frames up to {limit} pixels a side, "
            f"these are {width}x{height}; give a smaller --size or another format"
        )


def check_fps(fps: float, name: str = "fps") -> None:
    """A frame rate to write or resample at; refuses NaN, inf, 0, negatives."""
    low, high = FPS_RANGE
    if not low <= fps <= high:  # False for NaN
        raise InputError(f"{name} must be from {low:g} to {high:g}, got {fps:g}")
