"""Control-video preprocessors: the frames a ControlNet is given.

- `none`: the frames as they are (a pose, depth or edge video made elsewhere).
- `canny`: OpenCV's Canny edges with thresholds 100 and 200 on the RGB frame, as a 3-channel
  image (controlnet_aux's CannyDetector defaults and conventions; run at the frame's own size).
- `lineart`: the "standard" lineart that needs no weights (controlnet_aux's
  lineart_standard: how far each pixel is darker than its Gaussian-blurred surroundings).
- `depth`: Depth Anything V2 Small (depth-anything/Depth-Anything-V2-Small-hf, Apache-2.0)
  through transformers, near as bright; weights through our download path, with progress.
- `pose`: OpenPose-style body skeletons on black (backend/models/pose.py): person boxes from
  RT-DETR (PekingU/rtdetr_r50vd_coco_o365, Apache-2.0), keypoints from ViTPose
  (usyd-community/vitpose-base-simple, Apache-2.0), drawn by our own code in the OpenPose body
  convention (OpenPose's own code is for non-commercial use only and is not used). A pose video
  made elsewhere still goes in with preprocess=none.

It lives with the models because `depth` and `pose` run models fetched from the Hub; the others
are plain image operations kept beside them so every preprocessor is chosen in one place.
Results are cached on disk by the source's content and the preprocessor's settings.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from backend.core.errors import InputError
from backend.models.pose import DETECTION_THRESHOLD, KEYPOINT_THRESHOLD, POSE_DETECTOR, POSE_MODEL

DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
CANNY_THRESHOLDS = (100, 200)
LINEART_SIGMA = 6.0
LINEART_THRESHOLD = 8
# Bumped when a preprocessor's output changes, so old cache entries are not reused.
SETTINGS = {
    "canny": {"low": CANNY_THRESHOLDS[0], "high": CANNY_THRESHOLDS[1], "version": 1},
    "lineart": {"sigma": LINEART_SIGMA, "threshold": LINEART_THRESHOLD, "version": 1},
    "depth": {"model": DEPTH_MODEL, "version": 1},
    "pose": {
        "detector": POSE_DETECTOR,
        "model": POSE_MODEL,
        "detection_threshold": DETECTION_THRESHOLD,
        "keypoint_threshold": KEYPOINT_THRESHOLD,
        "version": 1,
    },
}


def canny(frame: np.ndarray) -> np.ndarray:
    import cv2

    edges = cv2.Canny(np.ascontiguousarray(frame), *CANNY_THRESHOLDS)
    return np.repeat(edges[:, :, None], 3, axis=2)


def lineart(frame: np.ndarray) -> np.ndarray:
    """controlnet_aux's lineart_standard, at the frame's own size: dark lines on a light image
    become bright lines on black, scaled by the median line strength."""
    import cv2

    x = frame.astype(np.float32)
    blurred = cv2.GaussianBlur(x, (0, 0), LINEART_SIGMA)
    intensity = np.min(blurred - x, axis=2).clip(0, 255)
    strong = intensity[intensity > LINEART_THRESHOLD]
    intensity /= max(16.0, float(np.median(strong)) if strong.size else 0.0)
    intensity *= 127
    lines = intensity.clip(0, 255).astype(np.uint8)
    return np.repeat(lines[:, :, None], 3, axis=2)


def depth_model_folder(on_progress: Callable | None = None) -> Path:
    """The Depth Anything V2 Small snapshot, downloaded with progress when it is missing.
    InputError (exit 2) when it is missing and the Hub cannot be reached."""
    from backend.hub.downloads import ModelRef, snapshots

    try:
        return snapshots([ModelRef(DEPTH_MODEL, "depth preprocessor", "config.json")], on_progress)[0]
    except InputError as exc:
        raise InputError(
            f"preprocess=depth needs {DEPTH_MODEL}, which is not downloaded and cannot be now "
            f"({exc}); connect once, or run `python main.py models download {DEPTH_MODEL}`"
        ) from None


def depth(frames: np.ndarray, on_progress: Callable | None = None) -> np.ndarray:
    import torch
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    folder = depth_model_folder(on_progress)
    processor = AutoImageProcessor.from_pretrained(folder)
    model = AutoModelForDepthEstimation.from_pretrained(folder).eval()
    result = []
    with torch.no_grad():
        for frame in frames:
            inputs = processor(images=frame, return_tensors="pt")
            predicted = model(**inputs).predicted_depth[:, None]
            resized = torch.nn.functional.interpolate(
                predicted, size=frame.shape[:2], mode="bicubic", align_corners=False
            )[0, 0].numpy()
            low, high = float(resized.min()), float(resized.max())
            scaled = (resized - low) / (high - low) * 255.0 if high > low else resized * 0
            result.append(np.repeat(scaled.round().clip(0, 255).astype(np.uint8)[:, :, None], 3, 2))
    return np.stack(result)


def preprocess(frames: np.ndarray, kind: str, on_progress: Callable | None = None) -> np.ndarray:
    """Frames [F, H, W, 3] uint8 through the preprocessor `kind`."""
    if kind == "none":
        return frames
    if kind == "canny":
        return np.stack([canny(frame) for frame in frames])
    if kind == "lineart":
        return np.stack([lineart(frame) for frame in frames])
    if kind == "depth":
        return depth(frames, on_progress)
    if kind == "pose":
        from backend.models.pose import pose

        return pose(frames, on_progress)
    raise InputError(f"no preprocessor {kind!r}; choose none, canny, lineart, depth or pose")


def cache_dir() -> Path:
    override = os.environ.get("ANIMATEDIFF_STUDIO_CACHE_DIR")
    if override:
        return Path(override) / "control-frames"
    import platformdirs

    return Path(platformdirs.user_cache_dir("animatediff-studio", appauthor=False)) / "control-frames"


def cache_key(source_sha256: str, kind: str, max_frames: int | None) -> str:
    settings = json.dumps(
        {"source": source_sha256, "kind": kind, "max_frames": max_frames, **SETTINGS.get(kind, {})},
        sort_keys=True,
    )
    return hashlib.sha256(settings.encode("utf-8")).hexdigest()


def read_source(source: str, max_frames: int | None = None) -> np.ndarray:
    """A control source's frames at its own size: a video, an animated GIF/WebP, a folder of
    frames or one image. InputError when it is missing or unreadable."""
    from backend.media.reader import ReadOptions, read_frames

    if not os.path.exists(os.path.expanduser(source)):
        raise InputError(f"control source {source!r}: no such file or folder")
    try:
        return read_frames(source, ReadOptions(max_frames=max_frames))
    except InputError as exc:
        raise InputError(f"control source {source!r} cannot be read: {exc}") from None


def preprocessed_frames(
    source: str,
    kind: str,
    source_sha256: str,
    max_frames: int | None = None,
    on_progress: Callable | None = None,
) -> np.ndarray:
    """The source's frames through `kind`, from the cache when the same content was
    preprocessed the same way before."""
    from backend.core.atomic import write_bytes

    if kind == "none":
        return read_source(source, max_frames)
    path = cache_dir() / f"{cache_key(source_sha256, kind, max_frames)}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # damaged: make it again
    frames = preprocess(read_source(source, max_frames), kind, on_progress)
    buffer = io.BytesIO()
    np.save(buffer, frames, allow_pickle=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, buffer.getvalue(), durable=False)
    return frames
