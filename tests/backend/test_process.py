"""The real process: `python main.py ...` exit codes, JSON output, interruption, and backend/
running end to end with PySide6 unimportable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    values = dict(os.environ)
    values["HF_HUB_OFFLINE"] = "1"
    values["PYTHONPATH"] = str(ROOT)
    return values


def tiny_args(models, output) -> list[str]:
    return [
        "--prompt", "a cat", "--output", str(output),
        "--base-model", str(models.base), "--motion-adapter", str(models.motion_adapter),
        "--width", "64", "--height", "64", "--frames", "4", "--steps", "2", "--seed", "7",
    ]


BLOCK_QT = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6', 'PyQt5', 'PyQt6'):
            raise ImportError('Qt is blocked')
sys.meta_path.insert(0, Block())
"""


def test_backend_runs_with_qt_unimportable(demo_models, tmp_path):
    output = tmp_path / "clip.gif"
    code = BLOCK_QT + f"""
import pkgutil, importlib, backend
for module in pkgutil.iter_modules(backend.__path__):
    importlib.import_module('backend.' + module.name)
try:
    import PySide6
    raise SystemExit('PySide6 imported despite the block')
except ImportError:
    pass
from backend.cli.commands import main
status = main({['generate', *tiny_args(demo_models, output), '--quiet']!r})
assert not any(m.startswith(('PySide6', 'shiboken6')) for m in sys.modules)
raise SystemExit(status)
"""
    result = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert output.stat().st_size > 0


def test_backend_sources_never_import_qt_or_gui():
    import ast

    for path in (ROOT / "backend").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("PySide6", "shiboken6", "gui")), f"{path.name} imports {name}"


def test_main_generate_json(demo_models, tmp_path):
    output = tmp_path / "frames"
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "generate", *tiny_args(demo_models, output), "--json"],
        env=env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["request"]["seed"] == 7 and summary["request"]["schema_version"] == 1
    assert summary["frames"] == 4 and summary["size"] == [64, 64]
    assert [Path(p).name for p in summary["files"]] == [f"frame_{i:05d}.png" for i in range(4)]
    assert all(Path(p).is_file() for p in summary["files"])
    assert "Traceback" not in result.stderr


def test_main_bad_input_exit_2(demo_models, tmp_path):
    output = tmp_path / "x.mp4"
    args = tiny_args(demo_models, output)
    args[args.index("--width") + 1] = "63"
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "generate", *args],
        env=env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "width" in result.stderr
    assert not output.exists()


def test_main_interrupted_exit_130_leaves_nothing(demo_models, tmp_path):
    output = tmp_path / "long.mp4"
    args = tiny_args(demo_models, output)
    args[args.index("--steps") + 1] = "500"
    args[args.index("--frames") + 1] = "16"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "generate", *args],
        env=env(), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )
    seen = bytearray()
    started = threading.Event()

    def read() -> None:
        while chunk := process.stderr.read1(4096):
            seen.extend(chunk)
            if b"denoising" in seen:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert started.wait(120), seen.decode(errors="replace")
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 130
    reader.join(5)
    assert b"interrupted" in seen and b"Traceback" not in seen
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["--help"], ["generate", "--help"]])
def test_help(argv):
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *argv], env=env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "usage" in result.stdout


def test_demo_model_command(tmp_path, capsys):
    from backend.cli.commands import main as cli_main
    from backend.models.demo_model import is_demo_model_complete

    assert cli_main(["demo-model", str(tmp_path / "demo")]) == 0
    assert is_demo_model_complete(tmp_path / "demo")
    size = sum(p.stat().st_size for p in (tmp_path / "demo").rglob("*") if p.is_file())
    assert size < 20_000_000
    assert "base model" in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "demo").iterdir() if p.name.startswith(".")] == []
