"""Writing clips in the formats people share, so that they play everywhere and look right.

- GIF: a palette per frame fitted to the pixels that changed, with unchanged pixels left
  transparent over the previous frame. Still areas never flicker (they are not redrawn), moving
  areas get all 255 colours, files are smaller. Frame delays are exact over the clip.
- MP4: H.264 in yuv420p with +faststart (plays in browsers, phones, editors). yuv420p needs even
  sizes: an odd width or height is padded by repeating the last column or row.
- WebM: VP9 in yuv420p, same size rule.
- WebP: animated, lossless by default.
- PNG sequence: lossless, `frame_00000.png`, ...

Video goes through the ffmpeg that imageio-ffmpeg ships. Every writer is atomic: a temporary file
beside the target, renamed at the end, so a failed or cancelled export leaves nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.atomic import atomic_path, sweep_temporaries
from backend.core.errors import DISK_FULL, Cancelled, GenerationError, InputError
from backend.media.ffmpeg import FINISH_TIMEOUT, Watchdog, ffmpeg_exe, file_arg
from backend.media.metadata import PNG_KEY, sidecar_path, to_text, webui_parameters, xmp_packet

FORMATS = ("gif", "mp4", "webm", "webp", "folder")
GIF_DITHERS = ("none", "floyd-steinberg")
FRAME_PATTERN = "frame_{:05d}.png"
GIF_MAX_FPS = 50  # players treat delays under 20 ms as 100 ms

Progress = Callable[[int, int], None]  # (frames written, total)


@dataclass(frozen=True)
class WriteOptions:
    gif_dither: str = "none"
    loop: int = 0  # GIF/WebP: 0 loops forever, -1 plays once, N repeats N times after the first play
    pingpong: bool = False  # play forward then back
    crf: int | None = None  # MP4 default 18, WebM default 32; lower is better quality
    webp_quality: int | None = None  # None: lossless
    sidecar: bool = False  # also write <file>.json

    def validate(self) -> None:
        if self.gif_dither not in GIF_DITHERS:
            raise InputError(f"GIF dither must be one of {', '.join(GIF_DITHERS)}; got {self.gif_dither!r}")
        if not -1 <= self.loop <= 65534:
            raise InputError(f"loop must be 0 (forever), -1 (once) or a repeat count up to 65534, got {self.loop}")
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise InputError(f"CRF must be from 0 (best) to 63 (H.264 stops at 51), got {self.crf}")
        if self.webp_quality is not None and not 0 <= self.webp_quality <= 100:
            raise InputError(f"WebP quality must be from 0 to 100, got {self.webp_quality}")


def output_format(path: str | os.PathLike) -> str:
    """'folder' for a PNG sequence, else the extension without the dot."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in (".gif", ".mp4", ".webm", ".webp"):
        return suffix[1:]
    if suffix == ".png":
        raise InputError(f"output {str(path)!r}: one PNG cannot hold a clip; give a folder for PNG frames")
    if suffix:
        raise InputError(
            f"output {str(path)!r}: unknown format {suffix}; use .gif, .mp4, .webm, .webp "
            "or a folder (PNG frames)"
        )
    return "folder"


def check_output_writable(path: str | os.PathLike) -> None:
    """Fail before any work if the output cannot be written. A PNG folder may be new, but the
    folder it goes in must exist, as must a file's folder."""
    text = str(path)
    if not text.strip():
        raise InputError("--output is empty; give a file name (.gif .mp4 .webm .webp) or a folder")
    path = Path(os.path.expanduser(text))
    longest = max((len(os.fsencode(part)) for part in path.parts), default=0)
    limit = _name_limit(path)
    if longest > limit:
        raise InputError(
            f"output {_shown(text)}: a name in it is {longest} bytes long; this file system "
            f"allows {limit}, so choose a shorter name"
        )
    kind = output_format(path)
    parent = path.parent
    if not parent.exists():
        raise InputError(f"output {str(path)!r}: the folder {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise InputError(f"output {str(path)!r}: {str(parent)!r} is a file, not a folder")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise InputError(f"output {str(path)!r} is a file; give a folder for PNG frames")
    if kind != "folder" and path.is_dir():
        raise InputError(f"output {str(path)!r} is a folder; give a file name ending in .{kind}")
    probe_in = path if kind == "folder" and path.is_dir() else parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe_in, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise InputError(f"output {str(path)!r}: cannot write in {str(probe_in)!r} ({exc.strerror})") from None


def _name_limit(path: Path) -> int:
    """The longest file name (in bytes) the output's file system takes."""
    probe = path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return os.pathconf(probe, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _shown(text: str) -> str:
    """A path for a one-line message: long ones shortened in the middle."""
    return repr(text if len(text) <= 120 else f"{text[:60]}…{text[-40:]}")


def check_frames(frames: Any) -> np.ndarray:
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8 or not len(array):
        raise InputError(f"frames must be uint8 [F, H, W, 3] with F >= 1, got {array.shape} {array.dtype}")
    return array


def sequence_for_playback(frames: np.ndarray, pingpong: bool) -> np.ndarray:
    if not pingpong or len(frames) < 3:
        return frames
    return np.concatenate([frames, frames[-2:0:-1]])


def gif_delays(count: int, fps: float) -> list[int]:
    """Per-frame delays in ms, multiples of 10 (GIF's unit), whose running sum stays within
    5 ms of the exact time: 8 fps alternates 120/130 ms instead of drifting at 120 or 130."""
    edges = [round(i * 100 / fps) * 10 for i in range(count + 1)]
    return [max(10, b - a) for a, b in zip(edges, edges[1:], strict=False)]


def _tick(progress: Progress | None, cancel: Callable[[], bool] | None, done: int, total: int) -> None:
    if cancel is not None and cancel():
        raise Cancelled("export cancelled")
    if progress is not None:
        progress(done, total)


def write_gif(frames, path: Path, fps: float, options: WriteOptions, comment: str | None,
              progress: Progress | None = None, cancel: Callable[[], bool] | None = None) -> None:
    from PIL import Image

    if fps > GIF_MAX_FPS:
        raise InputError(f"GIF plays at most {GIF_MAX_FPS} fps (players slow faster GIFs down); use MP4 or WebM, or a lower fps")
    dither = Image.Dither.FLOYDSTEINBERG if options.gif_dither == "floyd-steinberg" else Image.Dither.NONE
    images = []
    shown: np.ndarray | None = None  # what a player displays after the previous frame
    full_redraw = None  # the last frame drawn whole, converted to `shown` only when needed
    previous: np.ndarray | None = None
    total = len(frames)
    for index, frame in enumerate(frames):
        _tick(progress, cancel, index, total)
        moved = None if previous is None else (frame != previous).any(-1)
        if moved is None or moved.mean() > 0.9:
            # The first frame, or one where nearly everything moves: redraw it all, 256 colours.
            image = Image.fromarray(frame).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
            if dither != Image.Dither.NONE:
                image = Image.fromarray(frame).quantize(palette=image, dither=dither)
            full_redraw, shown = image, None
        else:
            if shown is None:
                shown = np.asarray(full_redraw.convert("RGB")).astype(np.int16)
            # Redraw what changed in the source, plus anything shown far from it (a pixel the
            # previous frame's palette fitted badly); keep the rest as it is on screen.
            changed = moved | (np.abs(frame.astype(np.int16) - shown).max(-1) > 24)
            pixels = frame[changed] if changed.any() else frame[:1, :1].reshape(-1, 3)
            fitted = Image.fromarray(pixels.reshape(1, -1, 3)).quantize(
                255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
            palette = fitted.getpalette()[: 255 * 3]
            palette_image = Image.new("P", (1, 1))
            palette_image.putpalette(palette + [0, 0, 0] * (256 - len(palette) // 3))
            indices = np.array(Image.fromarray(frame).quantize(palette=palette_image, dither=dither))
            indices[~changed] = 255
            image = Image.fromarray(indices, mode="P")
            image.putpalette(palette_image.getpalette())
            image.info["transparency"] = 255
            drawn = np.asarray(image.convert("RGB")).astype(np.int16)
            shown = np.where(changed[..., None], drawn, shown)
        previous = frame
        images.append(image)
    save: dict[str, Any] = {
        "save_all": True,
        "append_images": images[1:],
        "duration": gif_delays(len(images), fps),
        "disposal": 1,  # keep each frame under the next: the transparent pixels show it
        "optimize": False,
    }
    if options.loop >= 0:  # no loop block at all plays once
        save["loop"] = options.loop
    if comment:
        save["comment"] = comment.encode("utf-8")
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", **save)


def write_webp(frames, path: Path, fps: float, options: WriteOptions, comment: str | None,
               progress: Progress | None = None, cancel: Callable[[], bool] | None = None) -> None:
    from PIL import Image

    images = []
    for index, frame in enumerate(frames):
        _tick(progress, cancel, index, len(frames))
        images.append(Image.fromarray(frame))
    lossless = options.webp_quality is None
    extra = {"xmp": xmp_packet(comment)} if comment else {}
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="WEBP",
            save_all=True,
            append_images=images[1:],
            duration=[round(1000 * (i + 1) / fps) - round(1000 * i / fps) for i in range(len(images))],
            loop=0 if options.loop == 0 else options.loop + 1 if options.loop > 0 else 1,
            lossless=lossless,
            quality=100 if lossless else options.webp_quality,
            method=4,
            **extra,
        )


def _even(frame: np.ndarray) -> np.ndarray:
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        return np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return np.ascontiguousarray(frame)


def rate_text(fps: float) -> str:
    """An exact rational frame rate for ffmpeg (23.976 -> 24000/1001)."""
    rate = Fraction(fps).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


def write_ffmpeg_video(frames, path: Path, fps: float, options: WriteOptions, comment: str | None,
                       progress: Progress | None = None, cancel: Callable[[], bool] | None = None) -> None:
    import subprocess


    height, width = frames.shape[1:3]
    even_w, even_h = width + width % 2, height + height % 2
    if path.suffix.lower() == ".mp4":
        codec = ["-c:v", "libx264", "-preset", "medium", "-crf", str(18 if options.crf is None else options.crf),
                 "-movflags", "+faststart"]
    else:
        codec = ["-c:v", "libvpx-vp9", "-crf", str(32 if options.crf is None else options.crf), "-b:v", "0",
                 "-row-mt", "1", "-deadline", "good", "-cpu-used", "4"]
    meta = ["-metadata", f"comment={comment}"] if comment else []
    with atomic_path(path) as tmp:
        command = [
            ffmpeg_exe(), "-nostdin", "-y", "-v", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{even_w}x{even_h}", "-r", rate_text(fps),
            "-i", "-", "-an", *codec, "-pix_fmt", "yuv420p", "-r", rate_text(fps), *meta, file_arg(tmp),
        ]
        # Its own session: a Ctrl+C in the terminal reaches us, not ffmpeg mid-frame; the
        # cleanup below stops it and the temporary file goes.
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
            )
        except OSError as exc:
            raise GenerationError(f"ffmpeg could not be started ({exc.strerror}); "
                                  "reinstall imageio-ffmpeg") from None
        try:
            with Watchdog(process) as watchdog:
                try:
                    for index, frame in enumerate(frames):
                        _tick(progress, cancel, index, len(frames))
                        data = _even(frame).tobytes()
                        with watchdog.waiting():
                            process.stdin.write(data)
                    process.stdin.close()
                except BrokenPipeError:
                    pass  # ffmpeg stopped early; its exit status and message say why
            if watchdog.fired:
                raise GenerationError(f"ffmpeg made no progress writing {path.name} for "
                                      f"{watchdog.seconds:g} s; nothing was written")
            if not process.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
            process.stdin = None  # closed: communicate() only reads stderr and waits
            try:
                _, raw = process.communicate(timeout=FINISH_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise GenerationError(
                    f"ffmpeg did not finish {path.name} within {FINISH_TIMEOUT} s"
                ) from None
            error = raw.decode("utf-8", "replace").strip()
            if process.returncode == -signal.SIGXFSZ or "No space left" in error:
                raise GenerationError(f"{DISK_FULL} and export {path.name} again")
            if process.returncode != 0:
                last = error.splitlines()[-1] if error else f"exit status {process.returncode}"
                raise GenerationError(f"ffmpeg could not write {path.name}: {last}")
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            process.stderr.close()


def write_png_folder(frames, folder: Path, metadata_text: str | None, parameters: str | None,
                     progress: Progress | None = None, cancel: Callable[[], bool] | None = None) -> list[Path]:
    """Lossless frames frame_00000.png, ... Each is written under a temporary name and all are
    renamed at the end, so a failure leaves no half-written clip. Frames left from a longer clip
    in the same folder are removed, so the folder holds exactly this clip."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if metadata_text:
        info.add_text(PNG_KEY, metadata_text)
    if parameters:
        info.add_text("parameters", parameters)
    created = not folder.exists()
    folder.mkdir(exist_ok=True)
    # Every frame's atomic write stays pending in the stack: all are renamed once the last is
    # written, or all removed on a failure or cancel (Ctrl+C included); a folder we made for
    # them goes too.
    targets = [folder / FRAME_PATTERN.format(index) for index in range(len(frames))]
    try:
        with contextlib.ExitStack() as staged:
            for index, (frame, target) in enumerate(zip(frames, targets, strict=True)):
                _tick(progress, cancel, index, len(frames))
                tmp = staged.enter_context(atomic_path(target, durable=False, sweep=False))
                Image.fromarray(frame).save(tmp, format="PNG", pnginfo=info, compress_level=4)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: never anything that is not ours
        raise
    index = len(frames)
    while (stale := folder / FRAME_PATTERN.format(index)).exists():
        stale.unlink()
        index += 1
    return targets


def write_clip(
    frames: Any,
    output: str | os.PathLike,
    fps: float,
    options: WriteOptions = WriteOptions(),
    metadata: dict[str, Any] | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[Path]:
    """Write `frames` (uint8 [F, H, W, 3]) to `output`, the writer picked by its extension (a
    folder gets PNG frames). `metadata` is embedded where the format allows. Returns the paths
    written."""
    frames = check_frames(frames)
    options.validate()
    from backend.core.limits import check_fps, check_output_size

    check_fps(fps)
    path = Path(os.path.expanduser(str(output)))
    kind = output_format(path)
    check_output_writable(path)
    check_output_size(kind, frames.shape[2], frames.shape[1], str(output))
    frames = sequence_for_playback(frames, options.pingpong)
    text = to_text(metadata) if metadata else None
    if kind == "folder" and path.is_dir():
        sweep_temporaries(path)  # once here: its frames' writes skip the sweep
    if kind == "folder":
        parameters = webui_parameters(metadata["request"]) if metadata else None
        written = write_png_folder(frames, path, text, parameters, progress, cancel)
    else:
        writer = {"gif": write_gif, "webp": write_webp}.get(kind, write_ffmpeg_video)
        writer(frames, path, fps, options, text, progress, cancel)
        written = [path]
    if options.sidecar and metadata:
        sidecar = sidecar_path(path)
        with atomic_path(sidecar) as tmp:
            tmp.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        written.append(sidecar)
    if progress is not None:
        progress(len(frames), len(frames))
    return written
