"""Fixtures shared by backend and GUI tests. No Qt here: backend tests run with Qt blocked."""

from __future__ import annotations

import os

# Tests never touch the network: a hub id must fail fast with the offline message, not hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# The real RabbitMQ broker and render workers (session fixtures, started only when used).
pytest_plugins = ["tests.remote_fixtures"]


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory):
    """The tiny random-weight model set, built once per session with the product's own code."""
    from backend.models.demo_model import write_demo_model

    return write_demo_model(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def clip_frames() -> np.ndarray:
    """A small natural-ish moving clip: a bright disc drifting over a gradient, 8 x 64x64."""
    frames = []
    yy, xx = np.mgrid[0:64, 0:64]
    for index in range(8):
        cx, cy = 16 + index * 4, 32
        disc = ((xx - cx) ** 2 + (yy - cy) ** 2) < 100
        frame = np.stack([xx * 4, yy * 4, np.full_like(xx, 96)], axis=-1).astype(np.uint8)
        frame[disc] = (250, 220, 40)
        frames.append(frame)
    return np.stack(frames)


@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory, clip_frames):
    from PIL import Image

    folder = tmp_path_factory.mktemp("clip")
    for index, frame in enumerate(clip_frames):
        Image.fromarray(frame).save(folder / f"in_{index:03d}.png")
    return folder


@pytest.fixture(scope="session")
def lora_files(demo_models, tmp_path_factory):
    """Tiny image LoRAs, embeddings and a Lightning-style motion file for the demo model."""
    from tests.backend.fixture_files import write_fixture_files

    return write_fixture_files(tmp_path_factory.mktemp("fixture-files"), demo_models.base)
