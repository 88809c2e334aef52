"""Finishing a clip: interpolation, then upscaling (cheaper at the small size), each optional.

`plan_finishing` resolves and loads the models and checks the result against the output
format's frame-size limit and the free memory before any frame is touched; `finish_frames`
does the work with progress and cancel. The steps are recorded (model, file SHA-256, factor) so
the metadata of the result reproduces it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.errors import CancelCheck, InputError
from backend.core.guidance import checked_sha256
from backend.core.limits import check_memory, check_output_size
from backend.finishing import interpolate, upscale
from backend.finishing.model_files import (
    DEFAULT_INTERPOLATION_MODEL,
    DEFAULT_UPSCALE_MODEL,
    resolve_model_file,
)
from backend.finishing.progress import ProgressCallback


@dataclass(frozen=True)
class FinishingOptions:
    interpolate: int | None = None  # 2 or 4
    interpolation_model: str | None = None  # file or owner/repo/file; None: the default
    interpolation_scale: float = 1.0
    upscale_model: str | None = None  # None with `upscale` given: the default model
    upscale: float | None = None  # None: the model's own scale
    allow_pickle: bool = False
    # A replay's record: the weights must still be this file (SHA-256), or the plan refuses.
    interpolation_sha256: str | None = None
    upscale_sha256: str | None = None

    @property
    def upscaling(self) -> bool:
        return self.upscale_model is not None or self.upscale is not None

    @property
    def active(self) -> bool:
        return self.interpolate is not None or self.upscaling

    def to_dict(self) -> dict[str, Any]:
        """As a render job carries it: local model files by absolute path (a worker on this
        machine, or one with the same folders, finds them), never the pickle permission."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "allow_pickle"}
        for key in ("interpolation_model", "upscale_model"):
            if data[key]:
                data[key] = recorded_name(data[key])
        return data

    @classmethod
    def from_dict(cls, data: Any) -> FinishingOptions:
        """Options from a job message, every field checked for its type."""
        kinds = {"interpolate": int, "interpolation_model": str, "interpolation_scale": float,
                 "upscale_model": str, "upscale": float, "interpolation_sha256": str,
                 "upscale_sha256": str}
        if not isinstance(data, dict) or set(data) - set(kinds):
            raise InputError("the job's finishing options are malformed")
        values: dict[str, Any] = {}
        for key, value in data.items():
            kind = kinds[key]
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, float) if kind is float else kind)):
                raise InputError(f"the job's finishing option {key} is malformed")
            values[key] = float(value) if kind is float and value is not None else value
        options = cls(**values)
        options.validate()
        return options

    def validate(self) -> None:
        if self.interpolate is not None:
            interpolate.check_factor(self.interpolate)
            interpolate.check_scale(self.interpolation_scale)
        upscale.check_factor(self.upscale)


@dataclass
class FinishingPlan:
    options: FinishingOptions
    net: Any = None  # the IFNet, when interpolating
    upscaler: upscale.Upscaler | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)  # what the metadata records

    def frame_count(self, count: int) -> int:
        factor = self.options.interpolate
        return interpolate.interpolated_count(count, factor) if factor else count

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        if self.upscaler is None:
            return width, height
        return upscale.output_size(width, height, self.options.upscale or self.upscaler.scale)

    def fps(self, fps: float) -> float:
        return fps * (self.options.interpolate or 1)


def recorded_name(text: str) -> str:
    """How the record names a model: a local file by its absolute path (so a re-run from
    another folder finds it), a Hub file as given."""
    path = Path(os.path.expanduser(text))
    return str(path.resolve()) if path.is_file() else text


def plan_finishing(
    options: FinishingOptions,
    count: int,
    width: int,
    height: int,
    output_kind: str | None = None,
    output: str = "",
    on_download: ProgressCallback | None = None,
    cancel: CancelCheck = None,
) -> FinishingPlan:
    """Load the models (downloading a default one if needed) and check the result fits."""
    options.validate()
    plan = FinishingPlan(options)
    if options.interpolate is not None:
        text = options.interpolation_model or DEFAULT_INTERPOLATION_MODEL
        path = resolve_model_file(text, "interpolation model", on_download, cancel)
        digest = checked_sha256(str(path), options.interpolation_sha256, "interpolation model")
        plan.net = interpolate.load_ifnet(path, allow_pickle=options.allow_pickle)
        plan.steps.append({
            "step": "interpolate", "model": recorded_name(text), "sha256": digest,
            "factor": options.interpolate, "scale": options.interpolation_scale,
        })
    if options.upscaling:
        text = options.upscale_model or DEFAULT_UPSCALE_MODEL
        path = resolve_model_file(text, "upscale model", on_download, cancel)
        digest = checked_sha256(str(path), options.upscale_sha256, "upscale model")
        plan.upscaler = upscale.load_upscaler(path, allow_pickle=options.allow_pickle)
        plan.steps.append({
            "step": "upscale", "model": recorded_name(text), "sha256": digest,
            "factor": float(options.upscale or plan.upscaler.scale),
            "model_scale": plan.upscaler.scale, "architecture": plan.upscaler.name,
        })
    frames = plan.frame_count(count)
    out_w, out_h = plan.frame_size(width, height)
    if output_kind is not None:
        check_output_size(output_kind, out_w, out_h, output)
    check_memory(frames, out_w, out_h, "finishing", bytes_per_pixel=6)
    return plan


def finish_frames(
    frames: np.ndarray,
    plan: FinishingPlan,
    device: str = "cpu",
    on_progress: ProgressCallback | None = None,
    cancel: CancelCheck = None,
) -> np.ndarray:
    """Interpolate, then upscale, as `plan` says."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InputError("finishing takes uint8 RGB frames [F, H, W, 3]")
    options = plan.options
    if plan.net is not None:
        frames = interpolate.interpolate_frames(
            frames, plan.net, options.interpolate, options.interpolation_scale, device,
            on_progress, cancel,
        )
    if plan.upscaler is not None:
        frames = upscale.upscale_frames(
            frames, plan.upscaler, options.upscale, device, on_progress, cancel
        )
    return frames


def pick_device(device: str = "auto") -> str:
    """The torch device finishing runs on: `device`, or for "auto" the GPU when there is one."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
