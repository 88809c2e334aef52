"""What `python main.py` has imported when its window first paints: the window must show before
torch, diffusers and numpy load (they load in the worker, after the first paint)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The program's own start (main.main, as `python main.py` runs it); at the main window's first
# paint it prints which heavy modules are loaded, and closes the window.
FIRST_PAINT_PROBE = """
import os, sys
os.environ['QT_QPA_PLATFORM'] = 'offscreen'
sys.argv = sys.argv[:1]
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(['animatediff-studio'])
class FirstPaint(QObject):
    seen = False
    def eventFilter(self, target, event):
        if not self.seen and event.type() == QEvent.Type.Paint and target.objectName() == 'mainWindow':
            self.seen = True
            print(' '.join(name for name in ('torch', 'diffusers', 'numpy', 'PIL') if name in sys.modules) or '-', flush=True)
            QTimer.singleShot(0, target.close)
        return False
probe = FirstPaint()
app.installEventFilter(probe)
import main
sys.exit(main.main([]))
"""


def test_the_window_paints_before_torch_numpy_and_pil_load(tmp_path):
    env = dict(__import__("os").environ, ANIMATEDIFF_STUDIO_CONFIG_DIR=str(tmp_path / "config"),
               ANIMATEDIFF_STUDIO_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", FIRST_PAINT_PROBE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:1] == ["-"], result.stdout
