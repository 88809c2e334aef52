"""The user's model folders are scanned off the GUI thread once the window shows (a header read
per .safetensors file), not while the window is built: the fields offer the files a moment
later."""

from __future__ import annotations

import threading

from backend.hub import scan
from tests.gui.conftest import close_and_wait

TIMEOUT = 120_000


def test_model_folders_are_scanned_off_the_gui_thread_after_the_window_shows(qtbot, demo_models, tmp_path,
                                                                             monkeypatch):
    from gui.main_window import MainWindow

    scan.add_folder(str(demo_models.root))
    threads = []
    real = scan.scan_folder
    monkeypatch.setattr(scan, "scan_folder", lambda folder: (threads.append(threading.current_thread()),
                                                              real(folder))[1])
    window = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(window)
    assert threads == []  # building the window reads no model file
    with qtbot.waitSignal(window.models.local_scan.found, timeout=TIMEOUT) as found:
        window.show()
    assert threads and threading.main_thread() not in threads
    # The independent reference: the scan run here, on the test's thread.
    adapters = [m.load_path for m in real(demo_models.root) if m.kind == scan.MOTION_MODULE]
    assert adapters and [m.load_path for m in found.args[0] if m.kind == scan.MOTION_MODULE] == adapters
    qtbot.waitUntil(lambda: window.models.adapter.local == adapters, timeout=TIMEOUT)
    offered = [window.models.adapter.combo.itemText(i) for i in range(window.models.adapter.combo.count())]
    assert set(adapters) <= set(offered)
    close_and_wait(window)
    assert not window.isVisible()
