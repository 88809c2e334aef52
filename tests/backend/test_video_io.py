"""Video in and out: every writer round-trips through our reader and ffmpeg with the frame
count, size and fps asked for; MP4 plays everywhere; metadata travels; bad input is refused."""

from __future__ import annotations

import json
import re
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.core.errors import InputError
from backend.core.request import GenerationRequest
from backend.media.metadata import build_metadata, read_metadata
from backend.media.reader import ReadOptions, parse_frame_range, parse_size, probe, read_frames
from backend.media.writer import WriteOptions, gif_delays, write_clip


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_stream(path: Path) -> dict:
    """Codec, pixel format, size and fps of the first video stream, as ffmpeg reports them."""
    result = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    line = next(line for line in result.stderr.splitlines() if "Video:" in line)
    codec = re.search(r"Video: (\w+)", line).group(1)
    pix_fmt = re.search(r", (yuv\w+|rgb\w+|bgr\w+|pal8)", line).group(1)
    width, height = map(int, re.search(r", (\d+)x(\d+)", line).groups())
    fps = float(re.search(r", ([\d.]+) fps", line).group(1))
    return {"codec": codec, "pix_fmt": pix_fmt, "size": (width, height), "fps": fps}


def decoded_count(path: Path) -> int:
    import imageio_ffmpeg

    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]


def top_level_atoms(path: Path) -> list[str]:
    data = path.read_bytes()
    atoms, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        atoms.append(data[offset + 4 : offset + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        if size < 8:
            break
        offset += size
    return atoms


def moving_clip(count=16, width=96, height=64, seed=0) -> np.ndarray:
    """A textured background that stays still and a square that moves and changes colour."""
    rng = np.random.default_rng(seed)
    background = (rng.random((height, width, 3)) * 60 + 100).astype(np.uint8)
    frames = []
    for i in range(count):
        frame = background.copy()
        x = 4 + i * 3 % (width - 20)
        frame[10:26, x : x + 16] = (200, (i * 37) % 256, 255 - (i * 23) % 256)
        frames.append(frame)
    return np.stack(frames)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return moving_clip()


# -- writers round-trip ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gif", ".mp4", ".webm", ".webp", ""])
@pytest.mark.parametrize("fps", [8, 12])
def test_round_trip_count_size_fps(tmp_path, clip, suffix, fps):
    output = tmp_path / f"clip{suffix}" if suffix else tmp_path / "frames"
    write_clip(clip, output, fps)
    frames = read_frames(output)
    assert frames.shape == clip.shape
    info = probe(output)
    assert info.size == (96, 64)
    if suffix:
        assert info.fps == pytest.approx(fps, rel=0.02)
    if suffix in (".mp4", ".webm"):
        stream = ffmpeg_stream(output)
        assert stream["size"] == (96, 64) and stream["fps"] == pytest.approx(fps)
        assert decoded_count(output) == len(clip)
    if suffix in (".gif", ".webp"):
        with Image.open(output) as image:
            assert image.n_frames == len(clip)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_png_sequence_is_bit_exact(tmp_path, clip):
    write_clip(clip, tmp_path / "frames", 8)
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == [f"frame_{i:05d}.png" for i in range(len(clip))]
    assert np.array_equal(read_frames(tmp_path / "frames"), clip)


def test_png_folder_rewrite_drops_frames_of_a_longer_clip(tmp_path, clip):
    write_clip(clip, tmp_path / "frames", 8)
    write_clip(clip[:4], tmp_path / "frames", 8)
    assert np.array_equal(read_frames(tmp_path / "frames"), clip[:4])


def test_webp_lossless_is_exact_and_lossy_is_smaller(tmp_path, clip):
    write_clip(clip, tmp_path / "a.webp", 8)
    assert np.array_equal(read_frames(tmp_path / "a.webp"), clip)
    write_clip(clip, tmp_path / "b.webp", 8, WriteOptions(webp_quality=60))
    assert (tmp_path / "b.webp").stat().st_size < (tmp_path / "a.webp").stat().st_size


def test_mp4_is_h264_yuv420p_faststart(tmp_path, clip):
    output = tmp_path / "clip.mp4"
    write_clip(clip, output, 8)
    stream = ffmpeg_stream(output)
    assert stream["codec"] == "h264" and stream["pix_fmt"] == "yuv420p"
    atoms = top_level_atoms(output)
    assert atoms.index("moov") < atoms.index("mdat")


def test_webm_is_vp9_yuv420p(tmp_path, clip):
    output = tmp_path / "clip.webm"
    write_clip(clip, output, 8)
    stream = ffmpeg_stream(output)
    assert stream["codec"] == "vp9" and stream["pix_fmt"] == "yuv420p"


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_odd_sizes_are_padded_by_one_pixel(tmp_path, suffix):
    frames = moving_clip(count=5, width=513, height=301)
    output = tmp_path / f"odd{suffix}"
    write_clip(frames, output, 8)
    assert ffmpeg_stream(output)["size"] == (514, 302)
    decoded = read_frames(output)
    assert decoded.shape == (5, 302, 514, 3)
    # The padding repeats the edge: the last column looks like the one before it.
    assert np.abs(decoded[:, :, -1].astype(int) - decoded[:, :, -2].astype(int)).mean() < 8


@pytest.mark.parametrize("suffix", [".gif", ".webp", ""])
def test_odd_sizes_kept_exactly_where_the_format_allows(tmp_path, suffix):
    frames = moving_clip(count=3, width=513, height=301)
    output = tmp_path / f"odd{suffix}" if suffix else tmp_path / "odd"
    write_clip(frames, output, 8)
    assert read_frames(output).shape == (3, 301, 513, 3)


def test_exact_rational_fps(tmp_path, clip):
    write_clip(clip, tmp_path / "film.mp4", 24000 / 1001)
    assert ffmpeg_stream(tmp_path / "film.mp4")["fps"] == pytest.approx(23.98, abs=0.01)


@pytest.mark.parametrize("fps", [8, 12, 24, 30, 7])
def test_gif_delays_are_exact_over_the_clip(fps):
    delays = gif_delays(48, fps)
    assert all(d % 10 == 0 and d >= 10 for d in delays)
    for n in range(1, 49):
        assert abs(sum(delays[:n]) - n * 1000 / fps) <= 5


def test_gif_durations_in_file(tmp_path, clip):
    write_clip(clip, tmp_path / "c.gif", 8)
    with Image.open(tmp_path / "c.gif") as image:
        total = 0
        for index in range(image.n_frames):
            image.seek(index)
            total += image.info["duration"]
    assert total == 2000


def test_gif_still_areas_never_flicker(tmp_path, clip):
    write_clip(clip, tmp_path / "c.gif", 8)
    decoded = read_frames(tmp_path / "c.gif").astype(int)
    still = (clip == clip[0]).all(-1).all(0)
    assert still.mean() > 0.5
    for a, b in zip(decoded, decoded[1:], strict=False):
        assert np.array_equal(a[still], b[still])


def test_gif_dither_option(tmp_path, clip):
    write_clip(clip, tmp_path / "plain.gif", 8)
    write_clip(clip, tmp_path / "dither.gif", 8, WriteOptions(gif_dither="floyd-steinberg"))
    assert not np.array_equal(read_frames(tmp_path / "plain.gif"), read_frames(tmp_path / "dither.gif"))


def test_gif_loop_and_pingpong(tmp_path, clip):
    write_clip(clip, tmp_path / "forever.gif", 8)
    write_clip(clip, tmp_path / "once.gif", 8, WriteOptions(loop=-1))
    write_clip(clip, tmp_path / "three.gif", 8, WriteOptions(loop=3, pingpong=True))
    with Image.open(tmp_path / "forever.gif") as image:
        assert image.info["loop"] == 0
    with Image.open(tmp_path / "once.gif") as image:
        assert "loop" not in image.info
    with Image.open(tmp_path / "three.gif") as image:
        assert image.info["loop"] == 3
        assert image.n_frames == 2 * len(clip) - 2


def test_gif_refuses_fps_players_cannot_show(tmp_path, clip):
    with pytest.raises(InputError, match="50 fps"):
        write_clip(clip, tmp_path / "fast.gif", 60)
    assert list(tmp_path.iterdir()) == []


def test_cancelled_export_leaves_nothing(tmp_path, clip):
    from backend.core.errors import Cancelled

    for name in ("c.gif", "c.mp4", "c.webp", "frames"):
        calls = []
        with pytest.raises(Cancelled):
            write_clip(clip, tmp_path / name, 8, cancel=lambda calls=calls: calls.append(1) or len(calls) > 3)
        assert [p.name for p in tmp_path.iterdir() if p.is_file() or any(p.iterdir())] == []


def test_export_progress(tmp_path, clip):
    seen = []
    write_clip(clip, tmp_path / "c.mp4", 8, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (16, 16) and seen[0] == (0, 16)


# -- metadata -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["c.gif", "c.mp4", "c.webm", "c.webp", "frames"])
def test_metadata_is_embedded(tmp_path, clip, name):
    request = GenerationRequest(prompt='a "quoted" prompt; with = signs\nand a newline', seed=42)
    metadata = build_metadata(request.to_dict())
    write_clip(clip, tmp_path / name, 8, metadata=metadata)
    read = read_metadata(tmp_path / name)
    assert GenerationRequest.from_dict(read["request"]) == request
    assert read["software"].startswith("AnimateDiff Studio")


def test_png_frames_carry_webui_parameters(tmp_path, clip):
    request = GenerationRequest(prompt="a fox", negative_prompt="blurry", seed=3, steps=20)
    write_clip(clip, tmp_path / "frames", 8, metadata=build_metadata(request.to_dict()))
    with Image.open(tmp_path / "frames" / "frame_00000.png") as image:
        parameters = image.text["parameters"]
    assert parameters.startswith("a fox\nNegative prompt: blurry\nSteps: 20, ")
    assert "Seed: 3" in parameters and "Sampler: ddim" in parameters and "Size: 512x512" in parameters


def test_sidecar(tmp_path, clip):
    request = GenerationRequest(prompt="x", seed=1)
    written = write_clip(
        clip, tmp_path / "c.mp4", 8, WriteOptions(sidecar=True), build_metadata(request.to_dict())
    )
    assert written == [tmp_path / "c.mp4", tmp_path / "c.mp4.json"]
    data = json.loads((tmp_path / "c.mp4.json").read_text())
    assert data["request"]["seed"] == 1
    assert read_metadata(tmp_path / "c.mp4.json")["request"]["prompt"] == "x"


def test_file_without_metadata(tmp_path, clip):
    write_clip(clip, tmp_path / "c.gif", 8)
    with pytest.raises(InputError, match="holds no AnimateDiff Studio settings"):
        read_metadata(tmp_path / "c.gif")


# -- readers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory) -> Path:
    """48 frames at 24 fps; frame i has brightness 5*i so frames can be told apart."""
    frames = np.stack([np.full((48, 64, 3), 5 * i, dtype=np.uint8) for i in range(48)])
    path = tmp_path_factory.mktemp("video") / "numbers.mp4"
    write_clip(frames, path, 24, WriteOptions(crf=0))
    return path


def brightness(frames: np.ndarray) -> list[int]:
    return [round(float(f.mean()) / 5) for f in frames]


def test_read_frame_range_every_nth_and_limit(numbered_video):
    assert brightness(read_frames(numbered_video, ReadOptions(start_frame=10, end_frame=14))) == [10, 11, 12, 13]
    assert brightness(read_frames(numbered_video, ReadOptions(every_nth=5, max_frames=4))) == [0, 5, 10, 15]


def test_read_by_time_and_target_fps(numbered_video):
    # Seeking: from 1.0 s at 24 fps is frame 24.
    assert brightness(read_frames(numbered_video, ReadOptions(start_time=1.0, max_frames=3))) == [24, 25, 26]
    assert brightness(read_frames(numbered_video, ReadOptions(start_time=0.5, end_time=0.75))) == list(range(12, 18))
    # 24 fps resampled to 8 fps keeps every third frame and the clip's speed.
    assert brightness(read_frames(numbered_video, ReadOptions(fps=8))) == list(range(0, 48, 3))
    assert len(read_frames(numbered_video, ReadOptions(fps=48, max_frames=10))) == 10


@pytest.mark.parametrize(
    "mode,expected_shape",
    [("crop", (40, 40, 3)), ("fit", (40, 40, 3)), ("pad", (40, 40, 3))],
)
def test_resize_modes(numbered_video, mode, expected_shape):
    frames = read_frames(numbered_video, ReadOptions(start_frame=20, max_frames=1, size=(40, 40), resize=mode))
    assert frames.shape[1:] == expected_shape
    if mode == "pad":
        assert frames[0, 0].sum() == 0  # black bars above and below a 64x48 frame
    else:
        assert frames[0, 0].sum() > 0


def test_read_folder_in_natural_order(tmp_path):
    for number in (10, 2, 1):
        Image.fromarray(np.full((8, 8, 3), number * 10, dtype=np.uint8)).save(tmp_path / f"f{number}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [int(f.mean()) for f in read_frames(tmp_path)] == [10, 20, 100]


def test_read_single_image_and_animated_gif(tmp_path, clip):
    Image.fromarray(clip[0]).save(tmp_path / "still.jpg")
    assert read_frames(tmp_path / "still.jpg").shape == (1, 64, 96, 3)
    write_clip(clip, tmp_path / "anim.gif", 8)
    assert read_frames(tmp_path / "anim.gif", ReadOptions(fps=4)).shape[0] == 8


def test_parse_helpers():
    assert parse_frame_range("4:12") == (4, 12)
    assert parse_frame_range(":8") == (0, 8)
    assert parse_frame_range("3:") == (3, None)
    assert parse_size("512x288") == (512, 288)
    for bad in ("8:8", "9:2", "x:y"):
        with pytest.raises(InputError):
            parse_frame_range(bad)
    with pytest.raises(InputError):
        parse_size("512")


# -- bad input ------------------------------------------------------------------------------


def test_not_a_video(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("hello")
    with pytest.raises(InputError, match="cannot be read"):
        read_frames(fake)


def test_truncated_mp4(tmp_path, clip):
    write_clip(np.concatenate([clip] * 3), tmp_path / "full.mp4", 8, WriteOptions(crf=0))
    data = (tmp_path / "full.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or damaged"):
        read_frames(tmp_path / "cut.mp4")
    # The intact start of it can still be read.
    assert len(read_frames(tmp_path / "cut.mp4", ReadOptions(max_frames=3))) == 3


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match="holds no images"):
        read_frames(tmp_path)


@pytest.mark.parametrize(
    "options,words",
    [
        (ReadOptions(start_frame=5, end_frame=5), "selects no frames"),
        (ReadOptions(start_time=2.0, end_time=1.0), "selects no frames"),
        (ReadOptions(every_nth=0), "n of 1 or more"),
        (ReadOptions(resize="zoom"), "resize must be one of"),
    ],
)
def test_bad_read_options(numbered_video, options, words):
    with pytest.raises(InputError, match=words):
        read_frames(numbered_video, options)


def test_range_past_the_end(numbered_video):
    with pytest.raises(InputError, match="holds no frames"):
        read_frames(numbered_video, ReadOptions(start_frame=500))


def test_time_options_need_a_timed_source(tmp_path, clip):
    write_clip(clip, tmp_path / "frames", 8)
    with pytest.raises(InputError, match="no timing"):
        read_frames(tmp_path / "frames", ReadOptions(fps=4))


def test_reading_a_short_range_of_a_long_video_keeps_memory_bounded(tmp_path):
    long_video = tmp_path / "long.mp4"
    # 60 s of 1280x720 at 30 fps: 1800 frames, 5 GB as raw RGB.
    subprocess.run(
        [ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "60",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-pix_fmt", "yuv420p", str(long_video)],
        check=True, timeout=300,
    )
    raw_size = 1800 * 1280 * 720 * 3
    tracemalloc.start()
    frames = read_frames(long_video, ReadOptions(start_time=30.0, max_frames=16))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert frames.shape == (16, 720, 1280, 3)
    assert peak < 3 * frames.nbytes  # the frames we asked for, a copy while stacking, buffers
    assert peak < raw_size / 50


# -- seeking and variable frame rates -------------------------------------------------------


def encode_gray_frames(path: Path, levels: list[int], extra: list[str], rate: str = "10") -> None:
    """Frames of one grey level each (level i*10 for frame i) through ffmpeg, lossless."""
    data = b"".join(np.full((48, 64, 3), level, dtype=np.uint8).tobytes() for level in levels)
    subprocess.run(
        [ffmpeg(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x48",
         "-r", rate, "-i", "-", *extra, str(path)],
        input=data, check=True, timeout=120,
    )


def grey(frames: np.ndarray) -> list[int]:
    return [round(float(f.mean()) / 10) for f in frames]


@pytest.fixture(scope="module")
def vfr_video(tmp_path_factory) -> Path:
    """20 frames: 0-9 at 10 fps (0.0, 0.1, ... 0.9 s), then 10-19 at 40 fps (1.000, 1.025, ...
    1.225 s), as a phone records when the light changes."""
    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    encode_gray_frames(
        path, [10 * i for i in range(20)],
        ["-vf", "settb=1/1000,setpts='if(lt(N,10),N*0.1,1+(N-10)*0.025)/TB'", "-fps_mode", "passthrough",
         "-enc_time_base", "1/1000", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"],
    )
    return path


def test_vfr_frame_times_come_from_the_stream(vfr_video):
    # At 20 fps: two ticks per frame while the source runs at 10 fps, then every second
    # frame while it runs at 40 fps; the last frame lasts the 0.1 s the file gives it.
    # A constant-rate guess (the header's 16 fps average) drifts from the second tick on.
    assert grey(read_frames(vfr_video, ReadOptions(fps=20))) == [
        0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 12, 14, 16, 18, 19, 19,
    ]
    assert grey(read_frames(vfr_video)) == list(range(20))


def test_vfr_seeks_by_time_and_by_frame_number(vfr_video):
    assert grey(read_frames(vfr_video, ReadOptions(start_time=1.05, max_frames=3))) == [12, 13, 14]
    assert grey(read_frames(vfr_video, ReadOptions(start_time=0.35, end_time=0.6))) == [4, 5]
    assert grey(read_frames(vfr_video, ReadOptions(start_frame=12, end_frame=15))) == [12, 13, 14]
    assert grey(read_frames(vfr_video, ReadOptions(start_frame=5, end_frame=8))) == [5, 6, 7]
    # Frames 10-13 span 0.1 s: at 10 fps that is one tick.
    assert grey(read_frames(vfr_video, ReadOptions(start_frame=10, end_frame=14, fps=10))) == [10]


@pytest.fixture(scope="module")
def long_gop_video(tmp_path_factory) -> Path:
    """1100 frames, keyframes every 250, B-frames: a seek has to land between keyframes."""
    path = tmp_path_factory.mktemp("gop") / "long.mp4"
    subprocess.run(
        [ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30", "-frames:v", "1100",
         "-c:v", "libx264", "-preset", "fast", "-g", "250", "-bf", "3", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=120,
    )
    return path


def test_seeking_gives_the_frames_a_full_decode_gives(long_gop_video):
    everything = read_frames(long_gop_video)
    assert len(everything) == 1100
    for start in (1000, 1010, 1):
        part = read_frames(long_gop_video, ReadOptions(start_frame=start, end_frame=start + 16))
        assert np.array_equal(part, everything[start : start + 16]), start
    by_time = read_frames(long_gop_video, ReadOptions(start_time=1010 / 30, max_frames=4))
    assert np.array_equal(by_time, everything[1010:1014])


def test_seek_uses_the_input_side_seek(long_gop_video, monkeypatch):
    """The decoder is asked to start near frame 1000, not to decode and drop 1000 frames."""
    import backend.media.reader as reader

    commands = []
    real = reader.subprocess.Popen

    def recording(command, *args, **kwargs):
        commands.append(command)
        return real(command, *args, **kwargs)

    monkeypatch.setattr(reader.subprocess, "Popen", recording)
    read_frames(long_gop_video, ReadOptions(start_frame=1000, end_frame=1016))
    decode = next(c for c in commands if "rawvideo" in c)
    seek = float(decode[decode.index("-ss") + 1])
    assert decode.index("-ss") < decode.index("-i") and 999 / 30 < seek <= 1000 / 30


def test_mpegts_seek_that_overshoots_falls_back(tmp_path):
    """MPEG-TS seeks by byte position and can land past the wanted frame; the reader notices
    and decodes from the start rather than return the wrong frames."""
    path = tmp_path / "clip.ts"
    encode_gray_frames(path, [10 * i for i in range(20)], ["-c:v", "mpeg2video", "-q:v", "1", "-f", "mpegts"])
    everything = read_frames(path)
    assert grey(everything) == list(range(20))
    assert grey(read_frames(path, ReadOptions(start_time=1.0, max_frames=3))) == [10, 11, 12]
    assert grey(read_frames(path, ReadOptions(start_frame=13, end_frame=15))) == [13, 14]


# -- limits checked before work --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,width,words",
    [("wide.webp", 16384, "WebP holds frames up to 16383"), ("wide.mp4", 16386, "MP4 (H.264) holds frames up to 16384")],
)
def test_writer_refuses_sizes_the_format_cannot_hold(tmp_path, name, width, words):
    frames = np.zeros((1, 2, width, 3), dtype=np.uint8)
    with pytest.raises(InputError, match=re.escape(words)):
        write_clip(frames, tmp_path / name, 8)
    assert list(tmp_path.iterdir()) == []


def test_sizes_at_the_limit_are_written(tmp_path):
    frames = np.zeros((1, 2, 16383, 3), dtype=np.uint8)
    write_clip(frames, tmp_path / "edge.webp", 8)
    assert probe(tmp_path / "edge.webp").size == (16383, 2)


def test_decompression_bomb_is_an_input_error(tmp_path):
    from tests.backend.test_bad_inputs import png_header

    (tmp_path / "bomb.png").write_bytes(png_header(50_000, 50_000))
    with pytest.raises(InputError, match="decompression bomb"):
        read_frames(tmp_path / "bomb.png")
    with pytest.raises(InputError, match="decompression bomb"):
        probe(tmp_path / "bomb.png")


def test_rotated_phone_video_reports_its_upright_size(tmp_path):
    source = tmp_path / "flat.mp4"
    write_clip(moving_clip(count=4, width=96, height=64), source, 8)
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        [ffmpeg(), "-v", "error", "-display_rotation", "90", "-i", str(source), "-c", "copy", str(rotated)],
        check=True, timeout=60,
    )
    assert probe(rotated).size == (64, 96)
    assert read_frames(rotated).shape == (4, 96, 64, 3)


def test_raw_stream_without_timestamps_reads_by_counting(tmp_path):
    """A raw .h264 stream has no packet timestamps to seek by: frames are counted instead."""
    path = tmp_path / "raw.h264"
    encode_gray_frames(path, [10 * i for i in range(12)], ["-c:v", "libx264", "-qp", "0", "-bf", "2", "-f", "h264"])
    assert grey(read_frames(path, ReadOptions(start_frame=5, end_frame=9))) == [5, 6, 7, 8]
    assert grey(read_frames(path, ReadOptions(start_frame=0, end_frame=4))) == [0, 1, 2, 3]


def _stuck_ffmpeg(tmp_path, monkeypatch, module, stuck_on: str) -> Path:
    """An ffmpeg that hangs (as on a stuck network drive) on the calls naming `stuck_on`, and
    is the real one otherwise; the stall timeout shortened to 1 s."""
    from backend.media import ffmpeg as ffmpeg_module

    real = ffmpeg_module.ffmpeg_exe()
    script = tmp_path / "stuck-ffmpeg"
    pid_file = tmp_path / "stuck.pid"
    script.write_text(f'#!/bin/sh\ncase "$*" in *{stuck_on}*) echo $$ > "{pid_file}"; '
                      f'exec sleep 600;; esac\nexec "{real}" "$@"\n')
    script.chmod(0o755)
    monkeypatch.setattr(module, "ffmpeg_exe", lambda: str(script))
    monkeypatch.setattr(ffmpeg_module, "STALL_TIMEOUT", 1)
    monkeypatch.setattr(module, "STALL_TIMEOUT", 1, raising=False)
    return pid_file


def _gone(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie not yet reaped still answers; its state says it is dead.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_a_stuck_decoder_is_stopped_and_named(tmp_path, clip, monkeypatch):
    from backend.media import reader

    path = tmp_path / "in.mp4"
    write_clip(clip, path, 8.0, WriteOptions())
    pid_file = _stuck_ffmpeg(tmp_path, monkeypatch, reader, "rawvideo")
    with pytest.raises(InputError, match="made no progress reading it for 1 s"):
        read_frames(path)
    assert _gone(int(pid_file.read_text()))


def test_a_stuck_encoder_is_stopped_and_leaves_no_file(tmp_path, monkeypatch):
    from backend.core.errors import GenerationError
    from backend.media import writer

    pid_file = _stuck_ffmpeg(tmp_path, monkeypatch, writer, "libx264")
    frames = moving_clip(count=8, width=128, height=128)  # more than a pipe's buffer
    with pytest.raises(GenerationError, match="made no progress writing out.mp4 for 1 s"):
        write_clip(frames, tmp_path / "out.mp4", 8.0, WriteOptions())
    assert _gone(int(pid_file.read_text()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stuck-ffmpeg", "stuck.pid"]
