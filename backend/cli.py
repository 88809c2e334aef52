"""The headless command line: `python main.py generate|video2video|demo-model ...`.

Exit status: 0 done; 2 bad arguments or input (one line on stderr, no traceback); 1 a failure
while running; 130 interrupted. Nothing is written until the frames exist, and writes are atomic,
so a failed or interrupted run leaves no partial output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from backend.errors import Cancelled, InputError, StudioError
from backend.request import (
    DEFAULT_BASE_MODEL,
    DEFAULT_MOTION_ADAPTER,
    DEVICES,
    DTYPES,
    FREE_INIT_METHODS,
    OFFLOADS,
    SCHEDULER_NAMES,
    GenerationRequest,
    ModelSpec,
    MotionLora,
)

PROG = "animatediff-studio"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMANDS = ("generate", "video2video", "demo-model")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line (exit 2), not usage plus a message."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        raise InputError(f"{self.prog}: {message}")


def parse_motion_lora(text: str) -> MotionLora:
    source, weight = text, 1.0
    if ":" in text and not os.path.exists(os.path.expanduser(text)):
        head, tail = text.rsplit(":", 1)
        try:
            weight = float(tail)
        except ValueError:
            raise InputError(
                f"--motion-lora {text!r}: the weight after ':' must be a number, e.g. {head}:0.8"
            ) from None
        source = head
    if not source.strip():
        raise InputError(f"--motion-lora {text!r}: the LoRA path or hub id is empty")
    return MotionLora(source, weight)


def parse_prompt_at(text: str) -> tuple[int, str]:
    frame, sep, prompt = text.partition(":")
    if not sep or not frame.strip().isdigit():
        raise InputError(f"--prompt-at {text!r}: expected FRAME:TEXT with FRAME a frame number, e.g. 8:a red sky")
    if not prompt.strip():
        raise InputError(f"--prompt-at {text!r}: the prompt after ':' is empty")
    return int(frame), prompt.strip()


def parse_freeu(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InputError(f"--freeu {text!r}: expected four numbers S1,S2,B1,B2, e.g. 0.9,0.2,1.2,1.4")
    return values  # type: ignore[return-value]


def _add_generation_options(parser: argparse.ArgumentParser, video: bool) -> None:
    defaults = GenerationRequest()
    parser.add_argument("--prompt", required=True, help="what to animate")
    parser.add_argument("--output", required=True, help=".gif .mp4 .webm .webp, or a folder for PNG frames")
    parser.add_argument("--negative-prompt", default="", help="what to avoid")
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL, help="hub id, diffusers folder or .safetensors file")
    parser.add_argument("--motion-adapter", default=DEFAULT_MOTION_ADAPTER, help="hub id or diffusers folder")
    parser.add_argument("--motion-lora", action="append", default=[], metavar="PATH_OR_ID[:WEIGHT]")
    parser.add_argument("--frames", type=int, default=defaults.frames, help="frames to generate (video2video: at most this many input frames)")
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--guidance", type=float, default=defaults.guidance)
    parser.add_argument("--seed", type=int, default=None, help="random when not given; printed with --json")
    parser.add_argument("--scheduler", default=defaults.scheduler, choices=SCHEDULER_NAMES)
    parser.add_argument("--fps", type=int, default=defaults.fps)
    parser.add_argument("--clip-skip", type=int, default=None)
    parser.add_argument("--free-init", type=int, default=0, metavar="ITERS", help="FreeInit iterations (0: off)")
    parser.add_argument("--free-init-method", default="butterworth", choices=FREE_INIT_METHODS)
    parser.add_argument("--free-init-fast", action="store_true", help="FreeInit coarse-to-fine sampling")
    parser.add_argument("--freeu", default=None, metavar="S1,S2,B1,B2")
    parser.add_argument("--context-length", type=int, default=None, help="FreeNoise window, for clips longer than the motion module's")
    parser.add_argument("--context-stride", type=int, default=4)
    parser.add_argument("--prompt-at", action="append", default=[], metavar="FRAME:TEXT", help="prompt travel")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--dtype", default="auto", choices=DTYPES)
    parser.add_argument("--offload", default="none", choices=OFFLOADS)
    parser.add_argument("--vae-slicing", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--vae-tiling", action="store_true")
    parser.add_argument("--allow-pickle", action="store_true", help="allow .ckpt/.bin/.pt weights (they can run code)")
    parser.add_argument("--json", action="store_true", help="print the request and output paths as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    if video:
        parser.add_argument("--input", required=True, help="video file, animated GIF/WebP or folder of frames")
        parser.add_argument("--strength", type=float, default=defaults.strength)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="AnimateDiff Studio. Without a command it opens the window: "
        f"{PROG} [gui] [PROJECT] [--base-model M] [--motion-adapter A]",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_generation_options(commands.add_parser("generate", help="text to video"), video=False)
    _add_generation_options(commands.add_parser("video2video", help="video to video"), video=True)
    demo = commands.add_parser("demo-model", help="write the tiny random-weight demo models")
    demo.add_argument("dir")
    return parser


def request_from_args(args: argparse.Namespace) -> GenerationRequest:
    model = ModelSpec(
        base_model=args.base_model,
        motion_adapter=args.motion_adapter,
        motion_loras=tuple(parse_motion_lora(item) for item in args.motion_lora),
        device=args.device,
        dtype=args.dtype,
        offload=args.offload,
        vae_slicing=args.vae_slicing,
        vae_tiling=args.vae_tiling,
        allow_pickle=args.allow_pickle,
    )
    travel = dict(parse_prompt_at(item) for item in args.prompt_at)
    video = args.command == "video2video"
    request = GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        mode="video2video" if video else "text2video",
        prompt_travel=travel,
        frames=args.frames,
        width=args.width,
        height=args.height,
        steps=args.steps,
        guidance=args.guidance,
        seed=args.seed,
        scheduler=args.scheduler,
        fps=args.fps,
        clip_skip=args.clip_skip,
        input_video=args.input if video else None,
        strength=args.strength if video else GenerationRequest.strength,
        free_init_iters=args.free_init,
        free_init_method=args.free_init_method,
        free_init_fast=args.free_init_fast,
        freeu=parse_freeu(args.freeu) if args.freeu else None,
        context_length=args.context_length,
        context_stride=args.context_stride,
        model=model,
    )
    request.validate()
    return request


class _ProgressBar:
    """A tqdm bar on stderr that follows the job's phases."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None

    def __call__(self, progress) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if progress.phase == "loading":
            print("loading models...", file=sys.stderr, flush=True)
            return
        if self.bar is None and progress.total:
            self.bar = tqdm(total=progress.total, desc="denoising", unit="step", file=sys.stderr)
        if self.bar is not None:
            if progress.total != self.bar.total:
                self.bar.total = progress.total
            self.bar.set_description(progress.phase)
            self.bar.update(progress.step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def quiet_libraries() -> None:
    """Library chatter (download bars, deprecation notes) is not for our users' terminals."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def run_generate(args: argparse.Namespace) -> int:
    from backend.video_io import check_output_writable, write_frames

    request = request_from_args(args)
    check_output_writable(args.output)
    if request.mode == "video2video" and not Path(os.path.expanduser(request.input_video)).exists():
        raise InputError(f"--input {request.input_video!r}: no such file or folder")
    quiet_libraries()
    from backend.engine import generate

    bar = _ProgressBar(enabled=not args.quiet)
    try:
        result = generate(request, on_progress=bar)
    finally:
        bar.close()
    outputs = write_frames(result.frames, args.output, request.fps)
    if args.json:
        summary = {
            "request": result.request.to_dict(),
            "output": str(Path(args.output)),
            "files": [str(p) for p in outputs],
            "frames": int(result.frames.shape[0]),
            "size": [int(result.frames.shape[2]), int(result.frames.shape[1])],
            "device": result.device,
            "seconds": round(result.duration, 3),
        }
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {args.output} ({result.frames.shape[0]} frames, seed {result.request.seed})", file=sys.stderr)
    return EXIT_OK


def run_demo_model(args: argparse.Namespace) -> int:
    from backend.demo_model import write_demo_model

    target = Path(os.path.expanduser(args.dir))
    if target.exists() and not target.is_dir():
        raise InputError(f"demo-model {args.dir!r} is a file; give a folder")
    if not target.parent.is_dir():
        raise InputError(f"demo-model {args.dir!r}: the folder {str(target.parent)!r} does not exist")
    quiet_libraries()
    paths = write_demo_model(target)
    print(f"base model:     {paths.base}")
    print(f"motion adapter: {paths.motion_adapter}")
    print(f"motion LoRA:    {paths.motion_lora}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "demo-model":
            return run_demo_model(args)
        return run_generate(args)
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (Cancelled, KeyboardInterrupt):
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StudioError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - last resort: one clear line, not a traceback
        if os.environ.get("ANIMATEDIFF_STUDIO_DEBUG"):
            raise
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
