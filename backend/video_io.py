"""Reading clips users have and writing the formats they share.

Video goes through the ffmpeg binary that imageio-ffmpeg ships, never one that may be missing
from the system. Readers stream: asking for 16 frames of a long video decodes 16 frames.
Every writer is atomic: it writes a temporary file beside the target and renames it, so a failed
or cancelled export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from backend.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
ANIMATED_SUFFIXES = (".gif", ".webp")
VIDEO_OUTPUTS = (".gif", ".mp4", ".webm", ".webp")
FRAME_PATTERN = "frame_{:05d}.png"


def _to_rgb_array(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _read_image_file(path: Path, max_frames: int | None) -> list[np.ndarray]:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            frames = []
            for frame in ImageSequence.Iterator(image):
                frames.append(_to_rgb_array(frame))
                if max_frames is not None and len(frames) >= max_frames:
                    break
            return frames
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from None


def _iter_video(path: Path) -> Iterator[np.ndarray]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(reader)
        width, height = meta["size"]
        for data in reader:
            yield np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
    finally:
        reader.close()


def read_frames(source: str | os.PathLike, max_frames: int | None = None) -> list[np.ndarray]:
    """Frames of a video file, an animated GIF/WebP, an image, or a folder of images (sorted
    by name), as uint8 [H, W, 3] arrays; at most `max_frames` of them."""
    path = Path(os.path.expanduser(str(source)))
    if not path.exists():
        raise InputError(f"input video {str(source)!r}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"input folder {str(source)!r} holds no images (png, jpg, webp, ...)")
        if max_frames is not None:
            files = files[:max_frames]
        frames = [_read_image_file(p, 1)[0] for p in files]
        sizes = {f.shape for f in frames}
        if len(sizes) > 1:
            raise InputError(f"input folder {str(source)!r}: the images differ in size")
        return frames
    if path.suffix.lower() in IMAGE_SUFFIXES + ANIMATED_SUFFIXES:
        frames = _read_image_file(path, max_frames)
    else:
        frames = []
        try:
            for frame in _iter_video(path):
                frames.append(frame.copy())
                if max_frames is not None and len(frames) >= max_frames:
                    break
        except (OSError, RuntimeError, StopIteration, KeyError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"input video {str(source)!r} cannot be read: {first[:120]}") from None
    if not frames:
        raise InputError(f"input video {str(source)!r} has no frames")
    return frames


def output_kind(path: str | os.PathLike) -> str:
    """'folder' for a PNG sequence, else the file extension without the dot."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in VIDEO_OUTPUTS:
        return suffix[1:]
    if suffix and suffix != ".png":
        raise InputError(
            f"output {str(path)!r}: unknown format {suffix}; use .gif, .mp4, .webm, .webp "
            "or a folder (PNG frames)"
        )
    if suffix == ".png":
        raise InputError(
            f"output {str(path)!r}: one PNG cannot hold a clip; give a folder for PNG frames"
        )
    return "folder"


def check_output_writable(path: str | os.PathLike) -> None:
    """Fail before any work if the output cannot be written: its folder must exist (a PNG
    output folder may be new, but its parent must exist) and accept a file."""
    path = Path(os.path.expanduser(str(path)))
    kind = output_kind(path)
    folder = path if kind == "folder" else path.parent
    probe_in = folder if folder.is_dir() else folder.parent if kind == "folder" else None
    if probe_in is None or not probe_in.is_dir():
        missing = folder if kind != "folder" else folder.parent
        raise InputError(f"output {str(path)!r}: the folder {str(missing)!r} does not exist")
    if path.exists() and kind != "folder" and path.is_dir():
        raise InputError(f"output {str(path)!r} is a folder; give a file name ending in .{kind}")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise InputError(f"output {str(path)!r} is a file; give a folder for PNG frames")
    try:
        with tempfile.NamedTemporaryFile(dir=probe_in, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise InputError(f"output {str(path)!r}: cannot write in {str(probe_in)!r} ({exc.strerror})") from None


@contextlib.contextmanager
def atomic_path(target: Path):
    """A temporary path beside `target` (same suffix, so encoders pick the format) that
    replaces `target` only when the block finishes without error."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _check_frames(frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8 or not len(array):
        raise InputError(f"frames must be uint8 [F, H, W, 3] with F >= 1, got {array.shape} {array.dtype}")
    return array


def write_png_folder(frames: np.ndarray, folder: Path) -> list[Path]:
    """Lossless frames frame_00000.png, ... Every frame is written to a temporary name first and
    all are renamed at the end, so a failure leaves no frames of a half-written clip."""
    from PIL import Image

    folder.mkdir(exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for index, frame in enumerate(frames):
            target = folder / FRAME_PATTERN.format(index)
            fd, tmp = tempfile.mkstemp(prefix=".frame-", suffix=".tmp.png", dir=folder)
            os.close(fd)
            staged.append((Path(tmp), target))
            Image.fromarray(frame).save(tmp, format="PNG")
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return [target for _, target in staged]


def write_gif(frames: np.ndarray, path: Path, fps: float, loop: int = 0) -> None:
    """One palette for the whole clip, so colours do not flicker from frame to frame."""
    from PIL import Image

    step = max(1, len(frames) // 16)
    sample = np.concatenate(list(frames[::step]), axis=0)
    palette_image = Image.fromarray(sample).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    images = [
        Image.fromarray(frame).quantize(palette=palette_image, dither=Image.Dither.FLOYDSTEINBERG)
        for frame in frames
    ]
    duration = round(1000 / fps)
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=duration,
            loop=loop,
            optimize=False,
            disposal=1,
        )


def write_webp(frames: np.ndarray, path: Path, fps: float, lossless: bool = True) -> None:
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="WEBP",
            save_all=True,
            append_images=images[1:],
            duration=round(1000 / fps),
            loop=0,
            lossless=lossless,
            quality=90 if not lossless else 100,
        )


def write_ffmpeg_video(frames: np.ndarray, path: Path, fps: float, crf: int | None = None) -> None:
    """H.264 (MP4) or VP9 (WebM) in yuv420p, which every player decodes. yuv420p needs even
    sizes, so an odd width or height is padded by one black pixel rather than scaled."""
    import imageio_ffmpeg

    height, width = frames.shape[1:3]
    if path.suffix.lower() == ".mp4":
        codec = "libx264"
        params = ["-crf", str(18 if crf is None else crf), "-preset", "medium", "-movflags", "+faststart"]
    else:
        codec = "libvpx-vp9"
        params = ["-crf", str(32 if crf is None else crf), "-b:v", "0", "-row-mt", "1"]
    params += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            (width, height),
            fps=fps,
            codec=codec,
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            macro_block_size=1,
            output_params=params,
            ffmpeg_log_level="error",
        )
        writer.send(None)
        try:
            for frame in frames:
                writer.send(np.ascontiguousarray(frame))
        finally:
            writer.close()


def write_frames(frames: np.ndarray, output: str | os.PathLike, fps: float) -> list[Path]:
    """Write `frames` to `output`, picking the writer by extension (a folder gets PNG frames).
    Returns the paths written."""
    frames = _check_frames(frames)
    path = Path(os.path.expanduser(str(output)))
    kind = output_kind(path)
    check_output_writable(path)
    if kind == "folder":
        return write_png_folder(frames, path)
    if kind == "gif":
        write_gif(frames, path, fps)
    elif kind == "webp":
        write_webp(frames, path, fps)
    else:
        write_ffmpeg_video(frames, path, fps)
    return [path]
