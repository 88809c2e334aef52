"""The app's settings: a typed schema with defaults, stored as JSON under the platform's config
folder. Loading is tolerant (a bad or missing value falls back to its default, a corrupt file to
all defaults) and versioned, with ordered upgrades."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.core.atomic import write_text

SCHEMA_VERSION = 1
APP_DIR_NAME = "animatediff-studio"
RECENT_LIMIT = 10
# The window's language: "system" follows the locale (LANG, LC_ALL, LANGUAGE); the others force
# one. English is the source language of every text.
LANGUAGES = ("system", "en", "zh_CN")


def config_dir() -> Path:
    override = os.environ.get("ANIMATEDIFF_STUDIO_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_DIR_NAME, appauthor=False))


def data_dir() -> Path:
    override = os.environ.get("ANIMATEDIFF_STUDIO_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False))


@dataclass
class Settings:
    last_request: dict[str, Any] = field(default_factory=dict)
    random_seed: bool = True
    recent_base_models: list[str] = field(default_factory=list)
    recent_motion_adapters: list[str] = field(default_factory=list)
    recent_projects: list[str] = field(default_factory=list)
    export: dict[str, Any] = field(default_factory=dict)  # the export dialog's last choices
    window_geometry: str = ""  # base64 of QMainWindow.saveGeometry()
    window_state: str = ""  # base64 of QMainWindow.saveState()
    open_sections: list[str] = field(default_factory=list)  # the window's open Advanced sections
    theme: str = "dark"  # dark, or "system" (the platform's own colours, usually light)
    language: str = "system"  # one of LANGUAGES; applied when the app starts
    schema_version: int = SCHEMA_VERSION
    # Set when the file came from a newer version: it is then left as it is (never replaced by
    # what this version understands of it) and this says why.
    read_only_reason: str = field(default="", compare=False, metadata={"stored": False})

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        path = path or config_dir() / "settings.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        version = data.get("schema_version", 1)
        if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
            settings = cls()
            settings.read_only_reason = (
                f"The settings file {path} was written by a newer AnimateDiff Studio (settings "
                f"version {version}). It is left as it is: this version starts with its defaults "
                "and does not save its settings."
            )
            return settings
        data = upgrade(data)
        settings = cls()
        for f in dataclasses.fields(cls):
            if f.name not in data or not f.metadata.get("stored", True):
                continue
            value = data[f.name]
            default = getattr(settings, f.name)
            if isinstance(default, bool) and isinstance(value, bool):
                setattr(settings, f.name, value)
            elif isinstance(default, list) and isinstance(value, list):
                setattr(settings, f.name, [str(v) for v in value if isinstance(v, str)][:RECENT_LIMIT])
            elif isinstance(default, dict) and isinstance(value, dict):
                setattr(settings, f.name, value)
            elif isinstance(default, str) and isinstance(value, str):
                setattr(settings, f.name, value)
        if settings.language not in LANGUAGES:  # a hand-edited or future value
            settings.language = "system"
        settings.schema_version = SCHEMA_VERSION
        return settings

    def save(self, path: Path | None = None) -> bool:
        """Write the settings atomically; False (and nothing written) for a newer file's."""
        if self.read_only_reason:
            return False
        path = path or config_dir() / "settings.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.metadata.get("stored", True)}
        write_text(path, json.dumps(data, indent=2), durable=False)
        return True

    def remember(self, kind: str, value: str) -> None:
        """Put `value` first in the recent list `kind` (base_models, motion_adapters, projects)."""
        items = getattr(self, f"recent_{kind}")
        if value in items:
            items.remove(value)
        items.insert(0, value)
        del items[RECENT_LIMIT:]


# schema_version N -> N + 1, applied in order. Version 1 is the first.
_UPGRADES: dict[int, Any] = {}


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        return {}  # unreadable: start from defaults
    for step in range(version, SCHEMA_VERSION):
        data = _UPGRADES[step](data)
    return data
