"""The finishing options of generate, video2video, convert and export: interpolation, then
upscaling (backend/finishing). Checked, and the models loaded, before any frame is made."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from backend.finishing.finish import FinishingOptions, FinishingPlan, finish_frames, plan_finishing


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


def plan_for_args(args: argparse.Namespace, count: int, width: int, height: int,
                  output_kind: str | None, progress=None) -> FinishingPlan | None:
    """The loaded plan when any finishing option is given, checked against the output."""
    options = finishing_options(args)
    if not options.active:
        return None
    try:
        return plan_finishing(options, count, width, height, output_kind, args.output, progress)
    finally:
        if progress is not None and hasattr(progress, "close"):
            progress.close()


def run_plan(plan: FinishingPlan | None, frames: np.ndarray, fps: float, device: str,
             progress=None) -> tuple[np.ndarray, float, list[dict[str, Any]]]:
    """(frames, fps, steps) after the plan's steps; unchanged without a plan."""
    if plan is None:
        return frames, fps, []
    finished = finish_frames(frames, plan, device if device != "auto" else pick_device(), progress)
    if progress is not None and hasattr(progress, "close"):
        progress.close()
    print(f"finished: {len(frames)} -> {len(finished)} frames, "
          f"{frames.shape[2]}x{frames.shape[1]} -> {finished.shape[2]}x{finished.shape[1]}",
          file=sys.stderr)
    return finished, plan.fps(fps), plan.steps


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
