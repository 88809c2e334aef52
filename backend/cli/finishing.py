"""The finishing options of generate, video2video, convert and export: interpolation, then
upscaling (backend/finishing). Checked, and the models loaded, before any frame is made."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from backend.finishing.finish import FinishingOptions, FinishingPlan, pick_device
from backend.finishing.replay import plan_passes, recorded_options, run_passes


def add_finishing_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("finishing (interpolation runs before upscaling)")
    group.add_argument("--interpolate", type=int, default=None, metavar="2|4",
                       help="RIFE frame interpolation: 2 or 4 times the frames, at 2 or 4 times the fps")
    group.add_argument("--interpolation-model", default=None, metavar="FILE_OR_HUB",
                       help="RIFE v4.25/v4.26 weights: flownet.pkl, .safetensors, the release .zip, "
                       "or owner/repo/file on the Hub (default: hzwer/RIFE/RIFEv4.26_0921.zip)")
    group.add_argument("--interpolation-scale", type=float, default=1.0,
                       help="RIFE's flow scale: 1.0, or 0.5 for large frames")
    group.add_argument("--upscale-model", default=None, metavar="FILE_OR_HUB",
                       help="an upscaler spandrel loads (Real-ESRGAN, ESRGAN, SwinIR, ...): a file or "
                       "owner/repo/file on the Hub (default: Comfy-Org/Real-ESRGAN_repackaged/"
                       "RealESRGAN_x4plus.safetensors)")
    group.add_argument("--upscale", type=float, default=None, metavar="FACTOR",
                       help="upscale factor (default: the model's own; others resize its output with Lanczos)")


def finishing_options(args: argparse.Namespace) -> FinishingOptions:
    options = FinishingOptions(
        interpolate=args.interpolate,
        interpolation_model=args.interpolation_model,
        interpolation_scale=args.interpolation_scale,
        upscale_model=args.upscale_model,
        upscale=args.upscale,
        allow_pickle=bool(getattr(args, "allow_pickle", False)),
    )
    options.validate()
    return options


def recorded_steps(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """The finishing steps to replay: those of --from-metadata's file, unless --interpolate or
    --upscale asks for other ones. None when there is nothing to replay."""
    if not getattr(args, "from_metadata", None) or args.interpolate is not None or args.upscale is not None:
        return None
    from backend.media.metadata import read_metadata

    steps = read_metadata(args.from_metadata).get("finishing")
    return steps or None


def finishing_passes(args: argparse.Namespace) -> list[FinishingOptions]:
    """The passes asked for: the typed finishing options, or the recorded steps being replayed
    (--interpolation-model/--upscale-model then name where their files are now)."""
    recorded = recorded_steps(args)
    if recorded is not None:
        return recorded_options(recorded, args.interpolation_model, args.upscale_model,
                                bool(getattr(args, "allow_pickle", False)))
    options = finishing_options(args)
    return [options] if options.active else []


def plan_for_args(args: argparse.Namespace, count: int, width: int, height: int,
                  output_kind: str | None, progress=None) -> list[FinishingPlan]:
    """The passes loaded, each checked against the output; empty when there is nothing to
    finish."""
    passes = finishing_passes(args)
    if not passes:
        return []
    try:
        return plan_passes(passes, count, width, height, output_kind, args.output, progress)
    finally:
        if progress is not None and hasattr(progress, "close"):
            progress.close()


def run_plan(plans: list[FinishingPlan], frames: np.ndarray, fps: float, device: str,
             progress=None) -> tuple[np.ndarray, float, list[dict[str, Any]]]:
    """(frames, fps, steps) after the passes; unchanged without any."""
    if not plans:
        return frames, fps, []
    finished, fps, steps = run_passes(plans, frames, fps, pick_device(device),
                                      progress)
    if progress is not None and hasattr(progress, "close"):
        progress.close()
    print(f"finished: {len(frames)} -> {len(finished)} frames, "
          f"{frames.shape[2]}x{frames.shape[1]} -> {finished.shape[2]}x{finished.shape[1]}",
          file=sys.stderr)
    return finished, fps, steps
