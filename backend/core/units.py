"""Sizes as people read them."""

from __future__ import annotations


def format_bytes(count: float) -> str:
    """`count` bytes in binary units, one decimal: '512 B', '1.5 KB', '3.2 GB'."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1024 or unit == "GB":
            return f"{int(count)} B" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"
