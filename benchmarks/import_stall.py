"""What the window loses while the worker thread imports torch and diffusers, with and without
the app's faster PySide6 feature check (gui/import_hook.py).

PySide6 asks of every module imported after it whether the module's source mentions PySide6;
its own check reads the source through `inspect`, in Python, under the interpreter lock. Each
run is a fresh process: a window is shown, a thread imports torch and diffusers as the worker
does, and a 5 ms timer on the GUI thread notes how late it is served. Prints the import's wall
time, the longest stall and the GUI time lost in all (the sum of the timer's lateness), as
medians over alternating runs, and the ratio of the lost time (with the check / without).

    python benchmarks/import_stall.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, threading, time
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel
if sys.argv[2] == "fast":
    from gui.import_hook import speed_up_feature_check
    speed_up_feature_check()
app = QApplication([])
label = QLabel("importing")
label.show()
app.processEvents()
done = threading.Event()
def work():
    import torch, diffusers  # noqa: F401
    from diffusers import AnimateDiffPipeline  # noqa: F401
    done.set()
clock = QElapsedTimer(); clock.start()
last, worst, lost = [0.0], [0.0], [0.0]
def tick():
    now = clock.nsecsElapsed() / 1e6
    late = max(0.0, now - last[0] - 5.0)
    worst[0] = max(worst[0], late); lost[0] += late; last[0] = now
timer = QTimer(); timer.setTimerType(Qt.TimerType.PreciseTimer); timer.setInterval(5)
timer.timeout.connect(tick); timer.start()
started = time.perf_counter(); last[0] = clock.nsecsElapsed() / 1e6
threading.Thread(target=work, daemon=True).start()
while not done.is_set():
    app.processEvents(); time.sleep(0.001)
print(json.dumps({"seconds": time.perf_counter() - started, "worst": worst[0], "lost": lost[0]}))
"""


def run(kind: str) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed program has its bytecode caches
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), kind], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    run("fast")  # writes the bytecode caches
    results: dict[str, list[dict]] = {"pyside": [], "fast": []}
    for _ in range(args.runs):
        for kind in results:
            results[kind].append(run(kind))
    for kind, label in (("pyside", "PySide6's own check"), ("fast", "the app's byte search")):
        rows = results[kind]
        print(f"{label:>22}: import {statistics.median(r['seconds'] for r in rows):.2f} s, longest GUI "
              f"stall {statistics.median(r['worst'] for r in rows):.0f} ms, GUI time lost "
              f"{statistics.median(r['lost'] for r in rows):.0f} ms (medians of {len(rows)})")
    ratio = (statistics.median(r["lost"] for r in results["fast"])
             / statistics.median(r["lost"] for r in results["pyside"]))
    print(f"GUI time lost, byte search / PySide6's check: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
