"""Where the window renders: this computer, or the workers at a broker. Remembered in its own
small JSON file beside settings.json, so this feature touches nothing else's settings."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from backend.core.atomic import write_text
from backend.project.settings import config_dir

RENDER_ON = ("local", "workers")


@dataclass
class RemoteSettings:
    render_on: str = "local"
    broker_url: str = ""  # empty: $ADS_BROKER_URL

    @staticmethod
    def path() -> Path:
        return config_dir() / "remote.json"

    @classmethod
    def load(cls) -> RemoteSettings:
        try:
            data = json.loads(cls.path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        settings = cls()
        if isinstance(data, dict):
            if data.get("render_on") in RENDER_ON:
                settings.render_on = data["render_on"]
            if isinstance(data.get("broker_url"), str):
                settings.broker_url = data["broker_url"]
        return settings

    def save(self) -> None:
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        # The URL may hold the broker password: readable by this user only.
        write_text(path, json.dumps(asdict(self), indent=2), mode=0o600)
