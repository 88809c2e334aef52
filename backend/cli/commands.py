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

from backend.cli import remote as cli_remote
from backend.cli.finishing import add_finishing_options, finishing_passes, plan_for_args, run_plan
from backend.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    OptionParser,
    add_generation_options,
    add_output_options,
    request_from_args,
    write_options,
)
from backend.core.errors import Cancelled, InputError, StudioError, os_failure, redact_urls
from backend.core.guidance import PREPROCESSORS
from backend.core.logs import quiet_libraries

PROG = "animatediff-studio"


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
    from backend.media.writer import FRAME_PATTERN, output_format

    source_path = Path(os.path.expanduser(source)).resolve()
    output_path = Path(os.path.expanduser(output)).resolve()
    overwritten = source_path == output_path or (
        output_format(output) == "folder"
        and source_path.parent == output_path
        and re.fullmatch(FRAME_PATTERN.replace("{:05d}", r"\d{5,}"), source_path.name)
    )
    if overwritten:
        raise InputError(f"--output {output!r} would overwrite the {option} {source!r}; write elsewhere")


def build_parser() -> argparse.ArgumentParser:
    from backend.media.reader import RESIZE_MODES

    parser = OptionParser(
        prog=PROG,
        description="AnimateDiff Studio. Without a command it opens the window: "
        f"{PROG} [gui] [PROJECT] [--base-model M] [--motion-adapter A]",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OptionParser)
    required = "--prompt is required unless --from-metadata gives the settings"
    generate = commands.add_parser("generate", help="text to video", description=f"Text to video. {required}.")
    add_generation_options(generate, video=False)
    add_finishing_options(generate)
    video2video = commands.add_parser("video2video", help="video to video", description=f"Video to video. {required}, and so is --input.")
    add_generation_options(video2video, video=True)
    add_finishing_options(video2video)
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
    add_finishing_options(convert)
    add_output_options(convert)
    export = commands.add_parser("export", help="export a take of a project")
    export.add_argument("project", help="an .adsproj project file")
    export.add_argument("--output", required=True, help=".gif .mp4 .webm .webp, or a folder for PNG frames")
    export.add_argument("--take", type=int, default=-1, help="take number, 1-based (default: the latest)")
    export.add_argument("--fps", type=float, default=None, help="default: the take's fps")
    add_finishing_options(export)
    add_output_options(export)
    preprocess = commands.add_parser("preprocess", help="write a control video's preprocessed frames as PNGs")
    preprocess.add_argument("kind", choices=PREPROCESSORS[1:], help="canny, lineart, depth or pose")
    preprocess.add_argument("--input", required=True, help="video file, animated GIF/WebP, image, or folder of frames")
    preprocess.add_argument("--output", required=True, help="a folder for frame_00000.png, frame_00001.png, ...")
    demo = commands.add_parser("demo-model", help="write the tiny random-weight demo models")
    demo.add_argument("dir")
    demo.add_argument("--family", choices=("animatediff", "wan"), default="animatediff",
                      help="animatediff: an SD1.5 model, motion adapter and motion LoRA; wan: two "
                      "tiny Wan models (shaped like Wan2.1-T2V-1.3B and Wan2.2-TI2V-5B) and LoRAs")
    cli_remote.add_commands(commands)

    from backend.cli.models import add_parser as add_models_parser

    add_models_parser(commands)
    return parser


def explicit_options(argv: Sequence[str]) -> set[str]:
    """The option names (dests) the user actually typed, defaults excluded."""
    probe = build_parser()
    for action in probe._subparsers._group_actions[0].choices[argv[0]]._actions:  # noqa: SLF001
        action.default = argparse.SUPPRESS
    return set(vars(probe.parse_args(list(argv)))) - {"command"}


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
            from backend.cli.models import DownloadBar

            self.download_bar = self.download_bar or DownloadBar()
            self.download_bar(progress)
            return
        if progress.phase == "loading":
            print("loading models...", file=sys.stderr, flush=True)
            return
        if progress.phase == "plan":  # the memory plan, context windows, a retry
            if self.bar is not None:
                tqdm.write(progress.message, file=sys.stderr)
            else:
                print(progress.message, file=sys.stderr, flush=True)
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


def rerun_range(args: argparse.Namespace, request) -> tuple[int, int] | None:
    """The frames [start, end) a --from-metadata re-run writes: the exported range when the
    export held only some frames (its in/out points). The whole clip is generated, since every
    frame's motion depends on the others, and the range is cut from it; said on stderr. A
    re-run with another --frames writes the whole new clip, and says so."""
    if not args.from_metadata:
        return None
    from backend.media.metadata import exported_range, read_metadata

    metadata = read_metadata(args.from_metadata)
    recorded = metadata["request"].get("frames")
    if not isinstance(recorded, int) or metadata.get("frame_range") is None:
        return None
    kept = exported_range(metadata, recorded)
    if kept is None:
        return None
    start, end = kept
    if request.frames != recorded:
        _say(args, f"the export held frames {start + 1}-{end} of {recorded}; with --frames "
                   f"{request.frames} the whole new clip is written")
        return None
    _say(args, f"the export held frames {start + 1}-{end} of {recorded}: generating all "
               f"{recorded} (each frame's motion depends on the others) and writing those "
               f"{end - start}")
    return kept


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def run_generate(args: argparse.Namespace, given: set[str]) -> int:
    from backend.core.limits import check_output_size
    from backend.engine.preflight import check_job_fits, check_model_names
    from backend.media.writer import check_output_writable, output_format, write_clip

    request = request_from_args(args, given)
    if request.controls and "frames" not in given and not args.from_metadata:
        from backend.engine.guided import frames_from_sources

        request = frames_from_sources(request)  # the clip takes its control video's length
    from backend.families.registry import checked_family

    checked_family(request)  # what the model's family cannot do, before any download
    options = write_options(args)
    options.validate()
    check_output_writable(args.output)
    check_not_input(args.output, request.input_video if request.mode == "video2video" else None, "--input")
    check_output_size(output_format(args.output), request.width, request.height, args.output)
    kept = rerun_range(args, request)
    plans, passes = [], []
    if getattr(args, "remote", None) is None:
        plans = plan_for_args(args, kept[1] - kept[0] if kept else request.frames, request.width,
                              request.height, output_format(args.output),
                              _ProgressBar(enabled=not args.quiet))
    else:  # the worker loads and checks the finishing models before it generates
        passes = finishing_passes(args)
    check_job_fits(request)
    if args.project:
        project_path = Path(os.path.expanduser(args.project))
        if not project_path.parent.is_dir():
            raise InputError(f"--project {args.project!r}: the folder {str(project_path.parent)!r} does not exist")
        if project_path.exists():
            from backend.project.project_file import Project

            Project.open(project_path)  # refuse a damaged or newer project before generating
    if request.mode == "video2video" and not Path(os.path.expanduser(request.input_video)).exists():
        raise InputError(f"--input {request.input_video!r}: no such file or folder")
    remote = cli_remote.remote_url(args)  # checks the broker before torch is imported
    if not remote:
        check_model_names(request)
    bar = _ProgressBar(enabled=not args.quiet)
    if not remote:  # a remote job's models are resolved (and downloaded) on the worker
        from backend.hub.downloads import prepare_models

        try:
            # Before torch and diffusers load: offline with an uncached model is said in ~1 s.
            prepare_models(request.model, on_progress=bar)
        finally:
            bar.close()
        quiet_libraries()
    from backend.engine.generation import generate
    from backend.media.metadata import build_metadata, input_records

    if not args.quiet and not remote:
        from backend.models.memory_estimate import estimate_for

        print(estimate_for(request).describe(), file=sys.stderr)
    try:
        if remote:
            result = cli_remote.generate_remote(remote, request, bar, args, passes,
                                                output_format(args.output))
        else:
            result = generate(request, on_progress=bar)
    finally:
        bar.close()
    clip = result.frames[kept[0]:kept[1]] if kept else result.frames
    if remote and passes:  # finished on the worker
        frames, fps, steps = result.finished, result.finished_fps, result.finishing
    else:
        frames, fps, steps = run_plan(plans, clip, request.fps, request.model.device,
                                      _ProgressBar(enabled=not args.quiet))
    metadata = build_metadata(result.request.to_dict(), **input_records(result.request),
                              **({"finishing": steps} if steps else {}),
                              **({"frame_range": list(kept)} if kept else {}))
    outputs = write_clip(frames, args.output, fps, options, metadata)
    if args.project:
        from backend.project.project_file import append_take

        project, take = append_take(args.project, result.frames, result.request, result.duration, result.device,
                                    inputs=result.inputs, family=result.family)
        if steps:
            take = project.add_finished_take(take, frames, steps)
            project.save(project.path)
        outputs.append(project.path)
        print(f"added {take.name} to {project.path}", file=sys.stderr)
    if args.json:
        summary = {
            "request": result.request.to_dict(),
            "output": str(Path(args.output)),
            "files": [str(p) for p in outputs],
            "frames": int(frames.shape[0]),
            "size": [int(frames.shape[2]), int(frames.shape[1])],
            "fps": fps,
            "finishing": steps,
            "device": result.device,
            "seconds": round(result.duration, 3),
        }
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {args.output} ({frames.shape[0]} frames, seed {result.request.seed})", file=sys.stderr)
    return EXIT_OK


def run_convert(args: argparse.Namespace) -> int:
    from backend.core.limits import check_fps, check_output_size
    from backend.media.metadata import read_metadata
    from backend.media.reader import ReadOptions, parse_frame_range, parse_size, probe, read_frames
    from backend.media.writer import check_output_writable, output_format, write_clip

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
    plans = plan_for_args(args, info.frame_count or 1, *(read.size or info.size), output_format(args.output),
                         _ProgressBar(enabled=True))  # the bar shows a default model's download
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
    frames, fps, steps = run_plan(plans, frames, fps, "auto", _ProgressBar(enabled=True))
    if steps:
        metadata = dict(metadata or {}, finishing=[*(metadata or {}).get("finishing", []), *steps])
    outputs = write_clip(frames, args.output, fps, options, metadata)
    print(f"wrote {outputs[0]} ({len(frames)} frames, {frames.shape[2]}x{frames.shape[1]}, {fps:g} fps)", file=sys.stderr)
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from backend.core.limits import check_fps
    from backend.media.metadata import build_metadata, input_records
    from backend.media.writer import check_output_writable, output_format, write_clip
    from backend.project.project_file import Project

    options = write_options(args)
    options.validate()
    if args.fps is not None:
        check_fps(args.fps, "--fps")
    check_output_writable(args.output)
    project = Project.open(args.project)
    take = project.take(args.take)
    fps = args.fps if args.fps is not None else take.fps
    frames = project.frames(take)
    plans = plan_for_args(args, len(frames), frames.shape[2], frames.shape[1], output_format(args.output),
                         _ProgressBar(enabled=True))
    frames, fps, steps = run_plan(plans, frames, fps, "auto", _ProgressBar(enabled=True))
    extra = {"finishing": [*take.finishing, *steps]} if (take.finishing or steps) else {}
    metadata = build_metadata(take.request.to_dict(), take=take.name, **input_records(take.request),
                              **extra)
    outputs = write_clip(frames, args.output, fps, options, metadata)
    print(f"wrote {outputs[0]} ({take.name}, {len(frames)} frames, {fps:g} fps)", file=sys.stderr)
    return EXIT_OK


def run_preprocess(args: argparse.Namespace) -> int:
    from backend.core.guidance import checked_sha256
    from backend.media.writer import check_output_writable, output_format, write_clip
    from backend.models.preprocessors import preprocessed_frames

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
    from backend.models.demo_model import write_demo_model

    target = Path(os.path.expanduser(args.dir))
    if target.exists() and not target.is_dir():
        raise InputError(f"demo-model {args.dir!r} is a file; give a folder")
    if not target.parent.is_dir():
        raise InputError(f"demo-model {args.dir!r}: the folder {str(target.parent)!r} does not exist")
    quiet_libraries()
    if args.family == "wan":
        from backend.models.wan_demo_model import SHAPES, write_wan_demo_model

        for shape in SHAPES:
            folder = write_wan_demo_model(target, shape)
            print(f"Wan {shape} model: {folder}")
            print(f"Wan {shape} LoRA:  {folder.parent / (folder.name + '-lora')}")
        return EXIT_OK
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
            from backend.cli.models import run as run_models

            return run_models(args)
        # What was typed: metadata and presets give way to it, and the model family's defaults
        # fill the rest.
        return run_generate(args, explicit_options(argv))
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
    except OSError as exc:
        print(f"{PROG}: error: {os_failure(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - last resort: one clear line, not a traceback
        if os.environ.get("ANIMATEDIFF_STUDIO_DEBUG"):
            raise
        print(f"{PROG}: error: {redact_urls(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
