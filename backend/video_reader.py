"""Reading the clips users have: any video ffmpeg reads, animated GIF/WebP, a folder of images
(sorted by name) or a single image.

Video is decoded by the ffmpeg that imageio-ffmpeg ships and streamed: asking for 16 frames of a
ten-minute video decodes those frames (seeking to a start time first), never the whole file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
ANIMATED_SUFFIXES = (".gif", ".webp", ".apng")
RESIZE_MODES = ("crop", "fit", "pad")


@dataclass(frozen=True)
class ReadOptions:
    """Which frames to take and at what size.

    Frame numbers are 0-based, `end_frame` exclusive; times are in seconds. `fps` resamples a
    timed source (video, GIF, WebP) to that rate, keeping its speed. `size` is (width, height):
    `crop` scales to cover it and crops the centre, `pad` scales to fit inside and pads with
    black, `fit` stretches to it exactly.
    """

    start_frame: int = 0
    end_frame: int | None = None
    start_time: float | None = None
    end_time: float | None = None
    every_nth: int = 1
    fps: float | None = None
    max_frames: int | None = None
    size: tuple[int, int] | None = None
    resize: str = "crop"

    def validate(self) -> None:
        if self.start_frame < 0:
            raise InputError(f"start frame must be 0 or more, got {self.start_frame}")
        if self.end_frame is not None and self.end_frame <= self.start_frame:
            raise InputError(
                f"frame range {self.start_frame}:{self.end_frame} selects no frames; "
                "the end must be after the start"
            )
        if self.start_time is not None and self.start_time < 0:
            raise InputError(f"start time must be 0 or more seconds, got {self.start_time}")
        if self.end_time is not None and self.end_time <= (self.start_time or 0.0):
            raise InputError(
                f"time range {self.start_time or 0}s-{self.end_time}s selects no frames; "
                "the end must be after the start"
            )
        if self.every_nth < 1:
            raise InputError(f"every n-th frame needs n of 1 or more, got {self.every_nth}")
        if self.fps is not None and not (0 < self.fps <= 240):
            raise InputError(f"fps must be above 0 and at most 240, got {self.fps}")
        if self.max_frames is not None and self.max_frames < 1:
            raise InputError(f"frame limit must be 1 or more, got {self.max_frames}")
        if self.resize not in RESIZE_MODES:
            raise InputError(f"resize must be one of {', '.join(RESIZE_MODES)}; got {self.resize!r}")
        if self.size is not None:
            width, height = self.size
            if width < 1 or height < 1:
                raise InputError(f"size must be at least 1x1, got {width}x{height}")


@dataclass(frozen=True)
class SourceInfo:
    kind: str  # video, animation, folder, image
    size: tuple[int, int]  # width, height
    fps: float | None  # None: frames without timing (a folder or a single image)
    frame_count: int | None  # None when the container does not say


def parse_frame_range(text: str) -> tuple[int, int | None]:
    """'A:B' (0-based, B exclusive; either may be left out) -> (start, end)."""
    match = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*", text)
    if not match:
        raise InputError(f"frame range {text!r}: expected A:B with frame numbers, e.g. 0:16 or 8:")
    start = int(match.group(1)) if match.group(1) else 0
    end = int(match.group(2)) if match.group(2) else None
    if end is not None and end <= start:
        raise InputError(f"frame range {text!r} selects no frames; the end must be after the start")
    return start, end


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise InputError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 512x512")
    return int(match.group(1)), int(match.group(2))


def _resolve(source: str | os.PathLike) -> Path:
    path = Path(os.path.expanduser(str(source)))
    if not path.exists():
        raise InputError(f"input {str(source)!r}: no such file or folder")
    return path


def natural_key(name: str) -> list:
    """Sort key that orders frame2 before frame10, as people number files."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _folder_images(path: Path) -> list[Path]:
    files = sorted(
        (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: natural_key(p.name),
    )
    if not files:
        raise InputError(f"input folder {str(path)!r} holds no images (png, jpg, webp, ...)")
    return files


def _open_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InputError(f"{str(path)!r} is not a readable image ({exc})") from None


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES + ANIMATED_SUFFIXES


def _video_error(path: Path, exc: BaseException) -> InputError:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    # ffmpeg's own last line says most ("Invalid data found when processing input", ...).
    detail = lines[-1] if lines else type(exc).__name__
    return InputError(f"input video {str(path)!r} cannot be read: {detail[:160]}")


def probe(source: str | os.PathLike) -> SourceInfo:
    """Size, frame rate and frame count of what `source` names, without decoding it."""
    path = _resolve(source)
    if path.is_dir():
        files = _folder_images(path)
        with _open_image(files[0]) as image:
            return SourceInfo("folder", image.size, None, len(files))
    if _is_image_file(path):
        with _open_image(path) as image:
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                # The mean over all frames: GIF delays alternate to keep rates like 8 fps exact.
                total = 0.0
                for index in range(frames):
                    image.seek(index)
                    image.load()  # WebP sets a frame's duration when it is decoded
                    total += image.info.get("duration") or 100
                return SourceInfo("animation", image.size, 1000.0 * frames / total, frames)
            return SourceInfo("image", image.size, None, 1)
    import imageio_ffmpeg

    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(reader)
        reader.close()
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError) as exc:
        raise _video_error(path, exc) from None
    fps = float(meta.get("fps") or 0) or None
    duration = meta.get("duration")
    count = round(duration * fps) if duration and fps else None
    return SourceInfo("video", tuple(meta["size"]), fps, count)


def _image_sequence(path: Path) -> Iterator[tuple[int, float | None, np.ndarray]]:
    from PIL import ImageSequence

    with _open_image(path) as image:
        elapsed = 0.0
        animated = getattr(image, "n_frames", 1) > 1
        try:
            for index, frame in enumerate(ImageSequence.Iterator(image)):
                yield index, (elapsed if animated else None), np.asarray(frame.convert("RGB"))
                elapsed += (frame.info.get("duration") or 100) / 1000.0
        except (OSError, SyntaxError) as exc:
            raise InputError(f"{str(path)!r}: the image data is damaged ({exc})") from None


def _folder_sequence(path: Path) -> Iterator[tuple[int, float | None, np.ndarray]]:
    size = None
    for index, file in enumerate(_folder_images(path)):
        with _open_image(file) as image:
            frame = np.asarray(image.convert("RGB"))
        if size is None:
            size = frame.shape
        elif frame.shape != size:
            raise InputError(
                f"input folder {str(path)!r}: {file.name} is {frame.shape[1]}x{frame.shape[0]}, "
                f"the first image {size[1]}x{size[0]}; all frames must have one size"
            )
        yield index, None, frame


def _video_sequence(path: Path, start_time: float | None) -> Iterator[tuple[int, float, np.ndarray]]:
    import imageio_ffmpeg

    # -ss before -i seeks in the input (fast, keyframe-accurate then decoded to the exact time).
    input_params = ["-ss", f"{start_time:.6f}"] if start_time else []
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", input_params=input_params)
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError) as exc:
        raise _video_error(path, exc) from None
    width, height = meta["size"]
    fps = float(meta.get("fps") or 0) or 25.0
    duration = float(meta.get("duration") or 0)
    offset = start_time or 0.0
    last_time = None
    try:
        for index, data in enumerate(reader):
            frame = np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
            last_time = offset + index / fps
            yield index, last_time, frame
    except (OSError, RuntimeError, ValueError) as exc:
        raise _video_error(path, exc) from None
    finally:
        reader.close()  # stops ffmpeg: nothing past what we took is decoded
    # ffmpeg decodes what it can of a cut-off file and stops quietly; the header still says
    # how long the video is, so a stream that ends well short of it is damaged.
    if duration and (last_time is None or last_time < duration - 2.5 / fps) and offset < duration:
        shown = "no frame" if last_time is None else f"{last_time:.2f} s"
        raise InputError(
            f"input video {str(path)!r} is truncated or damaged: it stops at {shown} of "
            f"{duration:.2f} s; copy or download it again"
        )


def resize_frame(frame: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    from PIL import Image

    width, height = size
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    image = Image.fromarray(frame)
    if mode == "fit":
        return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))
    cover = mode == "crop"
    scale = (max if cover else min)(width / image.width, height / image.height)
    scaled = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(scaled, Image.Resampling.LANCZOS)
    if cover:
        left, top = (image.width - width) // 2, (image.height - height) // 2
        return np.asarray(image.crop((left, top, left + width, top + height)))
    canvas = Image.new("RGB", (width, height))
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return np.asarray(canvas)


def iter_frames(source: str | os.PathLike, options: ReadOptions = ReadOptions()) -> Iterator[np.ndarray]:
    """The selected frames of `source`, one at a time, as uint8 [H, W, 3] arrays."""
    options.validate()
    path = _resolve(source)
    if path.is_dir():
        sequence = _folder_sequence(path)
        timed = False
    elif _is_image_file(path):
        sequence = _image_sequence(path)
        timed = probe(path).kind == "animation"
    else:
        sequence = _video_sequence(path, options.start_time)
        timed = True
    if not timed and (options.start_time is not None or options.end_time is not None or options.fps):
        raise InputError(
            f"input {str(source)!r} has no timing (a folder or a still image): "
            "select frames by number instead of by time or fps"
        )
    taken = 0
    in_range = 0
    next_time: float | None = None
    for index, time, frame in sequence:
        if index < options.start_frame:
            continue
        if options.end_frame is not None and index >= options.end_frame:
            break
        if time is not None:
            if options.start_time is not None and time < options.start_time - 1e-6:
                continue
            if options.end_time is not None and time >= options.end_time - 1e-6:
                break
        in_range += 1
        if (in_range - 1) % options.every_nth:
            continue
        repeats = 1
        if options.fps and time is not None:
            # Resample by time: each output tick shows the first source frame at or after it
            # (frames repeat when the target rate is higher than the source's).
            if next_time is None:
                next_time = time
            repeats = 0
            while time >= next_time - 1e-6:
                repeats += 1
                next_time += 1.0 / options.fps
        if options.size is not None:
            frame = resize_frame(frame, options.size, options.resize)
        for _ in range(repeats):
            yield frame
            taken += 1
            if options.max_frames is not None and taken >= options.max_frames:
                return


def read_frames(source: str | os.PathLike, options: ReadOptions = ReadOptions()) -> np.ndarray:
    """All selected frames as one uint8 array [F, H, W, 3]."""
    frames = [np.array(frame) for frame in iter_frames(source, options)]
    if not frames:
        raise InputError(f"input {str(source)!r}: the chosen range holds no frames")
    return np.stack(frames)

