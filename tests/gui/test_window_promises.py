"""Issue 20, second part: names follow the project's file, Delete shows what is left, the
restore message counts what it restored and stays, and the Quality box says "Custom"."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np

from backend.core.request import GenerationRequest


def add_takes(window, count: int = 2, frames: int = 8):
    clip = np.zeros((frames, 64, 64, 3), np.uint8)
    takes = [window.project.add_take(clip + n, GenerationRequest(prompt=f"take {n}", seed=40 + n,
                                                                  frames=frames))
             for n in range(count)]
    window.takes.refresh()
    return takes


def manifest_name(path) -> str:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))["name"]


def save_as(window, qtbot, monkeypatch, path) -> None:
    monkeypatch.setattr("gui.project_controller.QFileDialog.getSaveFileName",
                        lambda *args, **kwargs: (str(path), ""))
    window.save_project_as()
    assert "fox" in window.windowTitle()  # named before the write ends, not after
    window.projects.wait_writes()
    qtbot.waitUntil(lambda: not window.projects.saving)


def test_save_as_names_the_project_after_its_file(window, qtbot, monkeypatch, tmp_path):
    add_takes(window)
    save_as(window, qtbot, monkeypatch, tmp_path / "fox.adsproj")
    assert manifest_name(tmp_path / "fox.adsproj") == "fox"  # not "Untitled"
    window.takes.rename(window.project.takes[0], "keeper")
    save_as(window, qtbot, monkeypatch, tmp_path / "fox-final.adsproj")
    assert manifest_name(tmp_path / "fox-final.adsproj") == "fox-final"
    assert window.windowTitle().startswith("fox-final")
    window.takes.rename(window.project.takes[0], "again")
    asked = []
    monkeypatch.undo()  # the conftest's canned answer too: the real question, into `asked`
    monkeypatch.setattr("gui.project_controller.QMessageBox.question",
                        lambda parent, title, text, *args: asked.append(text) or 0)
    assert window.projects.ask_unsaved() == "cancel"
    assert "fox-final" in asked[0] and "“fox”" not in asked[0]
    # A copy of the file, reopened, shows the copy's name.
    shutil.copy(tmp_path / "fox-final.adsproj", tmp_path / "sea.adsproj")
    window.projects.project.dirty = False
    assert window.open_project(str(tmp_path / "sea.adsproj"))
    assert window.windowTitle().startswith("sea") and window.project.name == "sea"


def test_after_delete_the_next_take_or_nothing_is_shown(window):
    first, second, third = add_takes(window, 3)
    window.takes.select(second)
    window.takes.delete(second)
    assert window.player.clip_request is third.request
    assert window.takes.selected_takes() == [third]
    window.takes.delete(third)  # the last one: the one before it is next now
    assert window.player.clip_request is first.request
    window.takes.delete(first)
    assert window.player.frames is None and window.player.clip_request is None
    assert not window.player.export_button.isEnabled()
    assert window.export_clip() is None


def test_restore_counts_the_unsaved_takes_and_the_message_stays(window, qtbot, tmp_path):
    from gui.main_window import MainWindow

    add_takes(window, 3)
    window.project.save(tmp_path / "fox.adsproj")
    add_takes(window, 1)  # one take not in the file yet
    window.autosave_now()
    crashed = window.recovery_path.with_name("autosave-" + "e" * 32 + ".adsproj")
    shutil.copy(window.recovery_path, crashed)
    other = MainWindow(settings_path=tmp_path / "other.json")
    qtbot.addWidget(other)
    try:
        assert other.offer_recovery()
        assert len(other.project.takes) == 4
        said = "Restored 1 unsaved take."
        assert other.status_label.text() == said
        other.show()
        with qtbot.waitSignal(other.controller.ready, timeout=60_000):
            pass
        assert other.status_label.text() == said
    finally:
        other.close()
        qtbot.waitUntil(lambda: not other.isVisible(), timeout=60_000)


def test_the_quality_box_says_custom_when_the_values_differ(window):
    p = window.parameters
    p.quality.setCurrentIndex(p.quality.findData("standard"))
    p.quality.activated.emit(p.quality.currentIndex())
    assert p.quality.currentText() == "Standard (25 steps)" and p.steps.value() == 25
    p.steps.setValue(8)
    assert p.quality.currentText() == "Custom"
    assert window.request_from_form().preset == "standard"  # the recipe the values came from
    p.steps.setValue(25)
    assert p.quality.currentText() == "Standard (25 steps)"
    # A take made with other values shows Custom when looked at.
    take = window.project.add_take(np.zeros((8, 64, 64, 3), np.uint8),
                                   GenerationRequest(prompt="x", seed=1, frames=8, steps=3,
                                                     preset="lightning"))
    window.show_take(take)
    assert p.quality.currentText() == "Custom"


def test_a_job_no_memory_plan_fits_is_refused_alike_before_loading(window, qtbot, capsys,
                                                                   monkeypatch, tmp_path):
    """The device has 0.7 GiB free (and the process holds nothing): the plan's estimate for 32
    frames of 256x256 does not fit even with every saver. The command line and the window say
    the same sentence, and nothing is loaded or made."""
    from backend.cli.commands import main as cli_main

    monkeypatch.setattr("backend.engine.memory.free_memory", lambda device: 7 * 2**30 // 10)
    monkeypatch.setattr("backend.engine.generation.resident_bytes", lambda device: 0)
    base, adapter = window.models.base.text(), window.models.adapter.text()
    code = cli_main(["generate", "--prompt", "x", "--frames", "32", "--width", "256", "--height",
                     "256", "--steps", "1", "--base-model", base, "--motion-adapter", adapter, "--device", "cpu",
                     "--output", str(tmp_path / "out.mp4")])
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "memory plan: does not fit" in said and "lower the frames to" in said
    sentence = said.split("error: ", 1)[1]
    assert not (tmp_path / "out.mp4").exists()
    p = window.parameters
    p.frames.setValue(32)
    p.width_spin.setValue(256)
    p.height_spin.setValue(256)
    p.steps.setValue(1)
    with qtbot.waitSignal(window.controller.job_failed, timeout=60_000):
        window.generate()
    assert window.error_banner.isVisible() and sentence in window.error_banner.text()
    assert not window.project.takes
    assert not window.controller.worker.cache.pipelines()  # refused before loading


def window_words(window) -> set[str]:
    """The texts the window shows for its parts: labels, buttons, section toggles, menus."""
    from PySide6.QtWidgets import QAbstractButton, QLabel

    from tests.gui.test_translations import menu_texts

    texts = {w.text() for kind in (QLabel, QAbstractButton) for w in window.findChildren(kind)}
    for action in window.menuBar().actions():
        texts.update(menu_texts(action.menu()))
    import re

    clean = {re.sub(r"\(&\w\)|&", "", t).split(" (")[0].strip().rstrip(":：") for t in texts if t}
    return clean | {t.split("\n")[0] for t in clean}


def italic_names(html: str) -> list[str]:
    import re

    return [name.replace("\n", " ") for name in re.findall(r"<i>(.*?)</i>", html, re.S)]


def test_getting_started_names_what_the_window_has_in_english_and_chinese(window, qapp, tmp_path,
                                                                        qtbot):
    from PySide6.QtCore import QLocale

    from gui import i18n
    from gui.help_dialogs import GETTING_STARTED
    from gui.main_window import MainWindow

    for section in window.sections.values():
        section.set_open(True)
    names = italic_names(GETTING_STARTED)
    assert "Sampling" in names and "parameters and models sections" not in GETTING_STARTED
    shown = window_words(window)
    for name in names:
        parts = [part.strip() for part in name.split("›")]  # "Models › Manage…": a menu item
        assert all(part in shown for part in parts), name
    assert i18n.install("system", qapp, locale=QLocale("zh_CN")) == "zh_CN"
    try:
        chinese = MainWindow(settings_path=tmp_path / "zh.json")
        qtbot.addWidget(chinese)
        for section in chinese.sections.values():
            section.set_open(True)
        translated = i18n.translate("HelpDialogs", GETTING_STARTED)
        assert translated != GETTING_STARTED and "快速入门" in translated
        shown = window_words(chinese)
        zh_names = italic_names(translated)
        assert len(zh_names) == len(names)
        for name in zh_names:
            parts = [part.strip() for part in name.split("›")]
            assert all(part in shown for part in parts), name
        chinese.close()
    finally:
        i18n.install("en", qapp)


def test_read_me_images_fit_the_dialog(window, qtbot):
    from PySide6.QtWidgets import QTextBrowser

    from gui.help_dialogs import README_WIDTH, fragments, readme_dialog

    dialog = readme_dialog(window)
    qtbot.addWidget(dialog)
    dialog.show()
    browser = dialog.findChild(QTextBrowser)
    document = browser.document()
    widths = []
    block = document.begin()
    while block.isValid():
        widths += [f.charFormat().toImageFormat().width() for f in fragments(block)
                   if f.charFormat().isImageFormat()]
        block = block.next()
    assert len(widths) >= 5 and all(0 < w <= README_WIDTH for w in widths), widths
    assert README_WIDTH <= browser.viewport().width()
    dialog.close()


def test_small_things_stay_readable(window, qtbot, demo_models, tmp_path):
    """Issue 20 item 15: the Local folders tab's columns are not squashed; a narrow model field
    shows the start of a long text; a long take name leaves its seed line in view."""
    from gui.models_window import ModelsWindow

    folder = tmp_path / "models"
    folder.mkdir()
    for n in range(3):  # files with long notes ("unreadable: …") beside real models
        (folder / f"downloaded-checkpoint-{n}-that-was-cut-off.safetensors").write_bytes(b"\x10")
    shutil.copytree(demo_models.motion_adapter, folder / "motion-adapter")
    models = ModelsWindow(window)
    qtbot.addWidget(models)
    models.resize(760, 500)  # as on a 1024x700 screen beside the main window
    models.show()
    models.add_folder(str(folder))
    table = models.local
    header = table.horizontalHeader()
    assert table.rowCount() >= 3
    for column in range(table.columnCount()):
        title = table.horizontalHeaderItem(column).text()
        assert header.sectionSize(column) >= table.fontMetrics().horizontalAdvance(title), title
    assert header.sectionSize(0) >= 300  # the file's path, not a sliver
    models.close()

    field = window.models.base
    field.combo.setFixedWidth(120)
    long_text = "a-very-long-name/of-some-hub-model-that-does-not-fit-in-the-field"
    field.set_text(long_text)
    assert field.combo.lineEdit().cursorPosition() == 0
    field.combo.setCurrentIndex(1)  # the demo model, as picked from the list
    field.combo.activated.emit(1)
    assert field.combo.lineEdit().cursorPosition() == 0

    take = add_takes(window, 1)[0]
    window.takes.rename(take, "a take with a very long name that goes on and on and on")
    item = window.takes.list.item(0)
    assert item.text().endswith(f"seed {take.request.seed}")
    rect = window.takes.list.visualItemRect(item)
    assert rect.bottom() <= window.takes.list.viewport().height()
    assert take.name in item.toolTip()


def test_the_theme_is_saved_when_changed(window, tmp_path):
    from backend.project.settings import Settings

    other = "system" if window.settings.theme == "dark" else "dark"
    window.theme_actions[other].trigger()
    assert Settings.load(tmp_path / "settings.json").theme == other
