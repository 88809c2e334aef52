"""How responsive the window is.

1. Start-up: wall time from launching the program (`main.main`, as `python main.py` runs it)
   to the main window's first paint (median of several launches, each its own process, after
   one that writes the bytecode caches, as an installed program has them), the GUI thread's CPU
   seconds by then, and which of torch, diffusers, numpy and PIL were imported by then. Goal:
   under 0.5 s, no torch. Beside it, the same for a bare PySide6 window (a label, a menu, a
   status bar), the floor no PySide6 program starts under on this machine. `--compare DIR`
   measures another checkout (the one before a change) in the same run, launches alternating.
2. While a tiny-model job runs in the worker thread, a 10 ms timer on the GUI thread records
   how late each of its ticks is. Goal: max delay under 50 ms. Prints max and p99.
3. Saving 20 takes of 16 frames at 512x512 from the window: the longest the GUI thread goes
   without serving a 5 ms timer while the save runs (the PNGs are encoded on the writer's
   thread). Goal: under 50 ms. The save starts once the worker is ready (torch imported), as
   in a session whose takes were generated; while the worker still imports torch after the
   window shows, torch's C extensions hold the interpreter lock for up to a few hundred ms at
   a time whatever the window does: that stall is printed on its own line. Beside it, the
   same save run on the GUI thread, as the window did before it had a writer thread.
4. Exit: from the window closing (models loaded) to the process gone, through `main.run`, the
   program's entry point. Goal: under 1 s.

    python benchmarks/gui_responsiveness.py [--launches 5] [--compare DIR] [--parts startup,save,exit,job]

Runs offscreen (QT_QPA_PLATFORM=offscreen) unless a display is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Notes a window's first paint: the filter sits on that window alone (one on the application
# would run Python for each of the thousands of events of the start, and slow what it times).
FIRST_PAINT = """
import sys, time
launched = float(sys.argv[1])
sys.argv = sys.argv[:1]

def first_paint_filter():
    from PySide6.QtCore import QEvent, QObject, QTimer

    class FirstPaint(QObject):
        seen = False
        def eventFilter(self, target, event):
            if not self.seen and event.type() == QEvent.Type.Paint:
                self.seen = True
                heavy = ",".join(m for m in ("torch", "diffusers", "numpy", "PIL") if m in sys.modules) or "-"
                print(f"{time.time() - launched:.4f} {time.thread_time():.4f} {heavy}", flush=True)
                QTimer.singleShot(0, target.close)
            return False
    return FirstPaint()
"""

# Runs the program's own start (main.main, as `python main.py` does, modules imported in the
# same order): once gui.main_window is loaded, its MainWindow gets the filter as it is made.
STARTUP_PROBE = FIRST_PAINT + """
import importlib.abc, importlib.machinery
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "gui.main_window":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        load = spec.loader.exec_module
        def exec_module(module):
            load(module)
            made = module.MainWindow.__init__
            def init(window, *args, **kwargs):
                made(window, *args, **kwargs)
                window.probe = first_paint_filter()
                window.installEventFilter(window.probe)
            module.MainWindow.__init__ = init
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Hook())
import main
main.main([])
"""

# The floor: a bare PySide6 window of a label, a menu and a status bar, timed the same way.
BARE_PROBE = FIRST_PAINT + """
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow
app = QApplication(["animatediff-studio"])
app.setStyle("Fusion")
window = QMainWindow()
window.setCentralWidget(QLabel("AnimateDiff Studio"))
window.menuBar().addMenu("&File")
window.statusBar().showMessage("Ready")
probe = first_paint_filter()
window.installEventFilter(probe)
window.show()
app.exec()
"""
BARE = Path("<a bare PySide6 window>")


EXIT_PROBE = """
import sys
sys.argv = sys.argv[:1]
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import gui.app, main
app = gui.app.get_app()
def close_when_ready():
    windows = [w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow"]
    if not windows:
        QTimer.singleShot(10, close_when_ready)
        return
    def close():
        print("closing", file=sys.stderr, flush=True)
        windows[0].close()
    windows[0].controller.ready.connect(lambda: QTimer.singleShot(100, close))
QTimer.singleShot(0, close_when_ready)
main.run()
"""


def measure_exit(launches: int, env: dict[str, str]) -> list[float]:
    """Seconds from the window closing (torch and diffusers loaded) to the process gone."""
    times = []
    for _ in range(launches):
        process = subprocess.Popen([sys.executable, "-c", EXIT_PROBE], cwd=ROOT, env=env,
                                   stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        closing = None
        for line in process.stderr:
            if line.startswith("closing"):
                closing = time.monotonic()
                break
        process.stderr.read()
        process.wait(timeout=120)
        if closing is not None and process.returncode == 0:
            times.append(time.monotonic() - closing)
    return times


def launch_to_visible(root: Path, env: dict[str, str]) -> tuple[float, float, set[str]]:
    """Seconds from launch to the first paint, the GUI thread's CPU seconds by then (a figure a
    busy machine disturbs less), and which of torch, diffusers, numpy and PIL were imported.
    `root` BARE times a bare PySide6 window instead."""
    probe, cwd = (BARE_PROBE, ROOT) if root == BARE else (STARTUP_PROBE, root)
    env = dict(env, PYTHONPATH=str(cwd))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed program has its bytecode caches
    launched = time.time()
    result = subprocess.run([sys.executable, "-c", probe, repr(launched)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    seconds, cpu, heavy = result.stdout.split()[-3:]
    return float(seconds), float(cpu), set(heavy.split(",")) - {"-"}


def measure_startup(launches: int, env: dict[str, str], roots: list[Path]) -> dict[Path, tuple]:
    """Per checkout: (seconds, CPU seconds, heavy modules loaded in any); launches alternate
    between the checkouts, so a busy machine slows them alike."""
    for root in roots:
        launch_to_visible(root, env)  # writes the bytecode caches
    found = {root: ([], [], set()) for root in roots}
    for _ in range(launches):
        for root in roots:
            seconds, cpu, heavy = launch_to_visible(root, env)
            times, cpus, loaded = found[root]
            found[root] = (times + [seconds], cpus + [cpu], loaded | heavy)
    return found


def measure_save_stall(folder: Path) -> tuple[float, float, float, float, float, float]:
    """(longest GUI stall, seconds) for a save of 20 takes x 16 x 512x512 from the window once
    its worker is ready, the same for that save on the GUI thread (how the window saved
    before), and the same while the worker imports torch after the window shows."""
    import numpy as np

    from backend.core.request import GenerationRequest
    from benchmarks.gui_stall import stall_during
    from gui.app import get_app
    from gui.main_window import MainWindow

    app = get_app()
    window = MainWindow(settings_path=folder / "save-settings.json")
    ready = []
    window.controller.ready.connect(lambda: ready.append(True))
    import_seconds, import_stall = stall_during(app, lambda: (window.show(), lambda: bool(ready))[1])
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (16, 512, 512, 3), np.uint8)
    for seed in range(20):
        window.project.add_take(np.roll(base, seed, axis=2), GenerationRequest(prompt=f"take {seed}", seed=seed))
    window.takes.refresh()
    while window.takes.thumbnails.pending:
        app.processEvents()

    def measure(start, done) -> tuple[float, float]:
        seconds, worst = stall_during(app, lambda: (start(), done)[1])
        return worst, seconds

    saved = []
    window.projects.saved.connect(lambda: saved.append(True))
    threaded = measure(lambda: window.projects.save_to(folder / "threaded.adsproj"), lambda: bool(saved))
    # Before: Project.save on the GUI thread, as the window's Save did (fresh takes, so the
    # PNGs are encoded again rather than copied from the first file).
    for take in list(window.project.takes):
        window.project.add_take(window.project.frames(take).copy(), take.request)
    del window.project.takes[:20]
    inline = measure(lambda: window.project.save(folder / "inline.adsproj"), lambda: True)
    window.project.dirty = False
    window.close()
    while window.isVisible():
        app.processEvents()
    return (*threaded, *inline, import_stall, import_seconds)


def measure_job_delays(models_root: Path) -> tuple[list[float], float]:
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer

    from gui.app import get_app
    from gui.main_window import MainWindow

    app = get_app()
    window = MainWindow()
    window.show()
    window.models.base.set_text(str(models_root / "base"))
    window.models.adapter.set_text(str(models_root / "motion-adapter"))
    window.models.device.setCurrentText("cpu")
    p = window.parameters
    p.width_spin.setValue(256)
    p.height_spin.setValue(256)
    p.frames.setValue(16)
    p.steps.setValue(12)
    p.random_seed.setChecked(False)
    window.prompt.prompt.setPlainText("a sunset over the sea")

    ready = []
    window.controller.ready.connect(lambda: ready.append(True))
    while not ready:
        app.processEvents()
        time.sleep(0.005)

    delays: list[float] = []
    clock = QElapsedTimer()
    state = {"running": False, "done": False, "last": 0}

    def tick() -> None:
        now = clock.nsecsElapsed()
        if state["running"] and state["last"]:
            delays.append(max(0.0, (now - state["last"]) / 1e6 - 10.0))
        state["last"] = now

    def started(job) -> None:
        state["running"] = True

    def finished(*_args) -> None:
        state["running"] = False
        state["done"] = True

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    clock.start()
    timer.start(10)
    window.controller.job_started.connect(started)
    window.controller.job_finished.connect(finished)
    window.controller.job_failed.connect(finished)
    start = time.monotonic()
    window.generate()
    while not state["done"]:
        app.processEvents()
        time.sleep(0.001)
    duration = time.monotonic() - start
    timer.stop()
    window.project.dirty = False  # the take is not worth a save prompt here
    window.close()
    return delays, duration


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--compare", type=Path, help="another checkout to measure start-up of (before)")
    parser.add_argument("--parts", default="startup,save,exit,job",
                        help="which measures to run, comma-separated (default: all)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp())
    os.environ["ANIMATEDIFF_STUDIO_CONFIG_DIR"] = str(tmp / "config")
    os.environ["ANIMATEDIFF_STUDIO_DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    goals = []
    if "startup" in parts:
        roots = [ROOT] + ([args.compare.resolve()] if args.compare else []) + [BARE]
        startup = measure_startup(args.launches, env, roots)
        for root, (times, cpus, loaded) in startup.items():
            name = {ROOT: "this checkout", BARE: "a bare PySide6 window"}.get(root, str(root))
            print(f"window visible after launch ({name}): median {statistics.median(times):.3f} s, min "
                  f"{min(times):.3f} s, max {max(times):.3f} s over {len(times)} launches (GUI thread's "
                  f"CPU by then: median {statistics.median(cpus):.3f} s); imported by then: "
                  f"{', '.join(sorted(loaded)) or 'none of torch, diffusers, numpy, PIL'}")
        times, cpus, loaded = startup[ROOT]
        bare_times, bare_cpus, _ = startup[BARE]
        if args.compare:
            ratio = statistics.median(times) / statistics.median(startup[roots[1]][0])
            print(f"  this checkout / the other: {ratio:.2f}")
        print(f"  this checkout above the bare window: +{statistics.median(times) - statistics.median(bare_times):.3f} s "
              f"wall, +{statistics.median(cpus) - statistics.median(bare_cpus):.3f} s CPU")
        print("  (goal < 0.5 s, torch not imported)")
        goals.append(statistics.median(times) < 0.5 and "torch" not in loaded)

    if "save" in parts:
        stall, seconds, inline_stall, inline_seconds, import_stall, import_seconds = measure_save_stall(tmp)
        print(f"saving 20 takes x 16 x 512x512 from the window: GUI-thread stall {stall:.1f} ms over the "
              f"{seconds:.2f} s save (goal < 50 ms); the same save on the GUI thread, as before: stall "
              f"{inline_stall:.0f} ms ({inline_seconds:.2f} s)")
        print(f"  while the worker imported torch after the window showed: GUI-thread stall "
              f"{import_stall:.0f} ms over {import_seconds:.2f} s (not a goal: torch's C extensions "
              f"hold the interpreter lock)")
        goals.append(stall < 50)

    if "exit" in parts:
        exits = measure_exit(max(1, args.launches // 2), env)
        print(f"window closed to process gone: median {statistics.median(exits):.3f} s, max "
              f"{max(exits):.3f} s over {len(exits)} runs (goal < 1 s)")
        goals.append(max(exits) < 1.0)

    if "job" in parts:
        from backend.models.demo_model import write_demo_model

        models = write_demo_model(tmp / "models")
        delays, duration = measure_job_delays(models.root)
        delays.sort()
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] if delays else 0.0
        print(f"10 ms GUI timer during a {duration:.1f} s job (load + 12 steps, 16x256x256): "
              f"{len(delays)} ticks, max delay {max(delays, default=0):.1f} ms, p99 {p99:.1f} ms, "
              f"median {statistics.median(delays) if delays else 0:.1f} ms (goal: max < 50 ms)")
        goals.append(max(delays, default=0) < 50)
    ok = all(goals)
    print("all goals met" if ok else "some goals missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
