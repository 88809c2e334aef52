"""The app's settings: a typed schema with defaults, stored as JSON under the platform's config
folder. Loading is tolerant (a bad or missing value falls back to its default, a corrupt file to
all defaults) and versioned, with ordered upgrades."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
APP_DIR_NAME = "animatediff-studio"
RECENT_LIMIT = 10


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
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        path = path or config_dir() / "settings.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        data = upgrade(data)
        settings = cls()
        for f in dataclasses.fields(cls):
            if f.name not in data:
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
        settings.schema_version = SCHEMA_VERSION
        return settings

    def save(self, path: Path | None = None) -> None:
        path = path or config_dir() / "settings.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(dataclasses.asdict(self), handle, indent=2)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

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
        return {}  # unreadable or from a newer program: start from defaults, keep the file
    for step in range(version, SCHEMA_VERSION):
        data = _UPGRADES[step](data)
    return data
