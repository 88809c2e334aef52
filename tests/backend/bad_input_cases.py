"""The second round of bad inputs (issue 19), added to test_bad_inputs.CASES: pickles that would
run code in every loader (a marker file shows whether one ran), damaged model files, odd file
names (`-`, `concat:`, `file:`, URLs, names past 255 bytes, non-UTF-8), read-only and vanished
output folders, a disk that fills during an export (RLIMIT_FSIZE: works without root), and
projects whose frames claim more bytes than their take can hold.

`more_cases(...)` returns the rows; `build_more_inputs(folder, models)` makes their files.
Placeholders as in the table: {in}, {out}, {base}, {adapter}.
"""

from __future__ import annotations

import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np

MARKER = "RAN-CODE"  # a code-running pickle here creates this file in the inputs folder
LONG = "a" * 300
WIDE = "\u00e9" * 128  # 256 bytes in UTF-8, 128 characters
NON_UTF8 = os.fsdecode(b"o\xff\xfe.gif")


class CodeRunning:
    """Unpickling this calls open(path, "w"): code running at load time, and harmless."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def more_cases(C, gen, convert, GEN) -> list:  # noqa: N803 - the table's own names
    loud = tuple(part for part in GEN if part != "--quiet")
    pickle_message = "is a pickle file that needs to run code to load; use a .safetensors file, or pass --allow-pickle"
    run = "pickle-marker"
    fsize = "fsize:20000"
    export = ("export", "{in}/project.adsproj")
    return [
        # -- pickles that would run code, in every loader -------------------------------------
        C("base model .ckpt running code", gen("--base-model", "{in}/pk/evil.ckpt"), 2, pickle_message, needs=(run,)),
        C("base model .ckpt running code, estimate first (no --quiet)", (*loud, "--base-model", "{in}/pk/evil.ckpt"), 2,
          pickle_message, needs=(run,)),
        C("base model folder with a code-running unet .bin", gen("--base-model", "{in}/pk/base"), 2, pickle_message, needs=(run,)),
        C("motion adapter .pt running code", gen("--motion-adapter", "{in}/pk/evil.pt"), 2, pickle_message, needs=(run,)),
        C("motion adapter folder with a code-running .bin", gen("--motion-adapter", "{in}/pk/adapter"), 2, pickle_message,
          needs=(run,)),
        C("motion LoRA .bin running code", gen("--motion-lora", "{in}/pk/evil.bin"), 2, pickle_message, needs=(run,)),
        C("motion LoRA folder with a code-running .bin", gen("--motion-lora", "{in}/pk/lora"), 2, pickle_message, needs=(run,)),
        C("image LoRA .pth running code", gen("--lora", "{in}/pk/evil.pth"), 2, pickle_message, needs=(run,)),
        C("embedding .pt running code", gen("--embedding", "{in}/pk/evil-embedding.pt"), 2, pickle_message, needs=(run,)),
        C("embedding folder with only a code-running learned_embeds.bin", gen("--embedding", "{in}/pk/embedding"), 2,
          pickle_message, needs=(run,)),
        C("metadata asking for pickles, code-running base model",
          ("generate", "--from-metadata", "{in}/pk/allow-pickle.json", "--output", "{out}/o.gif", "--quiet"), 2,
          pickle_message, needs=(run,)),
        C("embedding pickle of plain numbers, no tensors", gen("--embedding", "{in}/pk/numbers.pt"), 2,
          "numbers.pt' could not be loaded: Loaded state dictionary is incorrect"),
        C("tensor-only embedding .pt, no --allow-pickle (valid)", gen("--embedding", "{in}/pk/tensors.pt:<tp>"), 0, "wrote"),
        # -- damaged model files -----------------------------------------------------------------
        C("base model folder, unet weights truncated", gen("--base-model", "{in}/damaged/base-cut"), 2,
          "the weights file is truncated or corrupt (Error while deserializing header: incomplete metadata"),
        C("base model folder, unet weights truncated, estimate first", (*loud, "--base-model", "{in}/damaged/base-cut"), 2,
          "the weights file is truncated or corrupt"),
        C("motion adapter config.json not JSON", gen("--motion-adapter", "{in}/damaged/adapter-json"), 2,
          "a configuration file (.json) in it is damaged or not JSON; download the model again"),
        C("zero-byte .ckpt base model", gen("--base-model", "{in}/damaged/zero.ckpt"), 2, "the weights file is truncated or corrupt"),
        C("image LoRA zero-byte .safetensors", gen("--lora", "{in}/zero.safetensors"), 2, "LoRA"),
        C("embedding .pt cut in half", gen("--embedding", "{in}/damaged/cut.pt"), 2, "the weights file is truncated or corrupt"),
        # -- output names and folders ------------------------------------------------------------
        C("output empty", gen("--output", ""), 2, "--output is empty; give a file name"),
        C("output name of 300 characters", gen("--output", f"{{out}}/{LONG}.gif"), 2,
          "a name in it is 304 bytes long; this file system allows 255, so choose a shorter name"),
        C("output name of 128 characters, 260 bytes", convert("{in}/clip.mp4", output=f"{{out}}/{WIDE}.gif"), 2,
          "a name in it is 260 bytes long"),
        C("output in a read-only folder (/proc)", convert("{in}/clip.mp4", output="/proc/o.gif"), 2, "cannot write in '/proc'"),
        C("output folder vanished (a dangling link)", convert("{in}/clip.mp4", output="{in}/vanished/o.gif"), 2,
          "vanished' does not exist"),
        C("non-UTF-8 output name (valid)", convert("{in}/clip.mp4", output=f"{{out}}/{NON_UTF8}"), 0, "wrote"),
        C("export --fps 0", (*export, "--output", "{out}/o.gif", "--fps", "0"), 2, "--fps must be from 0.01 to 240, got 0"),
        C("export --fps NaN", (*export, "--output", "{out}/o.gif", "--fps", "nan"), 2, "--fps must be from 0.01 to 240, got nan"),
        C("project frame declaring 50 MB for 64x64", ("export", "{in}/inflating.adsproj", "--output", "{out}/o.gif"), 2,
          "declares 52428800 bytes; a 64x64 frame needs at most"),
        # -- a disk that fills during the export (a real process under RLIMIT_FSIZE) --------------
        C("disk fills during an MP4 export", convert("{in}/clip.mp4", "--size", "1024x1024", output="{out}/o.mp4"), 1,
          "the disk is full (or the file is larger than this system allows); free some space", needs=(fsize,)),
        C("disk fills during a GIF export", convert("{in}/clip.mp4", "--size", "1024x1024", output="{out}/o2.gif"), 1,
          "the disk is full", needs=(fsize,)),
        C("disk fills during a PNG folder export", convert("{in}/clip.mp4", "--size", "1024x1024", output="{out}/frames"), 1,
          "the disk is full", needs=(fsize,)),
        # -- odd input names (relative to the inputs folder) ---------------------------------------
        C("input named - (valid, not standard input)", convert("-", output="{out}/o.gif"), 0, "wrote", needs=("cwd",)),
        C("input named concat:clip.mp4 (valid, not a protocol)", convert("concat:clip.mp4", output="{out}/o.gif"), 0, "wrote",
          needs=("cwd",)),
        C("concat: protocol as input", convert("concat:clip.mp4|clip.mp4", output="{out}/o.gif"), 2, "no such file",
          needs=("cwd",)),
        C("file: URL as input", convert("file:clip.mp4", output="{out}/o.gif"), 2, "no such file", needs=("cwd",)),
        C("http URL as input (never fetched)", convert("http://127.0.0.1:9/clip.mp4", output="{out}/o.gif"), 2, "no such file"),
        C("input name of 300 characters", convert(f"{{in}}/{LONG}.mp4"), 2, "the name is longer than this file system allows"),
        C("non-UTF-8 input name (valid)", convert(os.fsdecode(b"clip-\xff.mp4"), output="{out}/o.gif"), 0, "wrote",
          needs=("cwd",)),
        # -- the inputs of this round's features: finishing, guidance, a start image ------------
        C("interpolate by 3", gen("--interpolate", "3"), 2, "--interpolate takes 2 or 4, got 3"),
        C("upscale factor 0", gen("--upscale", "0", "--upscale-model", "{in}/none.safetensors"), 2,
          "--upscale takes a factor above 1 and up to 8, got 0"),
        C("interpolation scale 3", gen("--interpolate", "2", "--interpolation-scale", "3"), 2,
          "--interpolation-scale takes 0.25, 0.5, 1, 2 or 4, got 3"),
        C("interpolation model .ckpt running code", gen("--interpolate", "2", "--interpolation-model", "{in}/pk/evil.ckpt"),
          2, pickle_message, needs=(run,)),
        C("upscale model .ckpt running code", gen("--upscale-model", "{in}/pk/evil.ckpt"), 2, pickle_message, needs=(run,)),
        C("control without a source", gen("--control", "model={base}"), 2, "text-to-video needs source=PATH"),
        C("control source that does not exist", gen("--control", "model={base},source={in}/no-such-clip"), 2,
          "no-such-clip': no such file or folder"),
        C("start image on an AnimateDiff model", gen("--image", "{in}/clip.mp4"), 2,
          "AnimateDiff models cannot start from an image (--image); models that can: Wan2.2-TI2V-5B"),
    ]


def _pickle_to(path: Path, value) -> None:
    path.write_bytes(pickle.dumps(value))


def build_more_inputs(folder: Path, models) -> None:
    import torch

    from backend.core.request import GenerationRequest
    from backend.project.project_file import append_take

    marker = str(folder / MARKER)
    pk = folder / "pk"
    pk.mkdir()
    for name in ("evil.ckpt", "evil.pt", "evil.bin", "evil.pth", "evil-embedding.pt"):
        _pickle_to(pk / name, CodeRunning(marker))
    (pk / "base" / "unet").mkdir(parents=True)
    (pk / "base" / "model_index.json").write_text("{}")
    _pickle_to(pk / "base" / "unet" / "diffusion_pytorch_model.bin", CodeRunning(marker))
    (pk / "adapter").mkdir()
    (pk / "adapter" / "config.json").write_text("{}")
    _pickle_to(pk / "adapter" / "diffusion_pytorch_model.bin", CodeRunning(marker))
    (pk / "lora").mkdir()
    _pickle_to(pk / "lora" / "pytorch_lora_weights.bin", CodeRunning(marker))
    (pk / "embedding").mkdir()
    _pickle_to(pk / "embedding" / "learned_embeds.bin", CodeRunning(marker))
    torch.save({"<tp>": torch.zeros(32)}, pk / "tensors.pt")
    torch.save({"a": 1, "b": [2, 3]}, pk / "numbers.pt")
    request = GenerationRequest(prompt="x", seed=1, width=64, height=64, frames=2, steps=1)
    data = request.to_dict()
    data["model"]["base_model"] = str(pk / "evil.ckpt")
    data["model"]["motion_adapter"] = str(models.motion_adapter)
    data["model"]["allow_pickle"] = True
    import json

    (pk / "allow-pickle.json").write_text(json.dumps(
        {"format": "animatediff-studio/metadata", "version": 1, "request": data}))

    damaged = folder / "damaged"
    damaged.mkdir()
    shutil.copytree(models.base, damaged / "base-cut")
    weights = damaged / "base-cut" / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    shutil.copytree(models.motion_adapter, damaged / "adapter-json")
    (damaged / "adapter-json" / "config.json").write_text("{not json")
    (damaged / "zero.ckpt").write_bytes(b"")
    torch.save({"<cut>": torch.zeros(32)}, damaged / "whole.pt")
    whole = (damaged / "whole.pt").read_bytes()
    (damaged / "cut.pt").write_bytes(whole[: len(whole) // 2])
    (damaged / "whole.pt").unlink()

    (folder / "vanished").symlink_to(folder / "gone-folder")
    clip = (folder / "clip.mp4").read_bytes()
    (folder / "-").write_bytes(clip)
    (folder / "concat:clip.mp4").write_bytes(clip)
    (folder / os.fsdecode(b"clip-\xff.mp4")).write_bytes(clip)

    frames = np.zeros((2, 64, 64, 3), np.uint8)
    append_take(folder / "project.adsproj", frames, request)
    append_take(folder / "inflating.adsproj", frames, request)
    _inflate_first_frame(folder / "inflating.adsproj", 50 * 2**20)


def _inflate_first_frame(path: Path, size: int) -> None:
    """Rewrite the project with its first frame member replaced by `size` zero bytes, deflated
    (a few KB on disk)."""
    rewritten = path.with_name(path.name + ".new")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(rewritten, "w") as target:
        frames = [name for name in source.namelist() if name.endswith(".png")]
        for info in source.infolist():
            if info.filename == frames[0]:
                target.writestr(info.filename, b"\0" * size, compress_type=zipfile.ZIP_DEFLATED)
            else:
                target.writestr(info, source.read(info))
    rewritten.replace(path)
