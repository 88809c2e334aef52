"""Bad input everywhere, as one table: each row is an argv (with {placeholders} for the files
built below), the exit code a user should get and a fragment of the one-line message.

Every row checks: that exit code; exactly one line on stderr, no traceback; nothing left in the
output folder (no partial output, no temporary file); every input file byte-for-byte unchanged.
Rows with exit 0 are inputs that look odd but are legitimately valid (a PNG named .mp4 is read as
what it is; a folder of mixed sizes works when a size is given).

`python scripts/bad_inputs_table.py` prints the table with the real messages.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    code: int
    fragment: str
    signal: int | None = None  # sent mid-run to a real process
    needs: tuple[str, ...] = field(default_factory=tuple)  # "models", "memory:<bytes>", "seed32"


GEN = (
    "generate", "--prompt", "x", "--base-model", "{base}", "--motion-adapter", "{adapter}",
    "--width", "64", "--height", "64", "--frames", "2", "--steps", "1", "--quiet", "--device", "cpu",
    "--output", "{out}/o.gif",
)
V2V = ("video2video", *GEN[1:], "--steps", "2", "--input", "{in}/frames")


def gen(*extra: str) -> tuple[str, ...]:
    return (*GEN, *extra)


def convert(source: str, *extra: str, output: str = "{out}/o.gif") -> tuple[str, ...]:
    return ("convert", source, "--output", output, *extra)


def meta(name: str) -> tuple[str, ...]:
    return ("generate", "--from-metadata", f"{{in}}/meta/{name}", "--output", "{out}/o.gif", "--quiet")


C = Case
CASES: list[Case] = [
    # -- numbers out of range, NaN, inf, negative: generate / video2video -------------------
    C("frames negative", gen("--frames", "-1"), 2, "frames must be from 1 to 1024, got -1"),
    C("frames too many", gen("--frames", "1025"), 2, "frames must be from 1 to 1024, got 1025"),
    C("frames NaN", gen("--frames", "nan"), 2, "--frames: invalid int value: 'nan'"),
    C("width negative", gen("--width", "-64"), 2, "width must be from 64 to 2048, got -64"),
    C("width too large", gen("--width", "2056"), 2, "width must be from 64 to 2048, got 2056"),
    C("height NaN", gen("--height", "nan"), 2, "--height: invalid int value: 'nan'"),
    C("height below 64", gen("--height", "56"), 2, "height must be from 64 to 2048, got 56"),
    C("steps negative", gen("--steps", "-5"), 2, "steps must be from 1 to 500, got -5"),
    C("steps too many", gen("--steps", "501"), 2, "steps must be from 1 to 500, got 501"),
    C("guidance inf", gen("--guidance", "inf"), 2, "guidance must be from 0.0 to 50.0, got inf"),
    C("guidance negative", gen("--guidance", "-1"), 2, "guidance must be from 0.0 to 50.0, got -1.0"),
    C("guidance too large", gen("--guidance", "50.5"), 2, "guidance must be from 0.0 to 50.0, got 50.5"),
    C("seed negative", gen("--seed", "-1"), 2, "seed must be from 0 to"),
    C("seed 2^32", gen("--seed", str(2**32)), 2, "seed must be from 0 to 4294967295", needs=("seed32",)),
    C("seed 2^64", gen("--seed", str(2**64)), 2, "seed must be from 0 to"),
    C("seed NaN", gen("--seed", "nan"), 2, "--seed: invalid int value: 'nan'"),
    C("fps negative", gen("--fps", "-8"), 2, "fps must be from 1 to 120, got -8"),
    C("fps too high", gen("--fps", "121"), 2, "fps must be from 1 to 120, got 121"),
    C("fps NaN", gen("--fps", "nan"), 2, "--fps: invalid int value: 'nan'"),
    C("clip-skip too large", gen("--clip-skip", "11"), 2, "clip skip must be from 1 to 10, got 11"),
    C("clip-skip negative", gen("--clip-skip", "-1"), 2, "clip skip must be from 1 to 10, got -1"),
    C("free-init too many", gen("--free-init", "11"), 2, "FreeInit iterations must be from 0 to 10, got 11"),
    C("free-init NaN", gen("--free-init", "nan"), 2, "--free-init: invalid int value: 'nan'"),
    C("context-length too long", gen("--context-length", "1025"), 2, "context length must be from 1 to 1024"),
    C("context-length negative", gen("--context-length", "-4"), 2, "context length must be from 1 to 1024, got -4"),
    C("context-stride 0", gen("--context-length", "8", "--context-stride", "0"), 2, "context stride must be from 1 to 8, got 0"),
    C("context-stride over length", gen("--context-length", "8", "--context-stride", "9"), 2, "context stride must be from 1 to 8, got 9"),
    C("strength NaN", (*V2V, "--strength", "nan"), 2, "strength must be a number from 0.0 to 1.0, got nan"),
    C("strength inf", (*V2V, "--strength", "inf"), 2, "strength must be from 0.0 to 1.0, got inf"),
    C("crf negative", gen("--crf", "-1"), 2, "CRF must be from 0 (best) to 63"),
    C("crf too large", gen("--crf", "64"), 2, "CRF must be from 0 (best) to 63"),
    C("loop below -1", gen("--loop", "-2"), 2, "loop must be 0 (forever), -1 (once) or a repeat count up to 65534, got -2"),
    C("loop too large", gen("--loop", "65535"), 2, "up to 65534, got 65535"),
    C("webp-quality too large", gen("--webp-quality", "101"), 2, "WebP quality must be from 0 to 100, got 101"),
    C("webp-quality negative", gen("--webp-quality", "-1"), 2, "WebP quality must be from 0 to 100, got -1"),
    C("frames x size past memory", gen("--frames", "1024", "--width", "2048", "--height", "2048"), 2,
      "generate: 1024 frames of 2048x2048 need about", needs=("memory:64424509440",)),
    # -- malformed option values ------------------------------------------------------------
    C("motion-lora weight NaN", gen("--motion-lora", "zoom:nan"), 2, "motion LoRA zoom weight must be a number"),
    C("motion-lora weight inf", gen("--motion-lora", "zoom:inf"), 2, "motion LoRA zoom weight must be from -10.0 to 10.0, got inf"),
    C("motion-lora weight too large", gen("--motion-lora", "zoom:11"), 2, "motion LoRA zoom weight must be from -10.0 to 10.0, got 11.0"),
    C("motion-lora weight empty", gen("--motion-lora", "zoom:"), 2, "--motion-lora 'zoom:': the weight after ':' must be a number"),
    C("freeu NaN", gen("--freeu", "0.9,0.2,1.2,nan"), 2, "FreeU b2 must be a number"),
    C("freeu five numbers", gen("--freeu", "1,2,3,4,5"), 2, "--freeu '1,2,3,4,5': expected four numbers"),
    C("freeu negative", gen("--freeu=-1,0.2,1.2,1.4"), 2, "FreeU s1 must be from 0.0 to 10.0, got -1.0"),
    C("freeu negative, space-separated", gen("--freeu", "-1,0.2,1.2,1.4"), 2,
      "argument --freeu: expected one argument (a value starting with '-' goes as --freeu=VALUE)"),
    C("freeu inf", gen("--freeu", "inf,0.2,1.2,1.4"), 2, "FreeU s1 must be from 0.0 to 10.0, got inf"),
    C("prompt-at negative frame", gen("--prompt-at=-1:sky"), 2, "--prompt-at '-1:sky': expected FRAME:TEXT"),
    C("prompt-at fractional frame", gen("--prompt-at", "1.5:sky"), 2, "--prompt-at '1.5:sky': expected FRAME:TEXT"),
    C("prompt-at no frame", gen("--prompt-at", ":sky"), 2, "--prompt-at ':sky': expected FRAME:TEXT"),
    C("prompt-at huge frame", gen("--prompt-at", "99999999999999999999:sky"), 2, "prompt travel frame must be from 0 to 1"),
    # -- outputs ------------------------------------------------------------------------------
    C("output .jpg", gen("--output", "{out}/o.jpg"), 2, "unknown format .jpg; use .gif, .mp4, .webm, .webp"),
    C("output .mov", convert("{in}/clip.mp4", output="{out}/o.mov"), 2, "unknown format .mov"),
    C("output one .png", convert("{in}/clip.mp4", output="{out}/o.png"), 2, "one PNG cannot hold a clip"),
    C("output folder missing", convert("{in}/clip.mp4", output="{out}/missing/o.mp4"), 2, "/missing' does not exist"),
    C("output is a folder", convert("{in}/clip.mp4", output="{in}/dir.gif"), 2, "is a folder; give a file name ending in .gif"),
    C("output == input file", convert("{in}/clip.gif", output="{in}/clip.gif"), 2, "would overwrite the input"),
    C("output == input folder", convert("{in}/frames", output="{in}/frames"), 2, "would overwrite the input"),
    C("output folder holds the input frame", convert("{in}/seq/frame_00001.png", output="{in}/seq"), 2, "would overwrite the input"),
    C("video2video output == input", (*V2V, "--output", "{in}/frames"), 2, "would overwrite the --input"),
    # -- convert numbers ----------------------------------------------------------------------
    C("convert fps NaN", convert("{in}/clip.mp4", "--fps", "nan"), 2, "--fps must be from 0.01 to 240, got nan"),
    C("convert fps negative", convert("{in}/clip.mp4", "--fps", "-1"), 2, "--fps must be from 0.01 to 240, got -1"),
    C("convert fps inf", convert("{in}/frames", "--fps", "inf"), 2, "--fps must be from 0.01 to 240, got inf"),
    C("convert fps too high", convert("{in}/clip.mp4", "--fps", "241"), 2, "--fps must be from 0.01 to 240, got 241"),
    C("convert fps tiny", convert("{in}/clip.mp4", "--fps", "1e-300"), 2, "--fps must be from 0.01 to 240, got 1e-300"),
    C("start 1e308 seconds", convert("{in}/clip.mp4", "--start", "1e308"), 2, "start time must be at most 10000000 seconds, got 1e+308"),
    C("end 1e308 seconds", convert("{in}/clip.mp4", "--end", "1e308"), 2, "end time must be at most 10000000 seconds, got 1e+308"),
    C("start past the clip's end", convert("{in}/clip.mp4", "--start", "5000"), 2, "the chosen range holds no frames"),
    C("every 0", convert("{in}/clip.mp4", "--every", "0"), 2, "every n-th frame needs n of 1 or more, got 0"),
    C("every negative", convert("{in}/clip.mp4", "--every", "-2"), 2, "every n-th frame needs n of 1 or more, got -2"),
    C("max-frames 0", convert("{in}/clip.mp4", "--max-frames", "0"), 2, "frame limit must be 1 or more, got 0"),
    C("max-frames negative", convert("{in}/clip.mp4", "--max-frames", "-1"), 2, "frame limit must be 1 or more, got -1"),
    C("size zero", convert("{in}/clip.mp4", "--size", "0x64"), 2, "size '0x64': expected WIDTHxHEIGHT"),
    C("size negative", convert("{in}/clip.mp4", "--size=-64x64"), 2, "size '-64x64': expected WIDTHxHEIGHT"),
    C("size three numbers", convert("{in}/clip.mp4", "--size", "64x64x3"), 2, "size '64x64x3': expected WIDTHxHEIGHT"),
    C("size past GIF's maximum", convert("{in}/clip.mp4", "--size", "70000x16"), 2, "GIF holds frames up to 65535 pixels a side"),
    C("size past WebP's maximum", convert("{in}/clip.mp4", "--size", "16384x16", output="{out}/o.webp"), 2, "WebP holds frames up to 16383 pixels a side"),
    C("size past H.264's maximum", convert("{in}/clip.mp4", "--size", "16386x16", output="{out}/o.mp4"), 2, "MP4 (H.264) holds frames up to 16384 pixels a side"),
    C("size past VP9's maximum", convert("{in}/clip.mp4", "--size", "65538x16", output="{out}/o.webm"), 2, "WebM (VP9) holds frames up to 65536 pixels a side"),
    C("size past memory", convert("{in}/clip.mp4", "--size", "60000x60000", output="{out}/frames"), 2,
      "of 60000x60000 need about", needs=("memory:259200000000",)),
    C("fps past memory (10 h clip at 240 fps)", convert("{in}/sparse.mp4", "--fps", "240", output="{out}/frames"), 2,
      "frames of 64x64 need about", needs=("memory:212336640000",)),
    C("start NaN", convert("{in}/clip.mp4", "--start", "nan"), 2, "start time must be a finite number, got nan"),
    C("start negative", convert("{in}/clip.mp4", "--start", "-1"), 2, "start time must be 0 or more seconds, got -1.0"),
    C("end inf", convert("{in}/clip.mp4", "--end", "inf"), 2, "end time must be a finite number, got inf"),
    C("end before start", convert("{in}/clip.mp4", "--start", "1", "--end", "0.5"), 2, "time range 1.0s-0.5s selects no frames"),
    C("frames negative start", convert("{in}/clip.mp4", "--frames=-1:4"), 2, "frame range '-1:4': expected A:B"),
    C("frames without colon", convert("{in}/clip.mp4", "--frames", "4"), 2, "frame range '4': expected A:B"),
    C("frames fractional", convert("{in}/clip.mp4", "--frames", "1.5:3"), 2, "frame range '1.5:3': expected A:B"),
    # -- inputs: empty, zero-byte, renamed, mixed sizes, bombs ----------------------------------
    C("zero-byte .mp4", convert("{in}/zero.mp4"), 2, "zero.mp4' cannot be read"),
    C("text named .gif", convert("{in}/text.gif"), 2, "text.gif' is not a readable image"),
    C("zero-byte .gif", convert("{in}/zero.gif"), 2, "zero.gif' is not a readable image"),
    C("GIF cut in half", convert("{in}/cut.gif"), 2, "cut.gif': the image data is damaged"),
    C("folder of frames of mixed sizes", convert("{in}/mixed"), 2, "all frames must have one size (or give --size WxH"),
    C("folder with no images", convert("{in}/notes"), 2, "holds no images"),
    C("folder holding only a folder", convert("{in}/nested"), 2, "holds no images"),
    C("folder named .mp4", convert("{in}/dir.mp4"), 2, "dir.mp4' holds no images"),
    C("zero-byte PNG in a folder", convert("{in}/zeroimg"), 2, "is not a readable image"),
    C("text named .png in a folder", convert("{in}/textimg"), 2, "is not a readable image"),
    C("PNG claiming 100000x100000", convert("{in}/bomb.png"), 2, "decompression bomb"),
    C("PNG claiming 10000x10000", convert("{in}/bomb-warning.png"), 2, "decompression bomb"),
    C("video2video zero-byte .gif", (*V2V, "--input", "{in}/zero.gif"), 2, "zero.gif' is not a readable image"),
    C("video2video folder with no images", (*V2V, "--input", "{in}/notes"), 2, "holds no images"),
    # -- forged or malformed metadata (--from-metadata) -----------------------------------------
    C("metadata not JSON", meta("not-json.json"), 2, "holds no AnimateDiff Studio settings"),
    C("metadata zero bytes", meta("zero.json"), 2, "holds no AnimateDiff Studio settings"),
    C("metadata a JSON list", meta("list.json"), 2, "holds no AnimateDiff Studio settings"),
    C("metadata frames as text", meta("frames-text.json"), 2, "frames must be a whole number from 1 to 1024, got '16'"),
    C("metadata newer schema", meta("newer-schema.json"), 2, "written by a newer AnimateDiff Studio (schema 99"),
    C("metadata newer container", meta("newer-metadata.json"), 2, "written by a newer AnimateDiff Studio (metadata version 99"),
    C("metadata huge frames", meta("huge-frames.json"), 2, "frames must be from 1 to 1024, got 1000000000000000000000000000000"),
    C("metadata huge seed", meta("huge-seed.json"), 2, "seed must be from 0 to"),
    C("metadata model not an object", meta("model-text.json"), 2, "generation settings are malformed"),
    C("metadata prompt travel key not a number", meta("travel-key.json"), 2, "generation settings are malformed"),
    C("metadata FreeU as text", meta("freeu-text.json"), 2, "generation settings are malformed"),
    C("metadata guidance NaN", meta("guidance-nan.json"), 2, "guidance must be a number from 0.0 to 50.0, got nan"),
    C("metadata nested 100000 deep", meta("deep.json"), 2, "holds no AnimateDiff Studio settings"),
    C("metadata 5000-digit number", meta("long-number.json"), 2, "holds no AnimateDiff Studio settings"),
    C("metadata VAE slicing as text", meta("vae-text.json"), 2, "vae slicing must be true or false, got 'no'"),
    C("metadata unknown mode", meta("mode.json"), 2, "mode must be one of text2video, video2video; got 'hack'"),
    # -- model files ----------------------------------------------------------------------------
    C("base model zero-byte .safetensors", gen("--base-model", "{in}/zero.safetensors"), 2, "the weights file is truncated or corrupt"),
    C("base model text named .safetensors", gen("--base-model", "{in}/text.safetensors"), 2, "the weights file is truncated or corrupt"),
    C("motion adapter zero-byte .safetensors", gen("--motion-adapter", "{in}/zero.safetensors"), 2, "motion adapter"),
    C("motion LoRA text named .safetensors", gen("--motion-lora", "{in}/text.safetensors"), 2, "motion LoRA"),
    C("motion adapter missing .safetensors", gen("--motion-adapter", "{in}/missing.safetensors"), 2, "no such file or folder"),
    C("base model is a PNG", gen("--base-model", "{in}/frames/in_000.png"), 2, "is not a model file"),
    # -- signals mid-run (real processes) ---------------------------------------------------------
    C("SIGTERM mid generate", ("generate",), 143, "terminated", signal=signal.SIGTERM),
    C("SIGINT mid convert (to the process group)", ("convert",), 130, "interrupted", signal=signal.SIGINT),
    C("SIGTERM mid convert", ("convert",), 143, "terminated", signal=signal.SIGTERM),
    # -- odd but valid: these work ----------------------------------------------------------------
    C("PNG named .mp4 (valid)", convert("{in}/png-named.mp4"), 0, "wrote"),
    C("JPEG named .png (valid)", convert("{in}/jpeg-named.png"), 0, "wrote"),
    C("mixed sizes with --size (valid)", convert("{in}/mixed", "--size", "64x64"), 0, "wrote"),
    C("video2video mixed sizes (valid)", (*V2V, "--input", "{in}/mixed"), 0, "wrote"),
    C("upper-case .GIF output (valid)", convert("{in}/clip.mp4", output="{out}/o.GIF"), 0, "wrote"),
]


# -- the inputs --------------------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (the data is one byte)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def metadata_files(folder: Path) -> None:
    from backend.core.request import GenerationRequest

    folder.mkdir()
    base = GenerationRequest(prompt="x", seed=1, width=64, height=64, frames=2, steps=1).to_dict()

    def wrap(request, version=1) -> str:
        return json.dumps({"format": "animatediff-studio/metadata", "version": version, "request": request})

    files = {
        "not-json.json": "this is not json {",
        "zero.json": "",
        "list.json": "[1, 2, 3]",
        "frames-text.json": wrap({**base, "frames": "16"}),
        "newer-schema.json": wrap({**base, "schema_version": 99}),
        "newer-metadata.json": wrap(base, version=99),
        "huge-frames.json": wrap({**base, "frames": 10**30}),
        "huge-seed.json": wrap({**base, "seed": 10**40}),
        "model-text.json": wrap({**base, "model": "abc"}),
        "travel-key.json": wrap({**base, "prompt_travel": {"x": "a"}}),
        "freeu-text.json": wrap({**base, "freeu": "abc"}),
        "guidance-nan.json": wrap({**base, "guidance": float("nan")}),
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "long-number.json": '{"format": "animatediff-studio/metadata", "version": 1, "request": {"frames": '
        + "9" * 5000 + "}}",
        "vae-text.json": wrap({**base, "model": {**base["model"], "vae_slicing": "no"}}),
        "mode.json": wrap({**base, "mode": "hack"}),
    }
    for name, text in files.items():
        (folder / name).write_text(text)


def build_inputs(folder: Path) -> None:
    """Every input file the table names, under `folder`."""
    import imageio_ffmpeg
    from PIL import Image

    from backend.media.writer import write_clip
    from tests.backend.test_video_io import moving_clip

    clip = moving_clip(count=12, width=64, height=64)
    write_clip(clip, folder / "clip.mp4", 8)
    write_clip(clip, folder / "clip.gif", 8)
    (folder / "cut.gif").write_bytes((folder / "clip.gif").read_bytes()[: (folder / "clip.gif").stat().st_size // 2])
    (folder / "frames").mkdir()
    for index, frame in enumerate(clip[:4]):
        Image.fromarray(frame).save(folder / "frames" / f"in_{index:03d}.png")
    (folder / "seq").mkdir()
    for index, frame in enumerate(clip[:2]):
        Image.fromarray(frame).save(folder / "seq" / f"frame_{index:05d}.png")
    (folder / "mixed").mkdir()
    Image.fromarray(clip[0]).save(folder / "mixed" / "a1.png")
    Image.fromarray(clip[1][:48, :40]).save(folder / "mixed" / "a2.png")
    Image.fromarray(np.repeat(np.repeat(clip[2], 2, 0), 2, 1)).save(folder / "mixed" / "a3.png")
    (folder / "notes").mkdir()
    (folder / "notes" / "readme.txt").write_text("no images here")
    (folder / "nested" / "inner").mkdir(parents=True)
    (folder / "dir.mp4").mkdir()
    (folder / "dir.gif").mkdir()
    (folder / "zeroimg").mkdir()
    (folder / "zeroimg" / "f1.png").write_bytes(b"")
    (folder / "textimg").mkdir()
    (folder / "textimg" / "f1.png").write_text("not an image")
    (folder / "zero.mp4").write_bytes(b"")
    (folder / "zero.gif").write_bytes(b"")
    (folder / "text.gif").write_text("GIF? no, text")
    Image.fromarray(clip[0]).save(folder / "png-named.mp4", format="PNG")
    Image.fromarray(clip[0]).save(folder / "jpeg-named.png", format="JPEG")
    (folder / "bomb.png").write_bytes(png_header(100_000, 100_000))
    (folder / "bomb-warning.png").write_bytes(png_header(10_000, 10_000))  # PIL warns, not refuses
    (folder / "zero.safetensors").write_bytes(b"")
    (folder / "text.safetensors").write_text("not weights")
    # Ten hours at one frame a minute: tiny on disk, a huge number of frames at 240 fps.
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=size=64x64:rate=1/60",
         "-t", "36000", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         str(folder / "sparse.mp4")],
        check=True, timeout=120,
    )
    metadata_files(folder / "meta")


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` with a hash of its bytes (folders: '-')."""
    result = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        result[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"
    return result


def fill(argv, inputs: Path, out: Path, models) -> list[str]:
    values = {"in": str(inputs), "out": str(out), "base": str(models.base), "adapter": str(models.motion_adapter)}
    return [part.format(**values) for part in argv]


def unmet(case: Case) -> str | None:
    """Why a row cannot be checked on this machine, or None."""
    for need in case.needs:
        if need == "seed32":
            from backend.core.request import SEED_RANGE

            if SEED_RANGE[1] != 2**32 - 1:
                return "the seed range is 0..2^32-1 once issue 9's request.py change is merged"
        if need.startswith("memory:"):
            from backend.core.limits import MEMORY_SHARE, available_memory

            if int(need.split(":")[1]) <= available_memory() * MEMORY_SHARE:
                return "this machine has the memory for it"
    return None


def run_case(case: Case, inputs: Path, out: Path, models) -> tuple[int, str]:
    """Run one table row in this process; returns (exit code, stderr)."""
    import contextlib
    import io

    from backend.cli.commands import main as cli_main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(fill(case.argv, inputs, out, models))
    return code, err.getvalue()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    build_inputs(folder)
    return folder


TABLE = [c for c in CASES if c.signal is None]


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_bad_input(case, inputs, demo_models, tmp_path):
    reason = unmet(case)
    if reason:
        pytest.skip(reason)
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(inputs)
    code, err = run_case(case, inputs, out, demo_models)
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert code == case.code, err
    if case.code == 0:
        assert any(p.name.startswith("o") or p.name == "frames" for p in out.iterdir())
    else:
        assert len(lines) == 1, err
        assert case.fragment in lines[0], lines[0]
        assert list(out.iterdir()) == []
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert snapshot(inputs) == before


def test_table_is_large_and_distinct():
    bad = [c for c in CASES if c.code != 0]
    assert len(bad) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
    assert len({c.argv for c in CASES if c.signal is None}) == len(TABLE)


# -- signals mid-run, in real processes ------------------------------------------------------------


def env() -> dict[str, str]:
    values = dict(os.environ)
    values["HF_HUB_OFFLINE"] = "1"
    values["PYTHONPATH"] = str(ROOT)
    return values


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """Enough video that writing it as WebM takes seconds, to signal mid-write."""
    import imageio_ffmpeg

    path = tmp_path_factory.mktemp("long") / "long.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
         "-t", "20", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=120,
    )
    return path


def signal_mid_run(argv: list[str], out: Path, ready, sig: int) -> tuple[int, str]:
    """Start `python main.py argv` in its own process group, wait until `ready(stderr so far)`,
    send `sig` (SIGINT to the whole group, as a terminal's Ctrl+C does)."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *argv], env=env(), stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL, start_new_session=True,
    )
    seen = bytearray()
    started = threading.Event()

    def read() -> None:
        while chunk := process.stderr.read1(4096):
            seen.extend(chunk)
            if ready(seen):
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 180
    while not started.is_set() and not ready(seen) and time.monotonic() < deadline:
        if process.poll() is not None:
            break
        time.sleep(0.05)
    assert process.poll() is None, f"finished before the signal: {seen.decode(errors='replace')}"
    time.sleep(0.2)
    if sig == signal.SIGINT:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    code = process.wait(120)
    reader.join(5)
    return code, seen.decode(errors="replace")


SIGNALS = [c for c in CASES if c.signal is not None]


@pytest.mark.parametrize("case", SIGNALS, ids=[c.name for c in SIGNALS])
def test_signal_mid_run(case, demo_models, long_clip, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    if case.argv[0] == "generate":
        argv = fill(GEN, tmp_path, out, demo_models)
        argv += ["--steps", "500", "--frames", "8", "--output", str(out / "o.mp4")]
        argv.remove("--quiet")

        def ready(seen):
            return b"denoising" in seen
    else:
        before = snapshot(long_clip.parent)
        argv = ["convert", str(long_clip), "--output", str(out / "o.webm"), "--size", "640x480"]

        def ready(seen):
            # The WebM writer has started: its temporary file is beside the target.
            return any(p.name.endswith(".tmp.webm") for p in out.iterdir())
    code, err = signal_mid_run(argv, out, ready, case.signal)
    lines = [line for line in err.splitlines() if line.strip() and "denoising" not in line and "loading" not in line]
    assert code == case.code, err
    assert "Traceback" not in err
    assert lines[-1:] == [f"animatediff-studio: {case.fragment}"], err
    assert list(out.iterdir()) == []
    if case.argv[0] == "convert":
        assert snapshot(long_clip.parent) == before
