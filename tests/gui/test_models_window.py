"""Downloads from the window and the Models window, through huggingface_hub's real download code
against the Hub stand-in on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from backend.hub import downloads
from tests.gui.conftest import EPIC, ZOOM, use_hub_models

TIMEOUT = 120_000
UNET = "unet/diffusion_pytorch_model.safetensors"


def test_a_job_with_uncached_models_asks_downloads_with_progress_then_generates(
    window, qtbot, hub, asked, tmp_path
):
    hub.rate = 6_000_000  # about 1.3 s for the whole model, so progress has time to show
    use_hub_models(window)
    seen = []
    window.controller.job_progress.connect(
        lambda job, info: seen.append(
            (info["phase"], window.progress.format(), window.progress.value())
        )
    )
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT) as finished:
        window.generate_button.click()
    assert len(asked) == 1
    assert "demo/base" in asked[0] and "demo/adapter" in asked[0] and "MB" in asked[0]
    downloading = [s for s in seen if s[0] == "downloading"]
    assert downloading and all(
        fmt.startswith("downloading ") and " MB" in fmt for _, fmt, _ in downloading
    )
    assert any("/s" in fmt for _, fmt, _ in downloading)  # speed shown
    assert downloading[-1][2] >= downloading[0][2]
    assert [p for p, _, _ in seen].index("denoising") > [p for p, _, _ in seen].index("downloading")
    assert finished.args[1].frames.shape[0] == 8
    cache = Path(tmp_path / "hf-cache")
    assert downloads.complete_snapshot(
        downloads.ModelRef("demo/base", "base model", "model_index.json"), cache
    )

    # Cached now: the next job neither asks nor downloads.
    gets = len(hub.file_requests("GET"))
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.generate_button.click()
    assert len(asked) == 1 and len(hub.file_requests("GET")) == gets


def test_cancel_during_the_download_leaves_the_app_usable(window, qtbot, hub, asked, tmp_path):
    hub.rate = 800_000  # the unet alone takes over 5 s
    use_hub_models(window)
    files = []
    window.controller.job_progress.connect(lambda job, info: files.append(info.get("file")))
    window.generate_button.click()
    qtbot.waitUntil(lambda: UNET in files, timeout=TIMEOUT)
    qtbot.wait(300)
    with qtbot.waitSignal(window.controller.job_failed, timeout=3000) as failed:
        window.cancel_button.click()
    assert failed.args[1] == "cancelled"
    assert window.progress.format() == "cancelled"
    assert window.generate_button.isEnabled() and not window.cancel_button.isEnabled()
    qtbot.wait(1000)  # the transfer thread removes its temporary file
    assert list(Path(tmp_path / "hf-cache").rglob("*.incomplete")) == []

    hub.rate = None
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT):
        window.generate_button.click()
    assert len(asked) == 2


def test_the_hub_gone_is_said_before_the_job_starts(window, qtbot, hub, asked):
    hub.stop()
    use_hub_models(window)
    window.generate_button.click()  # the Hub is asked off the GUI thread
    qtbot.waitUntil(window.error_banner.isVisible, timeout=TIMEOUT)
    assert (
        "cannot be reached" in window.error_banner.text()
        and "demo/base" in window.error_banner.text()
    )
    assert asked == [] and window.controller.queue.running is None


def open_models_window(window):
    action = next(
        a
        for menu in window.menuBar().actions()
        if menu.text() == "&Models"
        for a in menu.menu().actions()
        if a.text() == "&Manage…"
    )
    action.trigger()
    return window.models_window


def test_models_window_download_use_delete(window, qtbot, hub, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QWidget

    from backend.hub.catalog import load_catalog

    dialog = open_models_window(window)
    assert dialog.isVisible() and dialog.objectName() == "modelsWindow"
    assert dialog.catalog.rowCount() == len(load_catalog())
    for name in (
        "modelDownloadButton",
        "modelCancelButton",
        "modelDeleteButton",
        "modelUseButton",
        "catalogTable",
        "modelProgressBar",
        "addModelFolderButton",
        "localModelsTable",
    ):
        widget = dialog.findChild(QWidget, name)
        assert widget is not None and widget.accessibleName(), name
    dialog.select(ZOOM)
    row = dialog.catalog.currentRow()
    assert dialog.catalog.item(row, 3).text() == "not downloaded"
    assert dialog.download_button.isEnabled() and not dialog.delete_button.isEnabled()

    hub.rate = 1_000_000  # the base model takes about 8 s
    dialog.select(EPIC)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.progress.format().endswith("left"), timeout=TIMEOUT)
    assert " MB/s" in dialog.progress.format() or " KB/s" in dialog.progress.format()
    assert dialog.cancel_button.isEnabled() and not dialog.download_button.isEnabled()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=1500)
    assert dialog.progress.format() == "cancelled"
    qtbot.wait(500)
    assert list(Path(tmp_path / "hf-cache").rglob("*.incomplete")) == []

    hub.rate = None
    dialog.select(ZOOM)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=TIMEOUT)
    dialog.select(ZOOM)
    row = dialog.catalog.currentRow()
    assert dialog.catalog.item(row, 3).text().startswith("downloaded · ")
    assert dialog.delete_button.isEnabled()

    dialog.use_button.click()
    assert ZOOM in [lora.source for lora in window.models.loras.loras()]

    monkeypatch.setattr(dialog, "ask_delete", lambda text: True)
    dialog.delete_button.click()
    dialog.select(ZOOM)
    assert dialog.catalog.item(dialog.catalog.currentRow(), 3).text() == "not downloaded"
    assert not (
        Path(tmp_path / "hf-cache") / "models--guoyww--animatediff-motion-lora-zoom-in"
    ).exists()
    dialog.close()


def test_local_folder_models_are_offered(window, qtbot, demo_models):
    dialog = open_models_window(window)
    dialog.add_folder(str(demo_models.root))
    kinds = {dialog.local.item(r, 1).text() for r in range(dialog.local.rowCount())}
    assert {"motion module", "motion LoRA"} <= kinds
    row = next(
        r
        for r in range(dialog.local.rowCount())
        if dialog.local.item(r, 1).text() == "motion module"
    )
    dialog.local.selectRow(row)
    dialog.use_local_button.click()
    # A diffusers adapter folder's weights: the field gets the folder, which loads as is.
    assert window.models.adapter.text() == str(demo_models.motion_adapter)
    dialog.close()
    combo = window.models.adapter.combo
    assert str(demo_models.motion_adapter) in [combo.itemText(i) for i in range(combo.count())]
    # The base model's diffusers folder is one row, and Use puts the folder in Base model.
    dialog = open_models_window(window)
    paths = [dialog.local.item(r, 0).text() for r in range(dialog.local.rowCount())]
    assert str(demo_models.base) in paths and not any("/unet/" in p for p in paths)
    dialog.local.selectRow(paths.index(str(demo_models.base)))
    dialog.use_local_button.click()
    assert window.models.base.text() == str(demo_models.base)
    dialog.close()


def test_the_demo_model_is_chosen_for_both_fields(window):
    from gui.panels import DEMO_LABEL

    window.models.base.set_text(DEMO_LABEL)
    assert window.models.adapter.text() == DEMO_LABEL
    window.models.base.set_text("some/model")
    window.models.adapter.set_text("some/adapter")
    assert window.models.base.text() == "some/model"
    window.models.adapter.set_text(DEMO_LABEL)
    assert window.models.base.text() == DEMO_LABEL


def test_saying_no_downloads_nothing_and_starts_nothing(window, qtbot, hub, monkeypatch):
    monkeypatch.setattr("gui.models_window.ask_download", lambda parent, text: False)
    use_hub_models(window)
    window.generate_button.click()  # the Hub is asked off the GUI thread, then the question
    qtbot.waitUntil(lambda: window.download_check is None, timeout=TIMEOUT)
    assert window.controller.queue.running is None and not window.controller.queue.pending
    # Only the base model's model_index.json (a few hundred bytes) is read before asking: it
    # says the model's family, and so which other models the job needs.
    fetched = hub.file_requests("GET")
    assert all(path.endswith("/model_index.json") for path in fetched), fetched
    assert "not started" in window.status_label.text()
