"""`python main.py models ...` and `generate` with Hub models, as real processes against the Hub
stand-in on 127.0.0.1: download, generate with the network gone, offline messages, delete."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hub_server import FakeHub

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env(home: Path, endpoint: str, offline: bool = False) -> dict[str, str]:
    values = dict(os.environ)
    values.update(
        PYTHONPATH=str(ROOT),
        HF_HOME=str(home),
        HF_ENDPOINT=endpoint,
        HF_HUB_OFFLINE="1" if offline else "0",
        ANIMATEDIFF_STUDIO_CONFIG_DIR=str(home / "config"),
    )
    values.pop("HF_HUB_CACHE", None)
    return values


def run(args, environment, timeout=300) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    return done, time.monotonic() - started


class ConnectionCounter:
    """Listens on a port, counts the connections and drops them: a network that is gone, but
    one that tells whether anything tried to reach it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.count = 0
        self.running = True
        import threading

        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while self.running:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            connection.close()

    def __enter__(self) -> ConnectionCounter:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


def gif_frames(path: Path) -> list[bytes]:
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        return [frame.convert("RGB").tobytes() for frame in ImageSequence.Iterator(image)]


def generate_args(output: Path) -> list[str]:
    return [
        "generate",
        "--prompt",
        "a cat",
        "--output",
        str(output),
        "--base-model",
        "demo/base",
        "--motion-adapter",
        "demo/adapter",
        "--width",
        "64",
        "--height",
        "64",
        "--frames",
        "4",
        "--steps",
        "2",
        "--seed",
        "7",
    ]


@pytest.fixture
def hub(demo_models):
    server = FakeHub(
        {"demo/base": demo_models.base, "demo/adapter": demo_models.motion_adapter}
    ).start()
    yield server
    server.stop()


def test_download_then_generate_with_the_network_gone_then_delete(hub, demo_models, tmp_path):
    home = tmp_path / "hf"
    online = env(home, hub.endpoint)
    done, _ = run(["models", "download", "demo/base", "demo/adapter"], online)
    assert done.returncode == 0, done.stderr
    assert "downloaded: demo/base, demo/adapter" in done.stderr
    assert "B/s" in done.stderr or "100%" in done.stderr  # the tqdm bar
    snapshot = next((home / "hub" / "models--demo--base" / "snapshots").iterdir())
    assert (snapshot / "unet/diffusion_pytorch_model.safetensors").read_bytes() == (
        demo_models.base / "unet/diffusion_pytorch_model.safetensors"
    ).read_bytes()

    again, _ = run(["models", "download", "demo/base"], online)
    assert again.returncode == 0 and "already downloaded" in again.stderr

    hub.stop()  # the server is gone; what now listens there only counts connection attempts
    with ConnectionCounter(hub.port) as attempts:
        gone, gone_time = run([*generate_args(tmp_path / "gone.gif"), "--quiet"], online)
    assert gone.returncode == 0, gone.stderr
    assert attempts.count == 0  # not one connection: no request, no retry
    offline, offline_time = run(
        [*generate_args(tmp_path / "offline.gif"), "--quiet"], env(home, hub.endpoint, offline=True)
    )
    assert offline.returncode == 0, offline.stderr
    assert gif_frames(tmp_path / "gone.gif") == gif_frames(tmp_path / "offline.gif")
    # As fast as offline mode, give or take the shared CPU (retries would add 25-45 s).
    assert gone_time < offline_time * 1.5 + 3.0, (gone_time, offline_time)

    listed, _ = run(["models", "list", "--json"], online)
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows["demo/base"]["kind"] == "base-model" and rows["demo/base"]["complete"]
    assert (
        rows["demo/adapter"]["kind"] == "motion-adapter" and rows["demo/base"]["size"] > 4_000_000
    )

    deleted, _ = run(["models", "delete", "demo/base"], online)
    assert deleted.returncode == 0, deleted.stderr
    assert "freed" in deleted.stderr
    assert not (home / "hub" / "models--demo--base").exists()
    listed, _ = run(["models", "list", "--json"], online)
    ids = [row["id"] for row in json.loads(listed.stdout)]
    assert "demo/base" not in ids and "demo/adapter" in ids

    missing, _ = run(["models", "delete", "demo/base"], online)
    assert missing.returncode == 2 and "not in the Hugging Face cache" in missing.stderr


def test_generate_downloads_missing_models_with_progress_first(hub, tmp_path):
    home = tmp_path / "hf"
    output = tmp_path / "clip.gif"
    done, _ = run(generate_args(output), env(home, hub.endpoint))
    assert done.returncode == 0, done.stderr
    assert output.exists()
    assert "12/12" in done.stderr or "downloading" in done.stderr


@pytest.mark.parametrize("offline", [False, True], ids=["server-stopped", "HF_HUB_OFFLINE"])
def test_uncached_model_offline_is_said_within_two_seconds(tmp_path, offline):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    output = tmp_path / "clip.gif"
    done, elapsed = run(generate_args(output), env(tmp_path / "hf", endpoint, offline=offline))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "demo/base" in lines[0] and "models download demo/base" in lines[0]
    assert ("HF_HUB_OFFLINE" if offline else "cannot be reached") in lines[0]
    assert elapsed < 2.0, f"took {elapsed:.2f} s (process start included)"
    assert not output.exists()


def test_scan_lists_a_folder(demo_models, tmp_path):
    home = tmp_path / "hf"
    done, _ = run(
        ["models", "scan", str(demo_models.root), "--json", "--add"],
        env(home, "http://127.0.0.1:9"),
    )
    assert done.returncode == 0, done.stderr
    kinds = {Path(row["path"]).parent.name: row["kind"] for row in json.loads(done.stdout)}
    assert kinds["motion-adapter"] == "motion-module" and kinds["motion-lora"] == "motion-lora"
    listed, _ = run(["models", "list", "--json"], env(home, "http://127.0.0.1:9"))
    local = [row for row in json.loads(listed.stdout) if row["source"] == "local"]
    assert any(row["kind"] == "motion-lora" for row in local)
    bad, _ = run(["models", "scan", str(tmp_path / "nope")], env(home, "http://127.0.0.1:9"))
    assert bad.returncode == 2 and "no such folder" in bad.stderr


def test_ctrl_c_during_a_download_exits_130_and_leaves_no_partial_file(hub, tmp_path):
    import signal

    home = tmp_path / "hf"
    hub.rate = 500_000  # the unet alone takes about 9 s
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "models", "download", "demo/base"],
        env=env(home, hub.endpoint), stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while not any(path.endswith("unet/diffusion_pytorch_model.safetensors") for path in hub.file_requests("GET")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert time.monotonic() - interrupted < 3.0
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(home.rglob("*.incomplete")) == []


@pytest.mark.network
def test_a_real_motion_lora_from_the_hub(tmp_path):
    """Against huggingface.co itself (Xet storage included); skipped without the internet."""
    from backend.hub.downloads import probe_endpoint

    if probe_endpoint("https://huggingface.co", timeout=2.0) is not None:
        pytest.skip("needs the internet: huggingface.co cannot be reached")
    home = tmp_path / "hf"
    done, _ = run(["models", "download", "guoyww/animatediff-motion-lora-zoom-in"],
                  env(home, "https://huggingface.co"), timeout=1200)
    assert done.returncode == 0, done.stderr
    listed, _ = run(["models", "list", "--json"], env(home, "https://huggingface.co"))
    row = next(r for r in json.loads(listed.stdout) if r["id"] == "guoyww/animatediff-motion-lora-zoom-in")
    assert row["complete"] and row["size"] > 50_000_000
