"""preprocess=pose: keypoints against transformers' own documented two-stage call (RT-DETR boxes,
then ViTPose) on tiny random-weight models in a Hugging Face cache of our making; the OpenPose
body drawing pixel by pixel; and the message offline with the weights missing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from backend.cli.commands import main as cli_main
from backend.models.pose import (
    COLOURS,
    POSE_DETECTOR,
    POSE_MODEL,
    draw_pose,
    drawing_sizes,
    load_pose_models,
    openpose_joints,
    person_keypoints,
    pose_model_folders,
)
from tests.hub_cache import put_in_cache


@pytest.fixture(scope="module")
def tiny_pose_cache(tmp_path_factory):
    """Tiny RT-DETR and ViTPose models, random but seeded, under the real models' ids. The
    detector's class head is set so every query says "person" (label 0, score 0.9975) and the
    pose head's bias so every keypoint is confident: the whole path runs on every frame."""
    import torch
    from transformers import (
        RTDetrConfig,
        RTDetrForObjectDetection,
        RTDetrImageProcessorPil,
        RTDetrResNetConfig,
        VitPoseBackboneConfig,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessorPil,
    )

    torch.manual_seed(0)
    backbone = RTDetrResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                                  layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    detector = RTDetrForObjectDetection(RTDetrConfig(
        backbone_config=backbone, encoder_in_channels=[16, 32, 64], encoder_hidden_dim=16,
        encoder_ffn_dim=32, encoder_attention_heads=2, d_model=16, decoder_in_channels=[16, 16, 16],
        decoder_ffn_dim=32, decoder_layers=1, decoder_attention_heads=2, decoder_n_points=2,
        num_queries=3, num_labels=2, num_denoising=0,
    )).eval()
    with torch.no_grad():
        for head in detector.model.decoder.class_embed:
            head.weight.zero_()
            head.bias.copy_(torch.tensor([6.0, -6.0]))
    pose_backbone = VitPoseBackboneConfig(image_size=[64, 48], patch_size=[16, 16], hidden_size=32,
                                          num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                                          out_indices=[2])
    pose_model = VitPoseForPoseEstimation(
        VitPoseConfig(backbone_config=pose_backbone, use_simple_decoder=True, num_labels=17)).eval()
    with torch.no_grad():
        pose_model.head.conv.bias.add_(1.0)

    def save_detector(folder):
        detector.save_pretrained(folder)
        RTDetrImageProcessorPil(size={"height": 64, "width": 64}).save_pretrained(folder)

    def save_pose(folder):
        pose_model.save_pretrained(folder)
        VitPoseImageProcessorPil(size={"height": 64, "width": 48}).save_pretrained(folder)

    cache = tmp_path_factory.mktemp("pose-hub")
    put_in_cache(cache, POSE_DETECTOR, save_detector)
    put_in_cache(cache, POSE_MODEL, save_pose)
    return cache


@pytest.fixture
def pose_cache(tiny_pose_cache, monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tiny_pose_cache))
    monkeypatch.setenv("ANIMATEDIFF_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    return tiny_pose_cache


def documented_recipe(detector_folder, pose_folder):
    """transformers' ViTPose documentation's two-stage recipe, as written there (the models
    loaded once): a function from a PIL image to each person's keypoints and scores."""
    import torch
    from transformers import AutoProcessor, RTDetrForObjectDetection, VitPoseForPoseEstimation

    person_image_processor = AutoProcessor.from_pretrained(detector_folder)
    person_model = RTDetrForObjectDetection.from_pretrained(detector_folder)
    image_processor = AutoProcessor.from_pretrained(pose_folder)
    model = VitPoseForPoseEstimation.from_pretrained(pose_folder)

    def keypoints(image: Image.Image):
        inputs = person_image_processor(images=image, return_tensors="pt")
        with torch.no_grad():
            outputs = person_model(**inputs)
        results = person_image_processor.post_process_object_detection(
            outputs, target_sizes=torch.tensor([(image.height, image.width)]), threshold=0.3
        )
        result = results[0]
        person_boxes = result["boxes"][result["labels"] == 0]
        person_boxes = person_boxes.cpu().numpy()
        person_boxes[:, 2] = person_boxes[:, 2] - person_boxes[:, 0]
        person_boxes[:, 3] = person_boxes[:, 3] - person_boxes[:, 1]

        inputs = image_processor(image, boxes=[person_boxes], return_tensors="pt")
        with torch.no_grad():
            outputs = model(**inputs)
        pose_results = image_processor.post_process_pose_estimation(outputs, boxes=[person_boxes])
        return [(p["keypoints"].numpy(), p["scores"].numpy()) for p in pose_results[0]]

    return keypoints


def test_keypoints_are_transformers_documented_call(pose_cache, clip_frames):
    folders = pose_model_folders()
    assert [f.parent.parent.name for f in folders] == [
        "models--PekingU--rtdetr_r50vd_coco_o365", "models--usyd-community--vitpose-base-simple"]
    ours = person_keypoints(load_pose_models(*folders), clip_frames[3])
    expected = documented_recipe(*folders)(Image.fromarray(clip_frames[3]))
    assert len(expected) >= 1 and len(ours) == len(expected)
    for (points, scores), (want_points, want_scores) in zip(ours, expected, strict=True):
        assert points.shape == (17, 2) and scores.shape == (17,)
        assert np.array_equal(points, want_points) and np.array_equal(scores, want_scores)


def test_preprocess_pose_draws_the_documented_keypoints(pose_cache, tmp_path, clip_frames):
    source = tmp_path / "source"
    source.mkdir()
    frames = clip_frames[[2, 5]]
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(source / f"{index}.png")
    recipe = documented_recipe(*pose_model_folders())
    expected = np.stack([
        draw_pose(64, 64, [openpose_joints(points, scores)
                           for points, scores in recipe(Image.fromarray(frame))])
        for frame in frames
    ])
    assert expected.any()
    out = tmp_path / "pose"
    for _ in range(2):  # the second run reads the cache
        assert cli_main(["preprocess", "pose", "--input", str(source), "--output", str(out)]) == 0
        written = np.stack([np.asarray(Image.open(p)) for p in sorted(out.glob("frame_*.png"))])
        assert written.dtype == np.uint8 and written.shape == frames.shape
        assert np.array_equal(written, expected)
    assert len(list((tmp_path / "cache" / "control-frames").iterdir())) == 1


# A standing person in a 512-pixel frame, COCO-17 order: nose, eyes, ears, shoulders, elbows,
# wrists, hips, knees, ankles (left before right; the person's left is the image's right).
PERSON = np.array([
    [256, 80], [276, 64], [236, 64], [300, 76], [212, 76],
    [330, 140], [182, 140], [370, 220], [142, 220], [400, 300], [112, 300],
    [300, 300], [212, 300], [310, 390], [202, 390], [315, 470], [197, 470],
], dtype=np.float64)


def test_joints_are_openpose_order_with_the_neck_between_the_shoulders():
    scores = np.full(17, 0.9)
    scores[3] = 0.29  # left ear: under the threshold
    joints = openpose_joints(PERSON, scores)
    assert joints.shape == (18, 2)
    assert np.array_equal(joints[1], (PERSON[5] + PERSON[6]) / 2)
    assert np.array_equal(joints[2], PERSON[6]) and np.array_equal(joints[5], PERSON[5])  # R, L shoulder
    assert np.array_equal(joints[14], PERSON[2]) and np.array_equal(joints[16], PERSON[4])  # R eye, ear
    assert np.isnan(joints[17]).all()
    scores[6] = 0.1  # right shoulder: no neck either
    joints = openpose_joints(PERSON, scores)
    assert np.isnan(joints[1]).all() and np.isnan(joints[2]).all()


# The two conventions by name: COCO's 17 keypoints (as ViTPose gives them) and OpenPose's 18
# body joints (as the openpose ControlNet was trained on).
COCO_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
              "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
              "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
OPENPOSE_NAMES = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                  "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
                  "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear")


def test_every_joint_comes_from_the_coco_keypoint_of_its_name():
    points = np.arange(34, dtype=np.float64).reshape(17, 2)  # each keypoint its own position
    joints = openpose_joints(points, np.ones(17))
    for joint, name in enumerate(OPENPOSE_NAMES):
        if name == "neck":
            continue
        assert np.array_equal(joints[joint], points[COCO_NAMES.index(name)]), name


def test_drawing_has_the_openpose_colours():
    scores = np.full(17, 0.9)
    scores[3] = 0.1  # left ear
    joints = openpose_joints(PERSON, scores)
    canvas = draw_pose(512, 512, [joints])
    assert canvas.dtype == np.uint8 and canvas.shape == (512, 512, 3)
    assert drawing_sizes(512, 512) == (4, 4)

    def at(point):
        x, y = np.round(point).astype(int)
        return tuple(int(v) for v in canvas[y, x])

    for joint in range(17):  # every joint but the left ear, in its own colour
        assert at(joints[joint]) == COLOURS[joint], joint
    assert at(joints[1]) == (255, 85, 0) and at((256, 140)) == (255, 85, 0)  # the neck
    assert at(PERSON[3]) == (0, 0, 0)  # the left ear is not drawn...
    assert at((PERSON[1] + PERSON[3]) / 2) == (0, 0, 0)  # ...nor its limb from the left eye
    sixty = [tuple(c * 3 // 5 for c in colour) for colour in COLOURS]
    limbs = {(1, 2): 0, (2, 3): 2, (3, 4): 3, (6, 7): 5, (8, 9): 7, (12, 13): 11, (0, 14): 13, (14, 16): 14}
    for (a, b), limb in limbs.items():
        assert at((joints[a] + joints[b]) / 2) == sixty[limb], (a, b)
    assert sixty[0] == (153, 0, 0) and sixty[2] == (153, 102, 0)
    assert not canvas[:40].any() and not canvas[490:].any()  # black around the person


def test_drawing_scales_with_the_frame_and_draws_nobody_as_black():
    assert drawing_sizes(1024, 768) == (6, 6) and drawing_sizes(64, 96) == (1, 1)
    empty = draw_pose(48, 80, [])
    assert empty.shape == (48, 80, 3) and not empty.any()


def test_pose_offline_names_both_models(capsys, tmp_path, clip_folder, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("ANIMATEDIFF_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code = cli_main(["preprocess", "pose", "--input", str(clip_folder), "--output", str(out)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert f"preprocess=pose needs {POSE_DETECTOR} and {POSE_MODEL}" in lines[0]
    assert f"python main.py models download {POSE_DETECTOR} {POSE_MODEL}" in lines[0]
    assert not out.exists() or not any(out.iterdir())


def test_catalogue_has_the_pose_models_with_licences():
    from backend.core.guidance import PREPROCESSORS
    from backend.hub.catalog import find_entry, load_catalog
    from backend.models.preprocessors import SETTINGS

    assert "pose" in PREPROCESSORS and SETTINGS["pose"]["detector"] == POSE_DETECTOR
    for model_id, size in ((POSE_DETECTOR, 172), (POSE_MODEL, 344)):
        entry = find_entry(model_id)
        assert entry.licence == "apache-2.0" and entry.size_mb == size and entry.kind == "preprocessor"
        assert entry.ref.marker == "config.json"
    assert any(entry.id == POSE_MODEL for entry in load_catalog())
