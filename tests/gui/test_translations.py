"""The Simplified Chinese catalogue: with it installed, the windows show no English a user would
have to read (a walker lists every visible text that slips); the language setting, the View ›
Language menu and LANG=zh_CN.UTF-8; and the shipped catalogue is up to date with the code."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QLocale
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QTableWidget,
    QTabWidget,
    QTextBrowser,
    QWidget,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import update_translations  # noqa: E402

# Words a Chinese window keeps in Latin letters: names of products, libraries, formats and
# models, units, licences and key names. Anything else made of ASCII letters is untranslated.
ALLOWED_WORDS = set("""
AnimateDiff Studio Hugging Face Hub LoRA FreeU FreeInit FreeNoise fps CUDA CPU GPU Apple
GIF MP4 WebM WebP PNG H.264 VP9 CRF json .json safetensors .safetensors A1111 ComfyUI RabbitMQ
README Python PyTorch diffusers transformers huggingface_hub Qt PySide6 imageio FFmpeg Pillow
Apache-2.0 BSD-3-Clause BSD-2-Clause LGPL-3.0 LGPL GPL MIT-CMU Tiny demo model
Ctrl Shift Enter Esc Space Home End Left Right F1 I O L C E N S Z 1x 2x x s MB GB KB GiB
Stable Diffusion SD1.5 UNet VAE CLIP CFG DDIM DPM Karras LCM AnimateLCM Lightning MPS NVIDIA ID
kohya torch.compile float16 bfloat16 float32 s1 s2 b1 b2
ddim euler euler_ancestral dpmpp_2m dpmpp_2m_karras lcm pndm euler_trailing lcm_linear
model_default unipc_flow euler_flow NaN force_upcast cuda cpu mps
ControlNet MultiControlNet SparseCtrl IP-Adapter RGB Delete none canny lineart depth pose image_encoder
photo.png
Wan UMT5 Transformer Wan2.1-1.3B Wan2.2-TI2V-5B
RIFE Real-ESRGAN pth pkl zip
""".split())
# Models' and projects' own names in the catalogue, which stay as they are.
PROPER_NAMES = set("""
Realistic Vision V5.1 epiCRealism Wan UMT5-XXL Transformer OpenPose HED PiDiNet Depth Anything V2 Small
RT-DETR R50 ViTPose ViTPose-B
RIFE Practical-RIFE v4.26 Real-ESRGAN x4plus x4v3 AnimateDiff-Lightning Euler v1-5-2 v1-5-3 v1.1
Plus RGB openrail creativeml-openrail-m apache-2.0 bsd-3-clause MIT README train_log
flownet.pkl pickle tile none preprocess
""".split())
# Example prompts stay in English in every language: the SD1.5 text encoder reads English.
ALLOWED_PHRASES = ("Qt for Python", "a sunset over the sea, fishing boats, golden hour",
                   "bad quality, worse quality, blurry", "bad quality, worse quality")
# Paths, URLs, environment variables, version strings and command-line options are data, not
# words to translate.
DATA = re.compile(r"\S*(?:/|\\|://)\S*|\$\w+|(?<![\w.-])\d[\w.+-]*|(?<![\w-])--[a-z][\w-]*")
ACCELERATOR = re.compile(r"\(&[A-Za-z0-9]\)")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*[A-Za-z0-9]|[A-Za-z]")


def plain(text: str) -> str:
    if "<" in text and ">" in text:
        document = QTextDocument()
        document.setHtml(text)
        return document.toPlainText()
    return text


def untranslated_words(text: str, allowed: set[str] = frozenset()) -> list[str]:
    text = ACCELERATOR.sub(" ", plain(text))  # a translated menu's "文件(&F)" keeps its key
    text = DATA.sub(" ", text.replace("&", ""))
    for phrase in ALLOWED_PHRASES:
        text = text.replace(phrase, " ")
    return [w for w in WORD.findall(text) if w not in ALLOWED_WORDS and w not in allowed]


def menu_texts(menu: QMenu) -> list[str]:
    texts = [menu.title()]
    for action in menu.actions():
        if action.menu() is not None:
            texts += menu_texts(action.menu())
        elif not action.isSeparator() and action.isVisible():
            texts.append(action.text())
    return texts


def visible_texts(root: QWidget, tooltips: bool = True) -> list[str]:
    """Every text a user can see in `root` and the widgets in it that would be visible when it
    is shown: labels, buttons, group titles, combo items, tabs, table headers and cells,
    placeholders, menus, context actions, the window title and (optionally) tooltips."""
    texts = [root.windowTitle()] if root.isWindow() else []
    if isinstance(root, QMainWindow):
        for action in root.menuBar().actions():
            texts += menu_texts(action.menu())
    for widget in [root, *root.findChildren(QWidget)]:
        if widget is not root and not widget.isVisibleTo(root):
            continue
        if isinstance(widget, QLabel):
            texts.append(widget.text())
        elif isinstance(widget, QAbstractButton):
            texts.append(widget.text())
        elif isinstance(widget, (QLineEdit, QPlainTextEdit)):
            texts.append(widget.placeholderText())
        elif isinstance(widget, QAbstractSpinBox) and hasattr(widget, "suffix"):
            texts.append(widget.suffix())
        elif isinstance(widget, QComboBox) and not widget.isEditable():
            texts += [widget.itemText(i) for i in range(widget.count())]
        elif isinstance(widget, QTextBrowser):
            texts.append(widget.toPlainText())
        if isinstance(widget, QGroupBox):
            texts.append(widget.title())
        if isinstance(widget, QTabWidget):
            texts += [widget.tabText(i) for i in range(widget.count())]
        if isinstance(widget, QTableWidget):
            for column in range(widget.columnCount()):
                header = widget.horizontalHeaderItem(column)
                texts.append(header.text() if header else "")
                for row in range(widget.rowCount()):
                    item = widget.item(row, column)
                    texts.append(item.text() if item else "")
        texts += [a.text() for a in widget.actions() if a.menu() is None and not a.isSeparator()]
        if tooltips:
            texts.append(widget.toolTip())
    return [t for t in texts if t]


def untranslated(root: QWidget, allowed: set[str] = frozenset(), tooltips: bool = True) -> list[str]:
    """The visible texts of `root` that still hold English words: empty when all is translated."""
    return [t for t in visible_texts(root, tooltips) if untranslated_words(t, allowed)]


@pytest.fixture()
def chinese(qapp):
    from gui import i18n

    assert i18n.install("system", qapp, locale=QLocale("zh_CN")) == "zh_CN"
    yield
    i18n.install("en", qapp)


@pytest.fixture()
def main_window(qtbot, tmp_path):
    from gui.main_window import MainWindow

    window = MainWindow(settings_path=tmp_path / "settings.json")
    qtbot.addWidget(window)
    yield window
    window.close()


def test_the_walker_finds_english_and_lets_names_and_data_through():
    assert untranslated_words("Export cancelled; nothing was written.") == ["Export", "cancelled", "nothing", "was", "written"]
    assert untranslated_words("已取消") == []
    assert untranslated_words("<b>模型</b> — Hugging Face Hub · /home/a/models · 0.36.0 · $HF_HOME") == []
    assert untranslated_words("&Open") == ["Open"]
    assert untranslated_words("文件(&F)") == []
    assert untranslated_words("运动 LoRA，8 fps，Ctrl+E") == []


def test_the_language_setting_picks_the_catalogue():
    from gui.i18n import resolve, system_language

    assert system_language(QLocale("zh_CN")) == "zh_CN"
    assert system_language(QLocale("zh_TW")) == "zh_CN"
    assert system_language(QLocale("de_DE")) == "en"
    assert resolve("en", QLocale("zh_CN")) == "en"
    assert resolve("zh_CN", QLocale("en_US")) == "zh_CN"
    assert resolve("system", QLocale("zh_CN")) == "zh_CN"
    assert resolve("klingon", QLocale("en_GB")) == "en"  # unknown: follows the system


def test_windows_of_the_covered_files_are_all_chinese(qtbot, chinese, main_window):
    from backend.hub.catalog import load_catalog
    from backend.project.settings import Settings
    from gui.export_dialog import ExportDialog
    from gui.help_dialogs import (
        GETTING_STARTED,
        about_text,
        readme_dialog,
        shortcuts_dialog,
        text_dialog,
    )
    from gui.models_window import ModelsWindow
    from gui.player import TimelinePlayer

    models = ModelsWindow(main_window)
    qtbot.addWidget(models)
    # Issue 20: the catalogue's names, descriptions, licences and recommended settings are
    # translated too; only the models' ids and proper names stay as they are.
    catalog = {word for entry in load_catalog() for word in WORD.findall(entry.id)} | PROPER_NAMES
    slipped = []
    for tab in range(models.tabs.count()):
        models.tabs.setCurrentIndex(tab)
        slipped += untranslated(models, catalog)
    models.tabs.setCurrentIndex(0)
    for row in range(models.catalog.rowCount()):  # each entry's details, as selecting shows them
        models.catalog.selectRow(row)
        slipped += untranslated(models.details, catalog)

    player = TimelinePlayer()
    qtbot.addWidget(player)
    player.set_frames(np.zeros((4, 8, 8, 3), np.uint8), 8)
    export = ExportDialog(main_window, player, None, Settings())
    qtbot.addWidget(export)
    slipped += untranslated(export) + untranslated(player)

    readme = readme_dialog(main_window)
    qtbot.addWidget(readme)
    note = readme.findChild(QLabel, "readmeLanguageNote")
    assert note is not None and "英文" in note.text()  # the README itself stays English
    slipped += [t for t in (readme.windowTitle(), note.text()) if untranslated_words(t)]
    for dialog in (
        shortcuts_dialog(main_window),
        text_dialog(main_window, "gettingStartedDialog", "Getting started", GETTING_STARTED),
        text_dialog(main_window, "aboutDialog", "About AnimateDiff Studio", about_text()),
    ):
        qtbot.addWidget(dialog)
        slipped += untranslated(dialog)

    # The main window's parts from the covered files, and the menu of this change.
    for name in ("timeline", "takesPanel", "renderOnPanel"):
        slipped += untranslated(main_window.findChild(QWidget, name))
    # Each language is named in its own language there.
    language_menu = main_window.findChild(QMenu, "languageMenu")
    slipped += [t for t in menu_texts(language_menu) if untranslated_words(t, {"English"})]
    assert slipped == [], "\n".join(slipped)


def test_the_whole_main_window_is_chinese(chinese, main_window):
    """Every visible text of the main window, its Advanced sections open, and its menus; the
    language menu names English in English."""
    for section in main_window.sections.values():
        section.set_open(True)
    slipped = untranslated(main_window, {"English"})
    assert slipped == [], "\n".join(slipped)


def test_an_english_text_left_unwrapped_is_found(qtbot, chinese, main_window):
    from gui.takes_panel import TakesPanel

    panel = TakesPanel()
    qtbot.addWidget(panel)
    assert untranslated(panel) == []
    panel.compare_button.setText("Compare")  # as if the tr() were forgotten
    assert untranslated(panel) == ["Compare"]


def test_the_language_menu_remembers_the_choice_and_says_when_it_applies(main_window, tmp_path):
    from backend.project.settings import Settings

    assert [a.text() for a in main_window.language_actions.values()] == ["&System language", "English", "简体中文"]
    assert main_window.language_actions["system"].isChecked()
    main_window.language_actions["zh_CN"].trigger()
    assert main_window.language_actions["zh_CN"].isChecked()
    assert not main_window.language_actions["system"].isChecked()
    assert Settings.load(tmp_path / "settings.json").language == "zh_CN"
    status = main_window.status_label.text()
    assert "简体中文" in status and "next time you start" in status and status.endswith(".")
    main_window.language_actions["en"].trigger()
    assert main_window.status_label.text() == "The window stays in English."


def run_app_snippet(code: str, env: dict[str, str]) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    full.update(env, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_lang_zh_cn_gives_chinese_and_a_bad_setting_does_not_crash(tmp_path):
    code = (
        "from backend.project.settings import Settings\n"
        "from gui.app import get_app\n"
        "from gui import i18n\n"
        "app = get_app()\n"
        "language = i18n.install(Settings.load().language, app)\n"
        "print(language, i18n.translate('TakesPanel', 'Compare'), app.translate('QPlatformTheme', 'Cancel'))\n"
    )
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text('{"schema_version": 1, "language": "xx_YY"}')
    env = {"ANIMATEDIFF_STUDIO_CONFIG_DIR": str(config)}
    assert run_app_snippet(code, {**env, "LANG": "zh_CN.UTF-8"}) == "zh_CN 对比 取消"
    assert run_app_snippet(code, {**env, "LANG": "en_US.UTF-8"}) == "en Compare Cancel"
    (config / "settings.json").write_text('{"schema_version": 1, "language": "en"}')
    assert run_app_snippet(code, {**env, "LANG": "zh_CN.UTF-8"}) == "en Compare Cancel"


@pytest.mark.skipif(not update_translations.find_tool("lupdate"), reason="pyside6-lupdate is not installed")
def test_the_shipped_catalogue_is_complete_and_compiled(tmp_path):
    """Every text the code marks is in the .ts and translated, and the shipped .qm is exactly
    what lrelease makes of the .ts: run scripts/update_translations.py when this fails."""
    ts = tmp_path / update_translations.TS.name
    shutil.copy(update_translations.TS, ts)
    update_translations.update(ts)
    unfinished = [(c, s) for c, s, _, done in update_translations.messages(ts) if not done]
    assert unfinished == [], "untranslated: run scripts/update_translations.py and fill them in"
    assert len(update_translations.messages(ts)) == len(update_translations.messages())
    qm = tmp_path / "fresh.qm"
    update_translations.release(update_translations.TS, qm)
    assert qm.read_bytes() == update_translations.QM.read_bytes(), "the .qm is stale"


def test_units_and_placeholders_are_chinese(chinese, main_window):
    """Issue 20: the duration read "2.0 s" and the negative prompt's placeholder was English
    (and looked like a value)."""
    parameters, prompt = main_window.parameters, main_window.prompt
    assert parameters.seconds.suffix().strip() == "秒"
    assert "帧" in parameters.fps.suffix()
    assert prompt.negative.placeholderText().startswith("可选")
    assert prompt.negative.toPlainText() == ""


def test_the_memory_plans_usual_sentences_are_chinese(chinese):
    """Issue 20: the line under the progress bar ("memory plan: fits in 0.6 of 18.4 GiB, no
    savers needed") was English in the Chinese window. The sentences are the engine's own."""
    from backend.models.memory_plan import CHUNKED_DECODE, GIB, SPLIT_INFERENCE, MemoryPlan
    from gui.memory_plan_label import plan_text

    plans = (MemoryPlan("cpu", "auto", (), (), int(0.6 * GIB), int(18.4 * GIB)),
             MemoryPlan("cuda", "auto", (CHUNKED_DECODE, SPLIT_INFERENCE), (), 5 * GIB, 8 * GIB))
    for plan in plans:
        shown = plan_text(plan.describe())
        assert untranslated_words(shown) == [], shown
        assert "内存计划" in shown
