"""The command line's options: each generation setting's option made from its one declaration
(backend/core/request.py SETTINGS), the output and remote options, and the request the typed
options describe. The commands (commands.py, remote.py) share them."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import signal
from typing import Any

from backend.core.errors import InputError
from backend.core.guidance import (
    parse_control,
    parse_keyframe,
    parse_reference,
    parse_sparse_control,
)
from backend.core.request import (
    SETTINGS,
    Embedding,
    GenerationRequest,
    ImageLora,
    MotionLora,
    Setting,
)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_TERMINATED = 128 + signal.SIGTERM


def add_remote_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--remote", nargs="?", const="", default=None, metavar="URL",
        help="render on the workers at this broker (amqp://user:password@host//); "
        "without URL: $ADS_BROKER_URL",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS",
        help="with --remote: give up after this long with no worker connected (default: wait)",
    )


class OptionParser(argparse.ArgumentParser):
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

def setting_argument(setting: Setting) -> dict[str, Any]:
    """argparse keywords for a declared setting's option (backend/core/request.py)."""
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

def add_generation_options(parser: argparse.ArgumentParser, video: bool, batch: bool = False) -> None:
    parser.add_argument("--from-metadata", metavar="FILE", help="re-run the settings stored in an exported file (or its .json); options given here override them")
    if not batch:
        parser.add_argument("--output", required=True, help=".gif .mp4 .webm .webp, or a folder for PNG frames")
    for setting in SETTINGS.values():
        if setting.flag and setting.mode in (None, "video2video" if video else "text2video"):
            parser.add_argument(setting.flag, **setting_argument(setting))
    parser.add_argument("--project", metavar="FILE", help="also save the result as a take in this project (.adsproj; created if missing)")
    parser.add_argument("--json", action="store_true", help="print the request and output paths as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_output_options(parser)
    add_remote_options(parser)

def add_output_options(parser: argparse.ArgumentParser) -> None:
    from backend.media.writer import GIF_DITHERS

    parser.add_argument("--gif-dither", default="none", choices=GIF_DITHERS, help="GIF dithering (none is smallest and never flickers)")
    parser.add_argument("--crf", type=int, default=None, help="MP4/WebM quality: lower is better (MP4 18, WebM 32 by default)")
    parser.add_argument("--loop", type=int, default=0, help="GIF/WebP: 0 loops forever, -1 plays once, N repeats N times")
    parser.add_argument("--pingpong", action="store_true", help="play forward then backward")
    parser.add_argument("--webp-quality", type=int, default=None, help="lossy WebP at this quality (lossless when not given)")
    parser.add_argument("--sidecar", action="store_true", help="also write the settings to <output>.json")

def write_options(args: argparse.Namespace):
    from backend.media.writer import WriteOptions

    return WriteOptions(
        gif_dither=args.gif_dither,
        loop=args.loop,
        pingpong=args.pingpong,
        crf=args.crf,
        webp_quality=args.webp_quality,
        sidecar=args.sidecar,
    )

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

# CLI option (dest) -> (GenerationRequest field or "model.<field>", converter). The preset is
# applied apart, over the rest (request_from_args).
REQUEST_OPTIONS: dict[str, tuple[str, Any]] = {
    setting.flag[2:].replace("-", "_"): (setting.path, _CONVERTERS.get(setting.name))
    for setting in SETTINGS.values()
    if setting.flag and setting.name != "preset"
}

def family_defaults(request: GenerationRequest, given: set[str]) -> dict[str, Any]:
    """The base model's family's defaults (its model card's size, frames, fps, steps, guidance
    and scheduler) for the options not given on the command line."""
    from backend.core.sources import source_kind
    from backend.families.registry import detect_family, model_configs
    from backend.hub.downloads import fetch_model_index

    if source_kind(request.model.base_model) == "hub":  # its small model_index.json names it
        fetch_model_index(request.model.base_model.strip())
    family = detect_family(request.model.base_model)
    defaults = family.request_defaults(model_configs(request.model.base_model, family))
    flags = {path: dest for dest, (path, _) in REQUEST_OPTIONS.items()}
    return {path: value for path, value in defaults.items() if flags.get(path) not in given}


def request_from_args(args: argparse.Namespace, given: set[str] | None = None) -> GenerationRequest:
    """The request the arguments describe: from --from-metadata with the typed options on top,
    or from the options and their defaults."""
    if args.from_metadata:
        from backend.media.metadata import read_metadata

        base = GenerationRequest.from_dict(read_metadata(args.from_metadata)["request"])
        names = given if given is not None else set()
    else:
        if not args.prompt:
            raise InputError(f"{args.command}: --prompt is required (or --from-metadata FILE)")
        if args.command == "video2video" and not args.input:
            raise InputError("video2video: --input is required (a video file or a folder of frames)")
        base = GenerationRequest(mode="video2video" if args.command == "video2video" else "text2video")
        names = {name for name in REQUEST_OPTIONS if hasattr(args, name)}
    changes: dict[str, Any] = {}
    model_changes: dict[str, Any] = {}
    for name in names:
        if name not in REQUEST_OPTIONS or not hasattr(args, name):
            continue
        field, convert = REQUEST_OPTIONS[name]
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
    if not args.from_metadata and given is not None:
        request = request.replace(**family_defaults(request, given))
    if getattr(args, "preset", None):
        from backend.core.presets import apply_preset

        typed = {REQUEST_OPTIONS[name][0] for name in (given or set()) if name in REQUEST_OPTIONS}
        request = apply_preset(request, args.preset, typed)
    request = request.with_absolute_paths()
    request.validate()
    return request
