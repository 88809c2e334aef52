"""Where the bundled files are: every reader of resources/ asks here, never a path relative to
the current folder or to its own module."""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def resource(*parts: str) -> Path:
    return RESOURCES.joinpath(*parts)
