"""The window on a real desktop: Xvfb with a window manager (openbox) draws title bars and
borders, which the offscreen platform has not. The whole frame must lie inside the screen's
available area on first start, and ten restarts must not move it (saveGeometry/restoreGeometry
with no drift). Skipped with a reason where Xvfb or openbox is missing (.ci/run installs them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "tests" / "gui" / "desktop_probe.py"
RESTARTS = 10

pytestmark = pytest.mark.skipif(
    not (shutil.which("Xvfb") and shutil.which("openbox")),
    reason="needs Xvfb and openbox (apt-get install xvfb openbox), as .ci/run installs")


def free_display() -> int:
    for number in range(150, 250):
        if not (Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists()):
            return number
    raise RuntimeError("no free X display number between :150 and :249")


def wait_for(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def openbox_managing(env: dict) -> bool:
    """openbox has taken the screen: it sets _NET_SUPPORTING_WM_CHECK on the root window."""
    if not shutil.which("xprop"):  # the WM's own process having started is all we can see
        return True
    try:
        found = subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=env,
                               capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return False
    return "window id" in found.stdout


def serving(env: dict) -> bool:
    """The X server answers a client (its socket can exist a moment before it does)."""
    if not shutil.which("xprop"):
        return True
    try:
        return subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=env,
                              capture_output=True, timeout=5).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture()
def desktop(request):
    """An X server of the given size with openbox on a free display; yields its environment."""
    size = request.param
    number = free_display()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, DISPLAY=f":{number}", QT_QPA_PLATFORM="xcb")
    manager = None
    try:
        wait_for(lambda: Path(f"/tmp/.X11-unix/X{number}").exists(), 60, "Xvfb did not start")
        wait_for(lambda: serving(env), 60, "Xvfb did not answer")
        # openbox quits at once when its first connection fails (a busy machine, a server not
        # yet serving): start it again then, rather than wait on a process that is gone.
        for _attempt in range(3):
            manager = subprocess.Popen(["openbox"], env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            wait_for(lambda process=manager: openbox_managing(env) or process.poll() is not None,
                     60, "openbox did not take the screen")
            if openbox_managing(env):
                break
        else:
            raise TimeoutError(f"openbox exited three times (last code {manager.returncode})")
        yield env
    finally:
        for process in (manager, server):
            if process is not None:
                process.terminate()
                process.wait(10)


def start_app(env: dict, tmp_path: Path, lang: str = "en_US.UTF-8") -> dict:
    run_env = {k: v for k, v in env.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    run_env.update(PYTHONPATH=str(ROOT), ANIMATEDIFF_STUDIO_CONFIG_DIR=str(tmp_path / "config"),
                   ANIMATEDIFF_STUDIO_DATA_DIR=str(tmp_path / "data"), LANG=lang)
    done = subprocess.run([sys.executable, str(PROBE)], env=run_env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def inside(inner: list[int], outer: list[int]) -> bool:
    x, y, w, h = inner
    ox, oy, ow, oh = outer
    return x >= ox and y >= oy and x + w <= ox + ow and y + h <= oy + oh


@pytest.mark.parametrize("lang", ["en_US.UTF-8", "zh_CN.UTF-8"])
@pytest.mark.parametrize("desktop", ["1024x700", "1280x800"], indirect=True)
def test_frame_fits_the_screen_and_restarts_do_not_drift(desktop, tmp_path, lang):
    first = start_app(desktop, tmp_path, lang)
    assert first["language"] == ("zh_CN" if lang.startswith("zh") else "en"), first
    assert first["framed"], "openbox gave the window no frame: the test shows nothing"
    assert inside(first["frame"], first["available"]), first
    assert inside(first["status_bar"], first["available"]), first
    # It uses the room it has: the frame is not needlessly small on a small screen.
    assert first["frame"][2] >= min(1280, first["available"][2]) - 2, first
    frames = [first["frame"]]
    for _ in range(RESTARTS):
        report = start_app(desktop, tmp_path, lang)
        assert inside(report["frame"], report["available"]), report
        assert inside(report["status_bar"], report["available"]), report
        frames.append(report["frame"])
    assert all(frame == frames[0] for frame in frames), f"the window moved between starts: {frames}"
