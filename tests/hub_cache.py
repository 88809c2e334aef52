"""A Hugging Face cache written by hand, as huggingface_hub lays it out, for the code paths that
read a Hub repository's files offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def put_in_cache(cache: Path, repo_id: str, save: Callable[[Path], object]) -> Path:
    """A snapshot of `repo_id` under `cache` (refs/main and snapshots/<commit>/), its files
    written by `save(folder)`. Returns the snapshot folder."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save(snapshot)
    return snapshot
