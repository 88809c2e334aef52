"""The window on a small and a common screen: it fits, and what people need is visible with a
useful size. Each screen size runs the window in its own offscreen Qt process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def probe(tmp_path: Path, width: int, height: int, sections: str = "") -> dict:
    config = tmp_path / f"screen-{width}x{height}.json"
    config.write_text(json.dumps({"screens": [{
        "name": "test", "x": 0, "y": 0, "width": width, "height": height,
        "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}",
               ANIMATEDIFF_STUDIO_CONFIG_DIR=str(tmp_path / "config"),
               ANIMATEDIFF_STUDIO_DATA_DIR=str(tmp_path / "data"), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "gui" / "layout_probe.py"), sections],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


MINIMUM = {  # name: (width, height) a person can use
    "frameSlider": (160, 10),
    "generateButton": (100, 28),
    "promptEdit": (220, 60),
    "playButton": (24, 20),
    "exportButton": (50, 20),
    "framesSpin": (60, 20),
    "durationSecondsSpin": (60, 20),
    "frameCounter": (40, 10),
}


@pytest.mark.parametrize("size", [(1024, 700), (1280, 800)])
@pytest.mark.parametrize("sections", ["", "sampling,loras,motion,memory,remote"])
def test_window_fits_its_screen_and_keeps_useful_sizes(tmp_path, size, sections):
    report = probe(tmp_path, *size, sections)
    x, y, width, height = report["window"]
    assert report["screen"] == list(size)
    assert x >= 0 and y >= 0 and x + width <= size[0] and y + height <= size[1], report["window"]
    # The left column is never narrower than its content (there is no horizontal scrolling).
    column_width, column_minimum = report["column"]
    assert column_width >= column_minimum
    for name, (min_w, min_h) in MINIMUM.items():
        widget = report["widgets"][name]
        assert widget is not None, name
        assert widget["visible"], f"{name} is not visible at {size}: {widget}"
        assert widget["w"] >= min_w and widget["h"] >= min_h, f"{name} too small at {size}: {widget}"
        assert widget["x"] + widget["w"] <= width and widget["y"] + widget["h"] <= height, name
    compare = report["compare"]
    assert compare["window"][0] <= size[0] and compare["window"][1] <= size[1]
    assert compare["slider"]["w"] >= 160 and compare["slider"]["visible"]
