"""The headless command line: `python main.py generate|video2video|demo-model ...`.

Exit status: 0 done; 2 bad arguments or input (one line on stderr, no traceback); 1 a failure
while running; 130 interrupted (Ctrl+C, SIGINT); 143 terminated (SIGTERM, as a shell reports a
process killed by it, 128 + 15). Nothing is written until the frames exist, and writes are atomic,
so a failed or interrupted run leaves no partial output.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backend import cli_remote
from backend.errors import Cancelled, InputError, StudioError
from backend.guidance import (
    PREPROCESSORS,
    parse_control,
    parse_keyframe,
    parse_reference,
    parse_sparse_control,
)
from backend.request import (
    SETTINGS,
    Embedding,
    GenerationRequest,
    ImageLora,
    MotionLora,
    Setting,
)

PROG = "animatediff-studio"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_TERMINATED = 128 + signal.SIGTERM
COMMANDS = (
    "generate", "video2video", "convert", "export", "demo-model", "models", "worker", "batch",
    "preprocess",
)


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so the same cleanup as for Ctrl+C runs (temporary
    files removed, ffmpeg stopped) before the process exits 143."""


def _raise_terminated(signum, frame):
    raise Terminated()


def check_not_input(output: str, source: str | None, option: str) -> None:
    """The output must not overwrite its own input: the same file or folder, or a frame file the
    PNG writer would replace."""
    if not source:
        return
    from backend.video_writer import FRAME_PATTERN, output_format

    source_path = Path(os.path.expanduser(source)).resolve()
    output_path = Path(os.path.expanduser(output)).resolve()
    overwritten = source_path == output_path or (
        output_format(output) == "folder"
        and source_path.parent == output_path
        and re.fullmatch(FRAME_PATTERN.replace("{:05d}", r"\d{5,}"), source_path.name)
    )
    if overwritten:
        raise InputError(f"--output {output!r} would overwrite the {option} {source!r}; write elsewhere")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line (exit 2), not usage plus a message."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        found = re.fullmatch(r"argument (--[\w-]+): expected one argument", message)
        if found:
            # argparse takes a value like -1,0.2 or -1:sky for another option.
            message += f" (a value starting with '-' goes as {found.group(1)}=VALUE)"
        raise InputError(f"{self.prog}: {message}")


def parse_motion_lora(text: str, option: str = "--motion-lora", cls=MotionLora) -> MotionLora:
    source, weight = text, 1.0
    if ":" in text and not os.path.exists(os.path.expanduser(text)):
        head, tail = text.rsplit(":", 1)
        try:
            weight = float(tail)
        except ValueError:
            raise InputError(
                f"{option} {text!r}: the weight after ':' must be a number, e.g. {head}:0.8"
            ) from None
        source = head
    if not source.strip():
        raise InputError(f"{option} {text!r}: the LoRA path or hub id is empty")
    return cls(source, weight)


def parse_embedding(text: str) -> Embedding:
    source, token = text, None
    if ":" in text and not os.path.exists(os.path.expanduser(text)):
        head, tail = text.rsplit(":", 1)
        if "/" not in tail and "\\" not in tail:
            source, token = head, tail.strip()
            if not token:
                raise InputError(f"--embedding {text!r}: the token after ':' is empty")
    if not source.strip():
        raise InputError(f"--embedding {text!r}: the embedding path is empty")
    return Embedding(source, token)


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


# Settings whose command-line text needs parsing into the field's value.
_CONVERTERS: dict[str, Any] = {
    "prompt_travel": lambda items: dict(parse_prompt_at(i) for i in items),
    "freeu": lambda v: parse_freeu(v) if v else None,
    "motion_loras": lambda items: tuple(parse_motion_lora(i) for i in items),
    "loras": lambda items: tuple(parse_motion_lora(i, "--lora", ImageLora) for i in items),
    "embeddings": lambda items: tuple(parse_embedding(i) for i in items),
    "controls": lambda items: tuple(parse_control(i) for i in items),
    "keyframes": lambda items: tuple(parse_keyframe(i) for i in items),
    "sparse_control": lambda v: parse_sparse_control(v) if v else None,
    "ip_adapter": lambda v: parse_reference(v) if v else None,
}


def setting_argument(setting: Setting) -> dict[str, Any]:
    """argparse keywords for a declared setting's option (backend/request.py)."""
    kwargs: dict[str, Any] = {"help": setting.help.replace("%", "%%"), "default": setting.default}
    if setting.metavar:
        kwargs["metavar"] = setting.metavar
    if setting.repeat:
        kwargs.update(action="append", default=[])
    elif isinstance(setting.default, bool):
        kwargs["action"] = argparse.BooleanOptionalAction if setting.default else "store_true"
    elif setting.choices:
        kwargs["choices"] = setting.choices
    elif setting.range is not None and not setting.parts:
        kwargs["type"] = type(setting.range[0])
    if setting.name == "preset":
        # A preset is applied over the other options, so "not given" has to stay visible.
        kwargs["default"] = None
    return kwargs


def _add_generation_options(parser: argparse.ArgumentParser, video: bool, batch: bool = False) -> None:
    parser.add_argument("--from-metadata", metavar="FILE", help="re-run the settings stored in an exported file (or its .json); options given here override them")
    if not batch:
        parser.add_argument("--output", required=True, help=".gif .mp4 .webm .webp, or a folder for PNG frames")
    for setting in SETTINGS.values():
        if setting.flag and setting.mode in (None, "video2video" if video else "text2video"):
            parser.add_argument(setting.flag, **setting_argument(setting))
    parser.add_argument("--project", metavar="FILE", help="also save the result as a take in this project (.adsproj; created if missing)")
    parser.add_argument("--json", action="store_true", help="print the request and output paths as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_output_options(parser)
    cli_remote.add_remote_options(parser)


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    from backend.video_writer import GIF_DITHERS

    parser.add_argument("--gif-dither", default="none", choices=GIF_DITHERS, help="GIF dithering (none is smallest and never flickers)")
    parser.add_argument("--crf", type=int, default=None, help="MP4/WebM quality: lower is better (MP4 18, WebM 32 by default)")
    parser.add_argument("--loop", type=int, default=0, help="GIF/WebP: 0 loops forever, -1 plays once, N repeats N times")
    parser.add_argument("--pingpong", action="store_true", help="play forward then backward")
    parser.add_argument("--webp-quality", type=int, default=None, help="lossy WebP at this quality (lossless when not given)")
    parser.add_argument("--sidecar", action="store_true", help="also write the settings to <output>.json")


def write_options(args: argparse.Namespace):
    from backend.video_writer import WriteOptions

    return WriteOptions(
        gif_dither=args.gif_dither,
        loop=args.loop,
        pingpong=args.pingpong,
        crf=args.crf,
        webp_quality=args.webp_quality,
        sidecar=args.sidecar,
    )


def build_parser() -> argparse.ArgumentParser:
    from backend.video_reader import RESIZE_MODES

    parser = _Parser(
        prog=PROG,
        description="AnimateDiff Studio. Without a command it opens the window: "
        f"{PROG} [gui] [PROJECT] [--base-model M] [--motion-adapter A]",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    required = "--prompt is required unless --from-metadata gives the settings"
    _add_generation_options(commands.add_parser("generate", help="text to video", description=f"Text to video. {required}."), video=False)
    _add_generation_options(commands.add_parser("video2video", help="video to video", description=f"Video to video. {required}, and so is --input."), video=True)
    convert = commands.add_parser("convert", help="re-encode a clip into another format")
    convert.add_argument("input", help="video file, animated GIF/WebP, image, or folder of frames")
    convert.add_argument("--output", required=True, help=".gif .mp4 .webm .webp, or a folder for PNG frames")
    convert.add_argument("--fps", type=float, default=None, help="output rate; a timed input is resampled to it (keeping its speed), frames without timing play at it (default: the input's, or 8)")
    convert.add_argument("--frames", default=None, metavar="A:B", help="frame range, 0-based, B exclusive")
    convert.add_argument("--start", type=float, default=None, metavar="SECONDS")
    convert.add_argument("--end", type=float, default=None, metavar="SECONDS")
    convert.add_argument("--every", type=int, default=1, metavar="N", help="keep every N-th frame")
    convert.add_argument("--max-frames", type=int, default=None)
    convert.add_argument("--size", default=None, metavar="WxH")
    convert.add_argument("--resize", default="crop", choices=RESIZE_MODES, help="crop: cover and crop; pad: fit and pad; fit: stretch")
    _add_output_options(convert)
    export = commands.add_parser("export", help="export a take of a project")
    export.add_argument("project", help="an .adsproj project file")
    export.add_argument("--output", required=True, help=".gif .mp4 .webm .webp, or a folder for PNG frames")
    export.add_argument("--take", type=int, default=-1, help="take number, 1-based (default: the latest)")
    export.add_argument("--fps", type=float, default=None, help="default: the take's fps")
    _add_output_options(export)
    preprocess = commands.add_parser("preprocess", help="write a control video's preprocessed frames as PNGs")
    preprocess.add_argument("kind", choices=PREPROCESSORS[1:], help="canny, lineart or depth")
    preprocess.add_argument("--input", required=True, help="video file, animated GIF/WebP, image, or folder of frames")
    preprocess.add_argument("--output", required=True, help="a folder for frame_00000.png, frame_00001.png, ...")
    demo = commands.add_parser("demo-model", help="write the tiny random-weight demo models")
    demo.add_argument("dir")
    cli_remote.add_commands(commands)

    from backend.cli_models import add_parser as add_models_parser

    add_models_parser(commands)
    return parser


# CLI option (dest) -> (GenerationRequest field or "model.<field>", converter). The preset is
# applied apart, over the rest (request_from_args).
_REQUEST_OPTIONS: dict[str, tuple[str, Any]] = {
    setting.flag[2:].replace("-", "_"): (setting.path, _CONVERTERS.get(setting.name))
    for setting in SETTINGS.values()
    if setting.flag and setting.name != "preset"
}


def explicit_options(argv: Sequence[str]) -> set[str]:
    """The option names (dests) the user actually typed, defaults excluded."""
    probe = build_parser()
    for action in probe._subparsers._group_actions[0].choices[argv[0]]._actions:  # noqa: SLF001
        action.default = argparse.SUPPRESS
    return set(vars(probe.parse_args(list(argv)))) - {"command"}


def request_from_args(args: argparse.Namespace, given: set[str] | None = None) -> GenerationRequest:
    """The request the arguments describe: from --from-metadata with the typed options on top,
    or from the options and their defaults."""
    if args.from_metadata:
        from backend.metadata import read_metadata

        base = GenerationRequest.from_dict(read_metadata(args.from_metadata)["request"])
        names = given if given is not None else set()
    else:
        if not args.prompt:
            raise InputError(f"{args.command}: --prompt is required (or --from-metadata FILE)")
        if args.command == "video2video" and not args.input:
            raise InputError("video2video: --input is required (a video file or a folder of frames)")
        base = GenerationRequest(mode="video2video" if args.command == "video2video" else "text2video")
        names = {name for name in _REQUEST_OPTIONS if hasattr(args, name)}
    changes: dict[str, Any] = {}
    model_changes: dict[str, Any] = {}
    for name in names:
        if name not in _REQUEST_OPTIONS or not hasattr(args, name):
            continue
        field, convert = _REQUEST_OPTIONS[name]
        value = getattr(args, name)
        value = convert(value) if convert else value
        if field.startswith("model."):
            model_changes[field[6:]] = value
        else:
            changes[field] = value
    if args.command == "video2video" and "input_video" in changes:
        changes["mode"] = "video2video"
    if model_changes:
        changes["model"] = dataclasses.replace(base.model, **model_changes)
    request = base.replace(**changes)
    if getattr(args, "preset", None):
        from backend.presets import apply_preset

        typed = {_REQUEST_OPTIONS[name][0] for name in (given or set()) if name in _REQUEST_OPTIONS}
        request = apply_preset(request, args.preset, typed)
    request = request.with_absolute_paths()
    request.validate()
    return request


class _ProgressBar:
    """A tqdm bar on stderr that follows the job's phases."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.download_bar = None

    def __call__(self, progress) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if progress.phase in ("downloading", "downloaded"):
            from backend.cli_models import DownloadBar

            self.download_bar = self.download_bar or DownloadBar()
            self.download_bar(progress)
            return
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
        if self.download_bar is not None:
            self.download_bar.close()
        if self.bar is not None:
            self.bar.close()


def quiet_libraries() -> None:
    """Library chatter (download bars, deprecation notes) is not for our users' terminals."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    # Libraries' warnings would add lines to a one-line error message; ours are errors in tests.
    import warnings

    for category in (DeprecationWarning, FutureWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(?!backend|gui)")
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def run_generate(args: argparse.Namespace, given: set[str]) -> int:
    from backend.limits import check_memory, check_output_size
    from backend.video_writer import check_output_writable, output_format, write_clip

    request = request_from_args(args, given)
    if request.controls and "frames" not in given and not args.from_metadata:
        from backend.guided_engine import frames_from_sources

        request = frames_from_sources(request)  # the clip takes its control video's length
    options = write_options(args)
    options.validate()
    check_output_writable(args.output)
    check_not_input(args.output, request.input_video if request.mode == "video2video" else None, "--input")
    check_output_size(output_format(args.output), request.width, request.height, args.output)
    # The pipeline decodes to float32 RGB (12 bytes a pixel) before our uint8 copy (3 more).
    check_memory(request.frames, request.width, request.height, args.command, bytes_per_pixel=15)
    if args.project:
        project_path = Path(os.path.expanduser(args.project))
        if not project_path.parent.is_dir():
            raise InputError(f"--project {args.project!r}: the folder {str(project_path.parent)!r} does not exist")
        if project_path.exists():
            from backend.project import Project

            Project.open(project_path)  # refuse a damaged or newer project before generating
    if request.mode == "video2video" and not Path(os.path.expanduser(request.input_video)).exists():
        raise InputError(f"--input {request.input_video!r}: no such file or folder")
    remote = cli_remote.remote_url(args)  # checks the broker before torch is imported
    bar = _ProgressBar(enabled=not args.quiet)
    if not remote:  # a remote job's models are resolved (and downloaded) on the worker
        from backend.downloads import prepare_models

        try:
            # Before torch and diffusers load: offline with an uncached model is said in ~1 s.
            prepare_models(request.model, on_progress=bar)
        finally:
            bar.close()
        quiet_libraries()
    from backend.engine import generate
    from backend.metadata import build_metadata

    if not args.quiet and not remote:
        from backend.memory_estimate import estimate_for

        print(estimate_for(request).describe(), file=sys.stderr)
    try:
        if remote:
            result = cli_remote.generate_remote(remote, request, bar, args)
        else:
            result = generate(request, on_progress=bar)
    finally:
        bar.close()
    metadata = build_metadata(result.request.to_dict())
    outputs = write_clip(result.frames, args.output, request.fps, options, metadata)
    if args.project:
        from backend.project import append_take

        project, take = append_take(args.project, result.frames, result.request, result.duration, result.device,
                                    inputs=result.inputs)
        outputs.append(project.path)
        print(f"added {take.name} to {project.path}", file=sys.stderr)
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


def run_convert(args: argparse.Namespace) -> int:
    from backend.limits import check_fps, check_output_size
    from backend.metadata import read_metadata
    from backend.video_reader import ReadOptions, parse_frame_range, parse_size, probe, read_frames
    from backend.video_writer import check_output_writable, output_format, write_clip

    options = write_options(args)
    options.validate()
    start, end = parse_frame_range(args.frames) if args.frames else (0, None)
    read = ReadOptions(
        start_frame=start,
        end_frame=end,
        start_time=args.start,
        end_time=args.end,
        every_nth=args.every,
        max_frames=args.max_frames,
        size=parse_size(args.size) if args.size else None,
        resize=args.resize,
    )
    read.validate()
    if args.fps is not None:
        check_fps(args.fps, "--fps")
    check_output_writable(args.output)
    check_not_input(args.output, args.input, "input")
    info = probe(args.input)
    check_output_size(output_format(args.output), *(read.size or info.size), args.output)
    if info.fps:
        fps = args.fps or info.fps
        if args.fps:
            read = dataclasses.replace(read, fps=args.fps)
    else:
        fps = args.fps or 8.0
    frames = read_frames(args.input, read, info)
    try:
        metadata = read_metadata(args.input)
    except InputError:
        metadata = None
    outputs = write_clip(frames, args.output, fps, options, metadata)
    print(f"wrote {outputs[0]} ({len(frames)} frames, {frames.shape[2]}x{frames.shape[1]}, {fps:g} fps)", file=sys.stderr)
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from backend.metadata import build_metadata
    from backend.project import Project
    from backend.video_writer import check_output_writable, write_clip

    options = write_options(args)
    options.validate()
    check_output_writable(args.output)
    project = Project.open(args.project)
    take = project.take(args.take)
    fps = args.fps or take.request.fps
    metadata = build_metadata(take.request.to_dict(), take=take.name)
    outputs = write_clip(project.frames(take), args.output, fps, options, metadata)
    print(f"wrote {outputs[0]} ({take.name}, {take.frame_count} frames, {fps:g} fps)", file=sys.stderr)
    return EXIT_OK


def run_preprocess(args: argparse.Namespace) -> int:
    from backend.guidance import checked_sha256
    from backend.preprocessors import preprocessed_frames
    from backend.video_writer import check_output_writable, output_format, write_clip

    if output_format(args.output) != "folder":
        raise InputError(f"preprocess --output {args.output!r}: give a folder (PNG frames go in it)")
    check_output_writable(args.output)
    check_not_input(args.output, args.input, "--input")
    digest = checked_sha256(args.input, None, "--input")
    bar = _ProgressBar(enabled=True)
    try:
        frames = preprocessed_frames(args.input, args.kind, digest, on_progress=bar)
    finally:
        bar.close()
    write_clip(frames, args.output, 8.0)
    print(f"wrote {args.output} ({len(frames)} {args.kind} frames)", file=sys.stderr)
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
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "demo-model":
            return run_demo_model(args)
        if args.command == "convert":
            return run_convert(args)
        if args.command == "export":
            return run_export(args)
        if args.command == "preprocess":
            return run_preprocess(args)
        if args.command in ("worker", "batch"):
            return cli_remote.run_command(args)
        if args.command == "models":
            from backend.cli_models import run as run_models

            return run_models(args)
        typed = args.from_metadata or args.preset or getattr(args, "control", None)
        return run_generate(args, explicit_options(argv) if typed else set())
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (Cancelled, KeyboardInterrupt):
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print(f"{PROG}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except StudioError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - last resort: one clear line, not a traceback
        if os.environ.get("ANIMATEDIFF_STUDIO_DEBUG"):
            raise
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
