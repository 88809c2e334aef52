"""The `pose` preprocessor: each person's keypoints drawn as an OpenPose-style body skeleton.

Two permissively licensed models through transformers, in the two-stage recipe of transformers'
ViTPose documentation:

- person boxes from RT-DETR, PekingU/rtdetr_r50vd_coco_o365 (Apache-2.0, 172 MB):
  `RTDetrForObjectDetection` and its image processor's `post_process_object_detection`,
  keeping label 0 (person) above DETECTION_THRESHOLD;
- 17 COCO keypoints per box from ViTPose, usyd-community/vitpose-base-simple (Apache-2.0,
  344 MB): `VitPoseForPoseEstimation`, its processor given the boxes in COCO (x, y, w, h), and
  `post_process_pose_estimation`.

The drawing is ours, written from the OpenPose body convention that
lllyasviel/control_v11p_sd15_openpose was trained on (no OpenPose code: that is for
non-commercial use only): 18 joints (Nose, Neck, RShoulder, RElbow, RWrist, LShoulder, LElbow,
LWrist, RHip, RKnee, RAnkle, LHip, LKnee, LAnkle, REye, LEye, REar, LEar), the neck being the
middle of the shoulders; 17 limbs as filled ellipses at 60% of their colour on black, then the
joints as dots in full colour; one colour per limb and joint from the 18 standard ones. Joints
scored under KEYPOINT_THRESHOLD, and the limbs that touch them, are not drawn. Sizes are the
convention's at a 512-pixel short side (sticks 4 wide, dots of radius 4), scaled to the frame.

Both models come through our download path with progress; offline and missing, an InputError
names both and the `models download` command. They run on the CPU, like `depth`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.errors import InputError

POSE_DETECTOR = "PekingU/rtdetr_r50vd_coco_o365"
POSE_MODEL = "usyd-community/vitpose-base-simple"
PERSON_LABEL = 0  # COCO's "person" in RT-DETR's labels
DETECTION_THRESHOLD = 0.3
KEYPOINT_THRESHOLD = 0.3
REFERENCE_SIDE = 512  # the short side the convention's sizes are for
STICK_WIDTH = 4
JOINT_RADIUS = 4

# For each OpenPose body joint, its COCO-17 keypoint; the neck (None) is made from the shoulders.
COCO_OF_JOINT = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
COCO_LEFT_SHOULDER, COCO_RIGHT_SHOULDER = 5, 6
NECK = 1
# The 17 limbs, as pairs of joints; limb i and joint i share COLOURS[i].
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # RGB
LIMB_SHARE = (3, 5)  # limbs at 3/5 = 60% of their colour, in integers so it is exact


def openpose_joints(keypoints: np.ndarray, scores: np.ndarray,
                    threshold: float = KEYPOINT_THRESHOLD) -> np.ndarray:
    """COCO-17 keypoints [17, 2] (x, y) and their scores [17] as the 18 OpenPose joints
    [18, 2]; NaN where a joint is not confident enough to draw."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    confident = np.asarray(scores, dtype=np.float64) >= threshold
    joints = np.full((len(COCO_OF_JOINT), 2), np.nan)
    for joint, coco in enumerate(COCO_OF_JOINT):
        if coco is not None and confident[coco]:
            joints[joint] = keypoints[coco]
    if confident[COCO_LEFT_SHOULDER] and confident[COCO_RIGHT_SHOULDER]:
        joints[NECK] = (keypoints[COCO_LEFT_SHOULDER] + keypoints[COCO_RIGHT_SHOULDER]) / 2
    return joints


def drawing_sizes(height: int, width: int) -> tuple[int, int]:
    """(stick half-width, joint radius) for a frame: the convention's at a 512-pixel short side."""
    scale = min(height, width) / REFERENCE_SIDE
    return max(1, round(STICK_WIDTH * scale)), max(1, round(JOINT_RADIUS * scale))


def draw_pose(height: int, width: int, people: list[np.ndarray]) -> np.ndarray:
    """The skeletons of `people` (each an [18, 2] array from openpose_joints) on black, as
    uint8 RGB [height, width, 3]."""
    import cv2

    stick, radius = drawing_sizes(height, width)
    limbs = np.zeros((height, width, 3), np.uint8)
    for limb, (a, b) in enumerate(LIMBS):
        for joints in people:
            if np.isnan(joints[[a, b]]).any():
                continue
            (xa, ya), (xb, yb) = joints[a], joints[b]
            centre = (int(round((xa + xb) / 2)), int(round((ya + yb) / 2)))
            half_length = int(round(math.hypot(xb - xa, yb - ya) / 2))
            angle = int(round(math.degrees(math.atan2(yb - ya, xb - xa))))
            polygon = cv2.ellipse2Poly(centre, (half_length, stick), angle, 0, 360, 1)
            cv2.fillConvexPoly(limbs, polygon, COLOURS[limb])
    canvas = (limbs.astype(np.uint16) * LIMB_SHARE[0] // LIMB_SHARE[1]).astype(np.uint8)
    for joint, colour in enumerate(COLOURS):
        for joints in people:
            if not np.isnan(joints[joint]).any():
                x, y = joints[joint]
                cv2.circle(canvas, (int(round(x)), int(round(y))), radius, colour, thickness=-1)
    return canvas


def pose_model_folders(on_progress: Callable | None = None) -> tuple[Path, Path]:
    """The RT-DETR and ViTPose snapshots, downloaded with progress when missing. InputError
    (exit 2) naming both when one is missing and the Hub cannot be reached."""
    from backend.hub.downloads import ModelRef, complete_snapshot, snapshots

    refs = [
        ModelRef(POSE_DETECTOR, "pose preprocessor (person detector)", "config.json"),
        ModelRef(POSE_MODEL, "pose preprocessor (keypoints)", "config.json"),
    ]
    try:
        folders = snapshots(refs, on_progress)
    except InputError as exc:
        missing = [ref.repo_id for ref in refs if complete_snapshot(ref) is None]
        raise InputError(
            f"preprocess=pose needs {POSE_DETECTOR} and {POSE_MODEL} "
            f"({', '.join(missing)} not downloaded, and cannot be now: "
            f"{exc}); connect once, or run "
            f"`python main.py models download {POSE_DETECTOR} {POSE_MODEL}`"
        ) from None
    return folders[0], folders[1]


@dataclass
class PoseModels:
    detector_processor: Any
    detector: Any
    pose_processor: Any
    pose_model: Any


def load_pose_models(detector_folder: Path, pose_folder: Path) -> PoseModels:
    try:
        from transformers import (
            AutoImageProcessor,
            RTDetrForObjectDetection,
            VitPoseForPoseEstimation,
        )
    except ImportError:
        import transformers

        raise InputError(
            f"preprocess=pose needs a transformers with ViTPose and RT-DETR; this one "
            f"({transformers.__version__}) has not: `pip install -U transformers`, or use the "
            "locked versions the installer sets up"
        ) from None

    return PoseModels(
        AutoImageProcessor.from_pretrained(detector_folder),
        RTDetrForObjectDetection.from_pretrained(detector_folder).eval(),
        AutoImageProcessor.from_pretrained(pose_folder),
        VitPoseForPoseEstimation.from_pretrained(pose_folder).eval(),
    )


def person_keypoints(models: PoseModels, frame: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each person's COCO-17 keypoints [17, 2] (x, y in pixels) and scores [17] in one RGB frame."""
    import torch
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame))
    with torch.no_grad():
        inputs = models.detector_processor(images=image, return_tensors="pt")
        detected = models.detector_processor.post_process_object_detection(
            models.detector(**inputs), target_sizes=torch.tensor([(image.height, image.width)]),
            threshold=DETECTION_THRESHOLD,
        )[0]
        boxes = detected["boxes"][detected["labels"] == PERSON_LABEL].numpy().copy()
        if not len(boxes):
            return []
        boxes[:, 2:] -= boxes[:, :2]  # (x1, y1, x2, y2) to COCO (x, y, w, h)
        inputs = models.pose_processor(image, boxes=[boxes], return_tensors="pt")
        poses = models.pose_processor.post_process_pose_estimation(
            models.pose_model(**inputs), boxes=[boxes]
        )[0]
    return [(person["keypoints"].numpy(), person["scores"].numpy()) for person in poses]


def pose(frames: np.ndarray, on_progress: Callable | None = None) -> np.ndarray:
    """Frames [F, H, W, 3] uint8 as OpenPose-style skeletons on black, at the frames' size."""
    models = load_pose_models(*pose_model_folders(on_progress))
    height, width = frames.shape[1:3]
    drawn = []
    for frame in frames:
        people = [openpose_joints(points, scores) for points, scores in person_keypoints(models, frame)]
        drawn.append(draw_pose(height, width, people))
    return np.stack(drawn)
