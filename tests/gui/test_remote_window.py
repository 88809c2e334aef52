"""The window rendering on workers: "Render on" workers at the test broker, a job runs there
with progress and its take lands in the project; with no worker connected it says so."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtWidgets import QLabel

from gui.remote_panel import RenderOnPanel
from tests.remote_fixtures import needs_rabbitmq

pytestmark = needs_rabbitmq
TIMEOUT = 180_000


def render_on_workers(window, url: str) -> None:
    panel = window.findChild(RenderOnPanel, "renderOnPanel")
    assert panel is not None
    combo = panel.choice
    assert combo.objectName() == "renderOnCombo" and combo.accessibleName() == "Render on"
    panel.url.setText(url)
    combo.setCurrentIndex(combo.findData("workers"))
    panel.url.editingFinished.emit()


def test_job_runs_on_a_worker_with_progress_and_lands_as_a_take(window, qtbot, render_workers, isolated_dirs):
    url = render_workers[0].url
    render_on_workers(window, url)
    saved = json.loads((isolated_dirs / "config" / "remote.json").read_text())
    assert saved == {"render_on": "workers", "broker_url": url}
    status = window.findChild(QLabel, "remoteStatusLabel")
    qtbot.waitUntil(lambda: "2 workers connected" in status.text(), timeout=30_000)

    steps, lines, previews = [], [], []
    window.controller.job_progress.connect(lambda job, info: steps.append(info["step"]) if info["phase"] == "denoising" else None)
    window.controller.job_preview.connect(lambda job, frames: previews.append(frames.shape))
    window.controller.queue_changed.connect(
        lambda: lines.extend(window.queue_list.item(i).text() for i in range(window.queue_list.count())))
    window.parameters.steps.setValue(4)
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT) as finished:
        window.generate()
    job, result = finished.args
    assert steps and steps == sorted(steps) and steps[-1] == 4
    assert any(" · on w" in line for line in lines), lines
    assert result.worker in {w.hostname for w in render_workers}
    assert len(window.project.takes) == 1
    take = window.project.takes[0]
    assert take.request.seed == 7
    assert np.array_equal(window.project.frames(take), result.frames)
    assert window.progress.format() == "done"


def test_no_worker_connected_is_said_and_cancel_works(window, qtbot, rabbitmq):
    render_on_workers(window, rabbitmq.url_with(vhost="idle"))
    status = window.findChild(QLabel, "remoteStatusLabel")
    qtbot.waitUntil(lambda: "no worker connected" in status.text().lower(), timeout=30_000)
    window.generate()
    qtbot.waitUntil(
        lambda: window.queue_list.count() and "no worker connected" in window.queue_list.item(0).text(),
        timeout=30_000,
    )
    with qtbot.waitSignal(window.controller.job_failed, timeout=30_000) as failed:
        window.cancel()
    assert failed.args[1] == "cancelled"
    assert not window.project.takes


def test_render_on_is_remembered(qtbot, tmp_path, isolated_dirs):
    from gui.main_window import MainWindow

    (isolated_dirs / "config").mkdir(exist_ok=True)
    (isolated_dirs / "config" / "remote.json").write_text(
        json.dumps({"render_on": "workers", "broker_url": "amqp://u:p@example.invalid//"}))
    win = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(win)
    panel = win.findChild(RenderOnPanel, "renderOnPanel")
    assert panel.choice.currentData() == "workers"
    assert panel.url.text() == "amqp://u:p@example.invalid//"
    assert win.controller.remote.active
    win.close()
