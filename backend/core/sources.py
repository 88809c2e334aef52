"""What a model field names: a Hub id, a file inside a Hub repository, a local diffusers folder
or a single weights file. Parsing only: nothing here reads a model or asks the Hub."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl")
SAFE_SUFFIXES = (".safetensors",)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: kind is 'hub', 'folder' or 'file'."""

    kind: str
    location: str
    label: str  # what the user called it, for messages

    @property
    def is_pickle(self) -> bool:
        return self.kind == "file" and self.location.lower().endswith(PICKLE_SUFFIXES)


def source_kind(text: str) -> str | None:
    """'folder', 'file' or 'hub' for what `text` names, None when it names nothing; no checks."""
    text = text.strip()
    path = Path(os.path.expanduser(text))
    if path.exists():
        return "folder" if path.is_dir() else "file"
    if HUB_ID.match(text) and not text.startswith((".", "~")):
        return "hub"
    return None


HUB_FILE = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)/(?P<file>[\w./-]+\.safetensors)$")


def split_hub_file(text: str) -> tuple[str, str] | None:
    """(repo id, file name) when `text` names a Hub file and no local path; else None."""
    text = text.strip()
    if Path(os.path.expanduser(text)).exists():
        return None
    match = HUB_FILE.match(text)
    if match is None or ".." in match["file"].split("/"):
        return None
    return match["repo"], match["file"]
