"""Help › Keyboard shortcuts, Getting started, Read me, and About."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

import backend
from backend.settings import config_dir, data_dir

SHORTCUTS = (
    ("Ctrl+Enter", "Generate (while a job runs: add to the queue)"),
    ("Esc", "Cancel the running job"),
    ("Ctrl+E", "Export the clip shown"),
    ("Ctrl+N / Ctrl+O", "New project / open a project"),
    ("Ctrl+S / Ctrl+Shift+S", "Save the project / save it as"),
    ("Ctrl+Z", "Bring back the last deleted take"),
    ("Space", "Play / pause (player focused)"),
    ("Left / Right", "Previous / next frame"),
    ("Home / End", "First / last frame"),
    ("I / O", "Set the in / out point"),
    ("L", "Loop, ping-pong or once"),
    ("Ctrl+C", "Copy the frame shown"),
    ("F1", "Getting started"),
)

GETTING_STARTED = """
<h2>Getting started</h2>
<ol>
<li><b>Write a prompt</b> at the top: what should move, and how it looks. The negative prompt
lists what to avoid.</li>
<li><b>Pick the models.</b> The defaults are the ones the diffusers documentation uses; they
download once (a few GB). <i>Tiny demo model</i> works offline at once, but only makes noise: use
it to try the app.</li>
<li><b>Press Generate</b> (Ctrl+Enter). The progress bar shows the step and the time left; the
player shows a preview while the frames form, then the finished clip.</li>
<li>Every clip becomes a <b>take</b> in the strip under the player, with the exact settings that
made it. Select one to play it and load its settings; <i>Vary seed</i> makes a variation.</li>
<li><b>Export…</b> (Ctrl+E) writes GIF, MP4, WebM, WebP or PNG frames, with the settings inside.
Save the project (Ctrl+S) to keep every take; unsaved takes are autosaved every few seconds and
offered back after a crash.</li>
</ol>
<p>Video to video: drop a video on the window. Longer clips, FreeInit, FreeU, prompt travel and
memory options are under the parameters and models sections.</p>
"""


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def about_text(device: str = "") -> str:
    hf_home = os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    rows = [
        ("AnimateDiff Studio", f"{backend.__version__} (Apache-2.0)"),
        ("Python", sys.version.split()[0]),
        ("PyTorch", _version("torch")),
        ("diffusers", _version("diffusers")),
        ("transformers", _version("transformers")),
        ("Qt / PySide6", f"{qVersion()} / {_version('PySide6-Essentials')}"),
        ("Device", device or "chosen when the models load (CUDA or Apple GPU if present, else CPU)"),
        ("Settings", str(config_dir())),
        ("Recovery files", str(data_dir() / "recovery")),
        ("Models (Hugging Face cache)", os.environ.get("HF_HUB_CACHE") or f"{hf_home}/hub"),
    ]
    table = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
    return (
        "<h2>AnimateDiff Studio</h2><p>Short animations from text or video with AnimateDiff, on "
        f"your own computer.</p><table cellspacing='4'>{table}</table>"
        "<p>Licences: AnimateDiff Studio is Apache-2.0. PyTorch (BSD-3-Clause), diffusers, "
        "transformers and huggingface_hub (Apache-2.0), Qt for Python (LGPL-3.0), imageio (BSD-2-Clause) "
        "with FFmpeg (LGPL/GPL), Pillow (MIT-CMU). Models carry their own licences: see each "
        "model's card before you use its output.</p>"
    )


def _dialog(parent: QWidget, name: str, title: str, body: QWidget, size: tuple[int, int]) -> QDialog:
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
    browser = QTextBrowser()
    browser.setObjectName(f"{name}Text")
    browser.setAccessibleName(title)
    browser.setOpenExternalLinks(True)
    if markdown:
        browser.setMarkdown(markdown)
    else:
        browser.setHtml(html)
    return _dialog(parent, name, title, browser, (640, 520))


def shortcuts_dialog(parent: QWidget) -> QDialog:
    table = QTableWidget(len(SHORTCUTS), 2)
    table.setObjectName("shortcutsTable")
    table.setAccessibleName("Keyboard shortcuts")
    table.setHorizontalHeaderLabels(["Keys", "What they do"])
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for row, (keys, what) in enumerate(SHORTCUTS):
        table.setItem(row, 0, QTableWidgetItem(keys))
        table.setItem(row, 1, QTableWidgetItem(what))
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return _dialog(parent, "shortcutsDialog", "Keyboard shortcuts", table, (560, 460))


def readme_text() -> str:
    """The README shipped beside the program (a source checkout or an installed wheel)."""
    for candidate in (Path(__file__).resolve().parents[1] / "README.md",):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return "The README is not installed with this copy of AnimateDiff Studio."
