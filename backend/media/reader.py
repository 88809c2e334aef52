"""Reading the clips users have: any video ffmpeg reads, animated GIF/WebP, a folder of images
(sorted by name) or a single image.

Video is decoded by the ffmpeg that imageio-ffmpeg ships and streamed: asking for 16 frames of a
ten-minute video seeks to the first of them (by time; a frame number becomes a time through the
packets' timestamps) and decodes those frames, never the whole file. Each frame carries the
stream's own timestamp, so variable-frame-rate video is resampled at the right moments.
"""

from __future__ import annotations

import collections
import errno
import math
import os
import queue
import re
import subprocess
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.core.errors import InputError
from backend.media.ffmpeg import PROBE_TIMEOUT, STALL_TIMEOUT, Watchdog, ffmpeg_exe, file_arg

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
        from backend.core.limits import MAX_SECONDS, check_fps

        for name in ("start_time", "end_time", "fps"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise InputError(f"{name.replace('_', ' ')} must be a finite number, got {value}")
            if name != "fps" and value is not None and value > MAX_SECONDS:
                raise InputError(f"{name.replace('_', ' ')} must be at most {MAX_SECONDS} seconds, got {value:g}")
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
        if self.fps is not None:
            check_fps(self.fps)
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


def _shown(text: str) -> str:
    return repr(text if len(text) <= 120 else f"{text[:60]}…{text[-40:]}")


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise InputError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 512x512")
    return int(match.group(1)), int(match.group(2))


def _resolve(source: str | os.PathLike) -> Path:
    path = Path(os.path.expanduser(str(source)))
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise InputError(f"input {_shown(str(source))}: the name is longer than this file "
                             "system allows, so no such file exists") from None
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
        with warnings.catch_warnings():
            # Past PIL's pixel limit an image is refused (an error at twice it): a small file
            # that claims a huge size would otherwise take all memory when decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(
            f"{str(path)!r} claims a size beyond {Image.MAX_IMAGE_PIXELS // 1_000_000} megapixels "
            "(a decompression bomb, or a damaged header); refusing to decode it"
        ) from None
    except (UnidentifiedImageError, *_DAMAGED) as exc:
        raise InputError(f"{str(path)!r} is not a readable image ({exc})") from None


# What PIL raises on a damaged or cut-off image, depending on where the damage is.
_DAMAGED = (OSError, SyntaxError, ValueError, IndexError, EOFError)


def _frame_count(image, path: Path) -> int:
    try:
        return getattr(image, "n_frames", 1)
    except _DAMAGED as exc:
        raise InputError(f"{str(path)!r}: the image data is damaged ({exc or type(exc).__name__})") from None


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES + ANIMATED_SUFFIXES


@dataclass(frozen=True)
class VideoHeader:
    """What ffmpeg's header says about the first video stream, read without decoding."""

    size: tuple[int, int]  # width, height as decoded (a rotated phone video is swapped)
    fps: float | None  # the average rate; frames carry their own times
    duration: float | None


def _header_error(path: Path, text: str) -> InputError:
    lines = [
        line.strip() for line in text.splitlines()
        if line.strip() and "output file" not in line and not line.startswith("Use -h")
    ]
    detail = lines[-1] if lines else "ffmpeg gave no reason"
    detail = detail.replace(f"{path}: ", "")
    if "Stream #" in text and "Video:" not in text:
        detail = "it holds no video stream"
    return InputError(f"input video {str(path)!r} cannot be read: {detail[:160]}")


def _rate(text: str | None) -> float | None:
    if not text:
        return None
    value = float(text[:-1]) * 1000 if text.endswith("k") else float(text)
    return value if math.isfinite(value) and value > 0 else None


def video_header(path: Path) -> VideoHeader:
    """Size, rate and duration from `ffmpeg -i` (no ffprobe ships with imageio-ffmpeg)."""
    try:
        result = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", file_arg(path)],
            capture_output=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"input video {str(path)!r} cannot be read: {exc}") from None
    text = result.stderr.decode("utf-8", "replace")
    stream = re.search(r"Stream #\d+:\d+.*?: Video: (.*)", text)
    size = re.search(r", (\d{1,7})x(\d{1,7})[ ,\[]", stream.group(1) + " ") if stream else None
    if not stream or not size:
        raise _header_error(path, text)
    width, height = int(size.group(1)), int(size.group(2))
    rotation = re.search(r"rotation of (-?[\d.]+) degrees", text)
    if rotation and round(abs(float(rotation.group(1)))) % 180 == 90:
        width, height = height, width  # ffmpeg turns it upright while decoding
    fps_match = re.search(r", ([\d.]+k?) fps", stream.group(1))
    tbr_match = re.search(r", ([\d.]+k?) tbr", stream.group(1))
    fps = _rate(fps_match and fps_match.group(1)) or _rate(tbr_match and tbr_match.group(1))
    duration = None
    found = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    if found:
        hours, minutes, seconds = found.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return VideoHeader((width, height), fps, duration or None)


NO_PTS = -(2**63)  # how framecrc prints a packet without a timestamp


def packet_times(path: Path, needed: int) -> list[float] | None:
    """Presentation times (s) of the first `needed` frames, from the container's packets: a
    demux without decoding, so finding frame 1000 costs a read of the index, not 1000 decodes.
    Stops reading once `needed` frames (plus the B-frame reordering window) are known. None
    when the packets carry no timestamps."""
    command = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", file_arg(path),
        "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    values: list[int] = []
    try:
        with Watchdog(process) as watchdog:
            base = _read_packet_times(_fed_lines(process.stdout, watchdog), needed, values)
        if watchdog.fired:
            raise InputError(_stalled(path))
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    if base is None:
        return None
    return [value * base for value in sorted(values)][: needed if len(values) >= needed + 64 else None]


def _fed_lines(stream, watchdog):
    while True:
        with watchdog.waiting():
            raw = stream.readline()
        if not raw:
            return
        yield raw


def _stalled(path: Path) -> str:
    return (f"input video {str(path)!r}: ffmpeg made no progress reading it for "
            f"{STALL_TIMEOUT} s; is it on a stuck or very slow drive? Copy it to a local disk")


def _read_packet_times(lines, needed: int, values: list[int]) -> float | None:
    """The stream's time base, filling `values` with packet times; None without timestamps."""
    base = None
    for raw in lines:
        if raw.startswith(b"#tb 0:"):
            num, den = raw.split(b":", 1)[1].strip().split(b"/")
            base = int(num) / int(den)
        elif raw.startswith(b"0,"):
            fields = raw.split(b",")
            try:
                value = int(fields[2])
            except (ValueError, IndexError):
                return None
            if value == NO_PTS:
                return None  # a raw stream (.h264): the decoder makes the times up
            values.append(value)
            if len(values) >= needed + 64:
                break
    return base


class _Decoder:
    """One ffmpeg decoding the first video stream to raw RGB from `seek` seconds on. The
    `showinfo` filter prints each frame's own timestamp on stderr, read by a thread, so frame
    times are the stream's, not index / fps (phones record variable frame rates)."""

    def __init__(self, path: Path, header: VideoHeader, seek: float) -> None:
        self.path = path
        self.header = header
        self.seek = seek
        # -ss before -i seeks in the input (to a keyframe, then decodes to the exact time);
        # timestamps then start at 0 at the seek point, so a frame's time is seek + pts_time.
        command = [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
            *(["-ss", f"{seek:.6f}"] if seek else []), "-i", file_arg(path),
            "-map", "0:v:0", "-vf", "showinfo=checksum=0", "-fps_mode", "passthrough",
            "-an", "-sn", "-dn", "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        ]
        # Its own session: a Ctrl+C in the terminal interrupts us, and we stop ffmpeg.
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.times: queue.Queue = queue.Queue()
        self.log: collections.deque[str] = collections.deque(maxlen=6)
        self.thread = threading.Thread(target=self._read_log, daemon=True)
        self.thread.start()
        self.watchdog = Watchdog(self.process).__enter__()

    def _read_log(self) -> None:
        for raw in self.process.stderr:
            line = raw.decode("utf-8", "replace")
            if "showinfo" in line:
                found = re.search(r"pts_time:\s*(\S+)(?:.*?duration_time:\s*(\S+))?", line)
                if found:
                    self.times.put((_number(found.group(1)), _number(found.group(2))))
                continue
            if line.strip():
                self.log.append(line.strip())
        self.times.put(None)

    def frames(self) -> Iterator[tuple[float, float | None, np.ndarray]]:
        width, height = self.header.size
        frame_bytes = width * height * 3
        step = 1.0 / (self.header.fps or 25.0)
        last = self.seek - step
        while True:
            with self.watchdog.waiting():
                data = self.process.stdout.read(frame_bytes)
            if len(data) < frame_bytes:
                if self.watchdog.fired:
                    raise InputError(_stalled(self.path))
                return
            item = self.times.get(timeout=STALL_TIMEOUT)
            pts, duration = item if item is not None else (None, None)
            time = self.seek + pts if pts is not None else last + step
            last = time
            yield time, duration, np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)

    def failure(self) -> str | None:
        """ffmpeg's last message when it failed, after the frames ran out."""
        if self.process.wait() == 0:
            return None
        self.thread.join(5)
        return self.log[-1] if self.log else f"ffmpeg exit status {self.process.returncode}"

    def close(self) -> None:
        self.watchdog.__exit__(None, None, None)
        if self.process.poll() is None:
            self.process.kill()  # nothing past what we took is decoded
        self.process.wait()
        self.thread.join(5)
        self.process.stdout.close()
        self.process.stderr.close()


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _video_sequence(path: Path, options: ReadOptions) -> Iterator[tuple[float, float | None, np.ndarray]]:
    """(time, duration, frame) of the frames in the options' frame and time range. Seeks by time
    to the first wanted frame; a frame number becomes a time through the packets' timestamps."""
    header = video_header(path)
    step = 1.0 / (header.fps or 25.0)

    def counted() -> Iterator[tuple[float, float | None, np.ndarray]]:
        # No timestamps to trust: decode from the start and count frames.
        return _in_range(_decode_range(path, header, 0.0, 0.0, None, step), options)

    start = options.start_time or 0.0
    end = options.end_time
    if not (options.start_frame or options.end_frame is not None):
        # By time only. A container whose seek lands past the time (MPEG-TS seeks by byte
        # position) is decoded from the start instead, slower but right.
        yield from _decode_range(
            path, header, start, start, end, step,
            fallback=lambda: _decode_range(path, header, 0.0, start, end, step),
        )
        return
    times = packet_times(path, max(options.start_frame, options.end_frame or 0) + 1)
    if times is None:
        yield from counted()
        return
    if options.start_frame >= len(times):
        return  # the range starts past the last frame
    if options.end_frame is not None and options.end_frame < len(times):
        end = times[options.end_frame] if end is None else min(end, times[options.end_frame])
    if not options.start_frame and not start:
        yield from counted()  # nothing to seek: frames counted from the first are exact
        return
    if times[options.start_frame] < start:  # a start time later than the start frame
        yield from _decode_range(path, header, start, start, end, step, fallback=counted)
        return
    # Seek to the frame's own time: ffmpeg finds the keyframe at or before it and drops the
    # frames up to it. (Seeking even 1 ms early would start at the previous keyframe when the
    # frame is a keyframe itself, decoding a whole GOP for nothing.) The decoded frames' times
    # must be the packets' times; where they are not (a raw stream), frames are counted.
    start = times[options.start_frame]
    yield from _decode_range(
        path, header, start, start, end, step, fallback=counted, expected=times[options.start_frame:]
    )


def _decode_range(path: Path, header: VideoHeader, seek: float, start: float, end: float | None,
                  step: float, fallback=None, expected: list[float] | None = None,
                  ) -> Iterator[tuple[float, float | None, np.ndarray]]:
    """Decode from `seek`, keep the frames from `start` to before `end`. `fallback` makes the
    same frames another way, used when the seek overshot or the times are not `expected`."""
    decoder = _Decoder(path, header, seek)
    last_time = None
    kept = 0
    first = True
    failure = None
    switch = False
    try:
        for time, duration, frame in decoder.frames():
            if first and seek and fallback is not None and time > start + 1.5 * step:
                switch = True
                break
            first = False
            if time < start - 1e-4:
                continue
            if end is not None and time >= end - 1e-4:
                return
            if expected is not None and not kept and abs(time - expected[0]) > 1e-3:
                switch = True
                break
            last_time = time
            kept += 1
            yield time, duration, frame
        else:
            failure = decoder.failure()
            if expected is not None and not kept and fallback is not None:
                switch = True
    except (OSError, ValueError, queue.Empty) as exc:
        raise _header_error(path, str(exc)) from None
    finally:
        decoder.close()
    if switch:
        yield from fallback()
        return
    if failure and last_time is None:
        raise InputError(f"input video {str(path)!r} cannot be read: {failure[:160]}")
    # ffmpeg decodes what it can of a cut-off file and stops quietly; the header still says
    # how long the video is, so a stream that ends well short of it is damaged.
    duration = header.duration
    if duration and (last_time is None or last_time < duration - 2.5 * step) and start < duration:
        if end is None or end > duration - 2.5 * step:
            shown = "no frame" if last_time is None else f"{last_time:.2f} s"
            raise InputError(
                f"input video {str(path)!r} is truncated or damaged: it stops at {shown} of "
                f"{duration:.2f} s; copy or download it again"
            )


def probe(source: str | os.PathLike) -> SourceInfo:
    """Size, frame rate and frame count of what `source` names, without decoding it."""
    path = _resolve(source)
    if path.is_dir():
        files = _folder_images(path)
        with _open_image(files[0]) as image:
            return SourceInfo("folder", image.size, None, len(files))
    if _is_image_file(path):
        with _open_image(path) as image:
            frames = _frame_count(image, path)
            if frames > 1:
                # The mean over all frames: GIF delays alternate to keep rates like 8 fps exact.
                total = 0.0
                try:
                    for index in range(frames):
                        image.seek(index)
                        image.load()  # WebP sets a frame's duration when it is decoded
                        total += image.info.get("duration") or 100
                except _DAMAGED as exc:
                    raise InputError(f"{str(path)!r}: the image data is damaged ({exc or type(exc).__name__})") from None
                return SourceInfo("animation", image.size, 1000.0 * frames / total, frames)
            return SourceInfo("image", image.size, None, 1)
    header = video_header(path)
    count = round(header.duration * header.fps) if header.duration and header.fps else None
    return SourceInfo("video", header.size, header.fps, count)


def _image_sequence(path: Path) -> Iterator[tuple[float | None, float | None, np.ndarray]]:
    from PIL import ImageSequence

    with _open_image(path) as image:
        elapsed = 0.0
        animated = _frame_count(image, path) > 1
        try:
            for frame in ImageSequence.Iterator(image):
                rgb = np.asarray(frame.convert("RGB"))
                duration = (frame.info.get("duration") or 100) / 1000.0
                yield (elapsed, duration, rgb) if animated else (None, None, rgb)
                elapsed += duration
        except _DAMAGED as exc:
            raise InputError(f"{str(path)!r}: the image data is damaged ({exc or type(exc).__name__})") from None


def _folder_sequence(path: Path, resized: bool) -> Iterator[tuple[None, None, np.ndarray]]:
    size = None
    for file in _folder_images(path):
        with _open_image(file) as image:
            try:
                frame = np.asarray(image.convert("RGB"))
            except _DAMAGED as exc:
                raise InputError(f"{str(file)!r}: the image data is damaged ({exc or type(exc).__name__})") from None
        if size is None:
            size = frame.shape
        elif frame.shape != size and not resized:
            # With a target size every frame is scaled to it, so mixed sizes are fine.
            raise InputError(
                f"input folder {str(path)!r}: {file.name} is {frame.shape[1]}x{frame.shape[0]}, "
                f"the first image {size[1]}x{size[0]}; all frames must have one size "
                "(or give --size WxH to scale them all)"
            )
        yield None, None, frame


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
        sequence = _folder_sequence(path, resized=options.size is not None)
        timed, ranged = False, False
    elif _is_image_file(path):
        sequence = _image_sequence(path)
        timed, ranged = probe(path).kind == "animation", False
    else:
        sequence = _video_sequence(path, options)  # seeks: the range is applied while decoding
        timed, ranged = True, True
    if not timed and (options.start_time is not None or options.end_time is not None or options.fps):
        raise InputError(
            f"input {str(source)!r} has no timing (a folder or a still image): "
            "select frames by number instead of by time or fps"
        )
    if not ranged:
        sequence = _in_range(sequence, options)
    selected = (item for index, item in enumerate(sequence) if index % options.every_nth == 0)
    frames = _retimed(selected, options) if options.fps and timed else (
        _sized(frame, options) for _, _, frame in selected
    )
    for taken, frame in enumerate(frames, 1):
        yield frame
        if options.max_frames is not None and taken >= options.max_frames:
            return


Timed = tuple[float | None, float | None, np.ndarray]  # (time s, duration s, frame)


def _in_range(sequence: Iterable[Timed], options: ReadOptions) -> Iterator[Timed]:
    """The frame-number and time range of a source read from its first frame."""
    for index, (time, duration, frame) in enumerate(sequence):
        if index < options.start_frame:
            continue
        if options.end_frame is not None and index >= options.end_frame:
            return
        if time is not None:
            if options.start_time is not None and time < options.start_time - 1e-6:
                continue
            if options.end_time is not None and time >= options.end_time - 1e-6:
                return
        yield time, duration, frame


def _retimed(selected: Iterable[Timed], options: ReadOptions) -> Iterator[np.ndarray]:
    """Resampled by time to `options.fps`: each output tick shows the source frame on screen at
    that moment (the last one starting at or before it). Each frame's own time is used, so a
    variable frame rate keeps its real timing; frames repeat when the target rate is higher."""
    step = 1.0 / options.fps
    start: float | None = None
    ticks = 0
    shown: tuple[float, float | None, np.ndarray] | None = None
    for time, duration, frame in selected:
        if start is None:
            start = time
        if shown is not None:
            while start + ticks * step < time - 1e-6:
                yield shown[2]
                ticks += 1
        shown = (time, duration, _sized(frame, options))
    if shown is None:
        return
    time, duration, frame = shown
    # The last frame stays on screen for its own duration (or one output tick).
    until = time + (duration or step)
    if options.end_time is not None:
        until = min(until, options.end_time)
    while start + ticks * step < until - 1e-6:
        yield frame
        ticks += 1


def _sized(frame: np.ndarray, options: ReadOptions) -> np.ndarray:
    return frame if options.size is None else resize_frame(frame, options.size, options.resize)


def estimate_count(info: SourceInfo, options: ReadOptions) -> int:
    """About how many frames `options` take from a source described by `info` (at least 1)."""
    total = info.frame_count if info.frame_count is not None else options.max_frames or 1
    first = options.start_frame
    last = total if options.end_frame is None else min(total, options.end_frame)
    if info.fps:
        if options.start_time is not None:
            first = max(first, math.floor(options.start_time * info.fps))
        if options.end_time is not None:
            last = min(last, math.ceil(options.end_time * info.fps))
    count = max(0, last - first)
    if options.fps and info.fps:
        count = math.ceil(count / info.fps * options.fps)
    else:
        count = math.ceil(count / options.every_nth)
    if options.max_frames is not None:
        count = min(count, options.max_frames)
    return max(count, 1)


def read_frames(source: str | os.PathLike, options: ReadOptions = ReadOptions(),
                info: SourceInfo | None = None) -> np.ndarray:
    """All selected frames as one uint8 array [F, H, W, 3]. Refuses, before decoding, a
    selection that cannot fit in memory (`info` is the source's probe, when known)."""
    from backend.core.limits import check_memory

    options.validate()
    info = info or probe(source)
    check_memory(1, *info.size, f"input {str(source)!r}", bytes_per_pixel=3)
    width, height = options.size or info.size
    check_memory(estimate_count(info, options), width, height, f"input {str(source)!r}")
    frames = [np.array(frame) for frame in iter_frames(source, options)]
    if not frames:
        raise InputError(f"input {str(source)!r}: the chosen range holds no frames")
    return np.stack(frames)


def read_input_video(request) -> np.ndarray:
    """A request's video-to-video input, the one way the engine and the workers read it: at most `frames` frames,
    scaled to cover the request's size and centre-cropped."""
    path = os.path.expanduser(request.input_video or "")
    if not path or not os.path.exists(path):
        raise InputError(f"--input {request.input_video!r}: no such file or folder")
    options = ReadOptions(max_frames=request.frames, size=(request.width, request.height), resize="crop")
    return read_frames(path, options)
