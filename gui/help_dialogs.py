"""Help › Keyboard shortcuts, Getting started, Read me, and About."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt, QUrl, qVersion
from PySide6.QtGui import QImage, QKeySequence, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

import backend
from backend.project.settings import config_dir, data_dir
from gui.i18n import translate

# Texts in tables are marked here and translated where they are shown (context "HelpDialogs").
# Keys are shown as Qt writes them for the user's language (QKeySequence.NativeText).
SHORTCUTS = (
    ("Ctrl+Enter", QT_TRANSLATE_NOOP("HelpDialogs", "Generate (while a job runs: add to the queue)")),
    ("Esc", QT_TRANSLATE_NOOP("HelpDialogs", "Cancel the running job")),
    ("Ctrl+E", QT_TRANSLATE_NOOP("HelpDialogs", "Export the clip shown")),
    ("Ctrl+N / Ctrl+O", QT_TRANSLATE_NOOP("HelpDialogs", "New project / open a project")),
    ("Ctrl+S / Ctrl+Shift+S", QT_TRANSLATE_NOOP("HelpDialogs", "Save the project / save it as")),
    ("Ctrl+Z", QT_TRANSLATE_NOOP("HelpDialogs", "Bring back the last deleted take")),
    ("Space", QT_TRANSLATE_NOOP("HelpDialogs", "Play / pause (player focused)")),
    ("Left / Right", QT_TRANSLATE_NOOP("HelpDialogs", "Previous / next frame")),
    ("Home / End", QT_TRANSLATE_NOOP("HelpDialogs", "First / last frame")),
    ("I / O", QT_TRANSLATE_NOOP("HelpDialogs", "Set the in / out point")),
    ("L", QT_TRANSLATE_NOOP("HelpDialogs", "Loop, ping-pong or once")),
    ("Ctrl+C", QT_TRANSLATE_NOOP("HelpDialogs", "Copy the frame shown")),
    ("F1", QT_TRANSLATE_NOOP("HelpDialogs", "Getting started")),
)
# The titles the window passes to text_dialog, translated there.
README_NOTE = QT_TRANSLATE_NOOP("HelpDialogs", "The README is in English.")
TITLES = (
    QT_TRANSLATE_NOOP("HelpDialogs", "Getting started"),
    QT_TRANSLATE_NOOP("HelpDialogs", "Read me"),
    QT_TRANSLATE_NOOP("HelpDialogs", "About AnimateDiff Studio"),
)

# Names the window's own parts as they are labelled (tests/gui/test_window_promises.py checks
# that every section it names exists, in English and in Chinese).
GETTING_STARTED = QT_TRANSLATE_NOOP("HelpDialogs", """
<h2>Getting started</h2>
<ol>
<li><b>Write a prompt</b> at the top of the left column: what should move, and how it looks.
The negative prompt (optional) lists what to avoid.</li>
<li><b>Pick the models</b> under it: <i>Base model</i> and <i>Motion adapter</i>. The defaults
are the ones the diffusers documentation uses; they download once (a few GB). The tiny demo
model works offline at once, but only makes noise: use it to try the app. <i>Models › Manage…</i>
lists more models and your own model folders.</li>
<li>Set <i>Quality</i>, <i>Duration</i>, <i>Size</i> and <i>Seed</i>, then <b>press
Generate</b> (Ctrl+Enter). The progress bar shows the step and the time left; the player shows a
preview while the frames form, then the finished clip.</li>
<li>Every clip becomes a <b>take</b> in the strip under the player, with the exact settings that
made it. Select one to play it and see its settings (<i>Random</i> stays as you set it);
<i>Re-run</i> makes it again, <i>Vary seed</i> makes a variation.</li>
<li>In the player, I and O set the in and out points. <b>Export…</b> (Ctrl+E) writes that range
as GIF, MP4, WebM, WebP or PNG frames, with the settings inside. Save the project (Ctrl+S) to
keep every take; unsaved takes are autosaved every few seconds and offered back after a
crash.</li>
</ol>
<p>Video to video: drop a video on the window. The folded sections below the seed hold the rest:
<i>Sampling</i> (steps, guidance, scheduler), <i>LoRAs and embeddings</i>, <i>Motion and prompt
travel</i> (FreeInit, FreeU, longer clips), <i>Guidance</i> (ControlNet, keyframes),
<i>Memory and device</i>, and <i>Render on other machines</i>.</p>
""")


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return translate("HelpDialogs", "not installed")


def about_text(device: str = "") -> str:
    hf_home = os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    rows = [
        ("AnimateDiff Studio", f"{backend.__version__} (Apache-2.0)"),
        ("Python", sys.version.split()[0]),
        ("PyTorch", _version("torch")),
        ("diffusers", _version("diffusers")),
        ("transformers", _version("transformers")),
        ("Qt / PySide6", f"{qVersion()} / {_version('PySide6-Essentials')}"),
        (translate("HelpDialogs", "Device"), device or translate(
            "HelpDialogs", "chosen when the models load (CUDA or Apple GPU if present, else CPU)")),
        (translate("HelpDialogs", "Settings"), str(config_dir())),
        (translate("HelpDialogs", "Recovery files"), str(data_dir() / "recovery")),
        (translate("HelpDialogs", "Models (Hugging Face cache)"),
         os.environ.get("HF_HUB_CACHE") or f"{hf_home}/hub"),
    ]
    table = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
    return (
        "<h2>AnimateDiff Studio</h2><p>"
        + translate("HelpDialogs", "Short animations from text or video with AnimateDiff, on your own computer.")
        + f"</p><table cellspacing='4'>{table}</table><p>"
        + translate(
            "HelpDialogs",
            "Licences: AnimateDiff Studio is Apache-2.0. PyTorch (BSD-3-Clause), diffusers, "
            "transformers and huggingface_hub (Apache-2.0), Qt for Python (LGPL-3.0), imageio "
            "(BSD-2-Clause) with FFmpeg (LGPL/GPL), Pillow (MIT-CMU). Models carry their own "
            "licences: see each model's card before you use its output.",
        )
        + "</p>"
    )


def _dialog(parent: QWidget, name: str, title: str, body: QWidget, size: tuple[int, int]) -> QDialog:
    title = translate("HelpDialogs", title)
    dialog = QDialog(parent)
    dialog.setObjectName(name)
    dialog.setAccessibleName(title)
    dialog.setWindowTitle(title)
    layout = QVBoxLayout(dialog)
    layout.addWidget(body, 1)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.setObjectName(f"{name}Buttons")
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    dialog.resize(*size)
    return dialog


def text_dialog(parent: QWidget, name: str, title: str, html: str = "", markdown: str = "") -> QDialog:
    """A dialog showing `html` (or `markdown`). The title and a marked html text (such as
    GETTING_STARTED) are translated here."""
    browser = QTextBrowser()
    browser.setObjectName(f"{name}Text")
    browser.setAccessibleName(translate("HelpDialogs", title))
    browser.setOpenExternalLinks(True)
    if markdown:
        browser.setMarkdown(markdown)
    else:
        browser.setHtml(translate("HelpDialogs", html))
    return _dialog(parent, name, title, browser, (640, 520))


def native_keys(keys: str) -> str:
    """'Space / Left' as Qt names those keys in the user's language."""
    native = QKeySequence.SequenceFormat.NativeText
    return " / ".join(QKeySequence(part).toString(native) or part for part in keys.split(" / "))


def shortcuts_dialog(parent: QWidget) -> QDialog:
    table = QTableWidget(len(SHORTCUTS), 2)
    table.setObjectName("shortcutsTable")
    table.setAccessibleName(translate("HelpDialogs", "Keyboard shortcuts"))
    table.setHorizontalHeaderLabels([translate("HelpDialogs", "Keys"), translate("HelpDialogs", "What they do")])
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for row, (keys, what) in enumerate(SHORTCUTS):
        table.setItem(row, 0, QTableWidgetItem(native_keys(keys)))
        table.setItem(row, 1, QTableWidgetItem(translate("HelpDialogs", what)))
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return _dialog(parent, "shortcutsDialog", QT_TRANSLATE_NOOP("HelpDialogs", "Keyboard shortcuts"), table, (560, 460))


README_WIDTH = 560  # the widest an image in the Read me dialog is shown (the dialog is 640)


def readme_dialog(parent: QWidget) -> QDialog:
    """Help › Read me: the README (English, in every language: a line above it says so in the
    user's language), its images no wider than the dialog."""
    dialog = text_dialog(parent, "readmeDialog", "Read me", markdown=readme_text())
    browser = dialog.findChild(QTextBrowser, "readmeDialogText")
    fit_images(browser, README_WIDTH)
    note = translate("HelpDialogs", README_NOTE)
    if note != README_NOTE:  # only where the window speaks another language
        label = QLabel(note)
        label.setObjectName("readmeLanguageNote")
        label.setAccessibleName(note)
        label.setWordWrap(True)
        dialog.layout().insertWidget(0, label)
    return dialog


def fit_images(browser: QTextBrowser, width: int) -> None:
    """Give every image of `browser`'s document its size, those wider than `width` scaled
    down to it."""
    document = browser.document()
    base = Path(readme_path()).parent if readme_path() else Path.cwd()
    document.setBaseUrl(QUrl.fromLocalFile(str(base) + "/"))
    block = document.begin()
    while block.isValid():
        for fragment in fragments(block):
            image_format = fragment.charFormat().toImageFormat()
            if not fragment.charFormat().isImageFormat():
                continue
            image = QImage(str(base / image_format.name()))
            if image.isNull():
                continue
            shown = min(width, image.width())
            image_format.setWidth(shown)
            image_format.setHeight(image.height() * shown / image.width())
            cursor = QTextCursor(document)
            cursor.setPosition(fragment.position())
            cursor.setPosition(fragment.position() + fragment.length(), QTextCursor.MoveMode.KeepAnchor)
            cursor.setCharFormat(image_format)
        block = block.next()


def fragments(block) -> list:
    found = []
    item = block.begin()
    while not item.atEnd():
        found.append(item.fragment())
        item += 1
    return found


def readme_path() -> str:
    candidate = Path(__file__).resolve().parents[1] / "README.md"
    return str(candidate) if candidate.is_file() else ""


def readme_text() -> str:
    """The README shipped beside the program (a source checkout or an installed wheel)."""
    if readme_path():
        return Path(readme_path()).read_text(encoding="utf-8")
    return translate("HelpDialogs", "The README is not installed with this copy of AnimateDiff Studio.")


def open_help(window, which: str) -> QDialog:
    """Open a Help menu dialog on `window` ("getting_started", "shortcuts", "readme", "about");
    the window keeps it as `help_dialog`."""
    if which == "getting_started":
        dialog = text_dialog(window, "gettingStartedDialog", "Getting started", GETTING_STARTED)
    elif which == "shortcuts":
        dialog = shortcuts_dialog(window)
    elif which == "readme":
        dialog = readme_dialog(window)
    else:
        device = getattr(getattr(window.controller.worker, "cache", None), "device", "") or ""
        dialog = text_dialog(window, "aboutDialog", "About AnimateDiff Studio", about_text(device))
    dialog.open()
    window.help_dialog = dialog
    return dialog
