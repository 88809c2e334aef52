"""The model catalogue's texts in the user's language: its names, descriptions and licences are
translatable fields (resources/model_catalog.json, context "ModelCatalog"), and its recommended
settings are named by the settings' own translated labels."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP

from gui.i18n import translate

# Recommended values that are not a setting of the form.
EXTRA_LABELS = {"weight": QT_TRANSLATE_NOOP("ModelCatalog", "LoRA weight")}


def catalog_text(text: str) -> str:
    return translate("ModelCatalog", text) if text else text


def recommended_text(recommended: dict) -> str:
    """'Scheduler ddim, Steps 25, …' with the labels the form uses, in the user's language."""
    from backend.core.presets import PRESETS
    from backend.core.request import SETTINGS

    parts = []
    for key, value in recommended.items():
        setting = SETTINGS.get(key)
        if setting is not None:
            label = translate("Setting", setting.label)
        else:
            label = translate("ModelCatalog", EXTRA_LABELS.get(key, key))
        if key == "preset" and value in PRESETS:
            value = translate("Preset", PRESETS[value].label)
        parts.append(f"{label} {value}")
    return translate("ModelCatalog", ", ").join(parts)
