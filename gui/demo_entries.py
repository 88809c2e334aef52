"""The tiny demo models the model fields offer, one per family (and per Wan shape): their
entries as the fields show them, and the folders under the demo root they stand for.

AnimateDiff's entry pairs a base model with a motion adapter (both fields show it); the Wan
entries are base models only (Wan makes its own motion)."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP

from gui.i18n import translate

# The model fields' entry for the AnimateDiff demo model, in English; the fields show
# demo_label().
DEMO_LABEL = QT_TRANSLATE_NOOP("ModelsPanel", "Tiny demo model (offline, noise only)")
# Wan demo models by shape (backend/models/wan_demo_model.py SHAPES) and their entries.
WAN_DEMO_LABELS = {
    "2.1": QT_TRANSLATE_NOOP("ModelsPanel", "Tiny Wan 2.1 demo model (text or video to video)"),
    "2.2-ti2v": QT_TRANSLATE_NOOP("ModelsPanel", "Tiny Wan 2.2 demo model (text or image to video)"),
}


def demo_label() -> str:
    """The AnimateDiff demo model's entry in the user's language."""
    return translate("ModelsPanel", DEMO_LABEL)


def wan_demo_labels() -> list[str]:
    """The Wan demo models' entries in the user's language."""
    return [translate("ModelsPanel", label) for label in WAN_DEMO_LABELS.values()]


def is_demo(text: str) -> bool:
    """Whether a model field's text means the AnimateDiff demo model (in English or the user's
    language: a recent list may hold either)."""
    return text in (DEMO_LABEL, demo_label())


def wan_demo_shape(text: str) -> str | None:
    """The Wan demo shape a model field's text means, or None."""
    for shape, label in WAN_DEMO_LABELS.items():
        if text in (label, translate("ModelsPanel", label)):
            return shape
    return None


def is_any_demo(text: str) -> bool:
    return is_demo(text) or wan_demo_shape(text) is not None


def wan_demo_folder(root: str, shape: str) -> str:
    return f"{root}/wan-{shape}"


def base_location(text: str, root: str) -> str:
    """The base model a field's text stands for: a demo folder under `root`, else the text."""
    if is_demo(text):
        return f"{root}/base"
    shape = wan_demo_shape(text)
    return wan_demo_folder(root, shape) if shape else text


def base_entry(location: str, root: str) -> str:
    """What the base model field shows for `location`: a demo model's entry or the location."""
    if location == f"{root}/base":
        return demo_label()
    for shape, label in WAN_DEMO_LABELS.items():
        if location == wan_demo_folder(root, shape):
            return translate("ModelsPanel", label)
    return location
