"""The model catalog (resources/model_catalog.json) and what the Hub cache holds.

A catalog entry is a whole Hub repo ("guoyww/animatediff-motion-lora-zoom-in") or chosen files
of one ("ByteDance/AnimateDiff-Lightning/animatediff_lightning_4step_diffusers.safetensors").
Sizes on disk and deletion go through huggingface_hub's cache tools, so what this shows is what
`hf cache scan` shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from backend.core.errors import InputError
from backend.core.paths import resource
from backend.hub.downloads import (
    ModelRef,
    cached_snapshot,
    complete_snapshot,
    hub_cache_dir,
    repo_folder,
)

CATALOG_FILE = resource("model_catalog.json")

KIND_MARKERS = {
    "base-model": "model_index.json",
    "motion-adapter": "config.json",
    "motion-lora": None,
    "lora": None,
    "controlnet": "config.json",
    "sparse-control": "config.json",
    "ip-adapter": None,
    "preprocessor": "config.json",
    "interpolation-model": None,
    "upscale-model": None,
}
KIND_ROLES = {
    "base-model": "base model",
    "motion-adapter": "motion adapter",
    "motion-lora": "motion LoRA",
    "lora": "image LoRA",
    "controlnet": "ControlNet",
    "sparse-control": "SparseCtrl model",
    "ip-adapter": "IP-Adapter",
    "preprocessor": "preprocessor",
    "interpolation-model": "interpolation model",
    "upscale-model": "upscale model",
}


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    kind: str
    repo: str
    files: tuple[str, ...] = ()
    size_mb: float | None = None
    licence: str = ""
    description: str = ""
    recommended: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    source: str = ""

    @property
    def ref(self) -> ModelRef:
        return ModelRef(
            self.repo, KIND_ROLES.get(self.kind, self.kind), KIND_MARKERS.get(self.kind), self.files
        )


@lru_cache(maxsize=1)
def load_catalog(path: Path = CATALOG_FILE) -> tuple[CatalogEntry, ...]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    entries = []
    for item in data["models"]:
        entries.append(
            CatalogEntry(
                id=item["id"],
                name=item["name"],
                kind=item["kind"],
                repo=item.get("repo", item["id"]),
                files=tuple(item.get("files", ())),
                size_mb=item.get("size_mb"),
                licence=item.get("licence", ""),
                description=item.get("description", ""),
                recommended=dict(item.get("recommended", {})),
                source=item.get("source", ""),
            )
        )
    return tuple(entries)


def translatable_texts(path: Path = CATALOG_FILE) -> list[str]:
    """The catalogue's texts a window shows translated (its "translatable" fields: names,
    descriptions, licences), for scripts/update_translations.py."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    fields = data.get("translatable", [])
    texts = [item.get(name, "") for item in data["models"] for name in fields]
    return list(dict.fromkeys(text for text in texts if text))


def find_entry(model_id: str) -> CatalogEntry | None:
    for entry in load_catalog():
        if entry.id == model_id:
            return entry
    return None


def ref_for_id(model_id: str, kind: str | None = None) -> ModelRef:
    """What to download for an id: a catalog entry, or any Hub repo (kind guessed on the Hub
    from its files: a pipeline, an adapter or LoRA weights)."""
    entry = find_entry(model_id)
    if entry is not None:
        return entry.ref
    from backend.core.sources import HUB_ID

    if not HUB_ID.match(model_id):
        raise InputError(
            f"{model_id!r} is not a Hugging Face Hub id (like guoyww/animatediff-motion-adapter-v1-5-2)"
        )
    if kind is not None:
        return ModelRef(model_id, KIND_ROLES.get(kind, kind), KIND_MARKERS.get(kind))
    return ModelRef(model_id, "model", "auto")


def entry_path(entry: CatalogEntry, cache_dir: Path | None = None) -> Path | None:
    """What to put in a model field for a downloaded entry: the Hub id for a whole repo (it
    loads from the cache without a request), the cached file for a single-file entry."""
    if not entry.files:
        return Path(entry.repo) if complete_snapshot(entry.ref, cache_dir) else None
    snapshot = complete_snapshot(entry.ref, cache_dir)
    return snapshot / entry.files[0] if snapshot is not None else None


# -- the cache ------------------------------------------------------------------------------------


@dataclass
class CachedModel:
    repo_id: str
    kind: str
    size_on_disk: int
    complete: bool
    path: str
    files: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.repo_id,
            "kind": self.kind,
            "size": self.size_on_disk,
            "complete": self.complete,
            "source": "hub-cache",
            "path": self.path,
            "files": self.files,
        }


def _guess_kind(snapshot: Path | None) -> str:
    if snapshot is None:
        return "unknown"
    if (snapshot / "model_index.json").exists():
        return "base-model"
    config = snapshot / "config.json"
    if config.exists():
        try:
            name = json.loads(config.read_text()).get("_class_name", "")
        except (OSError, ValueError):
            name = ""
        return "motion-adapter" if name == "MotionAdapter" else "unknown"
    names = [p.name for p in snapshot.iterdir()]
    if any("lora" in n for n in names) or any(n.endswith(".safetensors") for n in names):
        return "motion-lora" if "motion-lora" in snapshot.parent.parent.name else "weights"
    return "unknown"


def _scan(cache_dir: Path | None):
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        return scan_cache_dir(cache_dir or hub_cache_dir())
    except CacheNotFound:
        return None


def cached_models(cache_dir: Path | None = None) -> list[CachedModel]:
    """Every model repo in the Hub cache, with its size on disk (huggingface_hub's scan)."""
    info = _scan(cache_dir)
    if info is None:
        return []
    result = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id.lower()):
        if repo.repo_type != "model":
            continue
        snapshot = cached_snapshot(repo.repo_id, cache_dir)
        if snapshot is None and repo.revisions:
            snapshot = next(iter(repo.revisions)).snapshot_path
        entry = next((e for e in load_catalog() if e.repo == repo.repo_id), None)
        kind = entry.kind if entry is not None else _guess_kind(snapshot)
        if entry is not None and not entry.files:
            complete = complete_snapshot(entry.ref, cache_dir) is not None
        else:
            marker = KIND_MARKERS.get(kind, "")
            complete = snapshot is not None and (
                marker == ""
                or complete_snapshot(ModelRef(repo.repo_id, kind, marker), cache_dir) is not None
            )
        files = sorted(
            str(f.file_path.relative_to(r.snapshot_path)) for r in repo.revisions for f in r.files
        )
        result.append(
            CachedModel(
                repo.repo_id,
                kind,
                repo.size_on_disk,
                complete,
                str(snapshot or repo.repo_path),
                files,
            )
        )
    return result


def size_on_disk(entry: CatalogEntry, cache_dir: Path | None = None) -> int:
    """Bytes this entry takes in the cache (0 when absent)."""
    if entry.files:
        snapshot = cached_snapshot(entry.repo, cache_dir)
        if snapshot is None:
            return 0
        return sum((snapshot / f).stat().st_size for f in entry.files if (snapshot / f).exists())
    for model in cached_models(cache_dir):
        if model.repo_id == entry.repo:
            return model.size_on_disk
    return 0


def delete_model(model_id: str, cache_dir: Path | None = None) -> int:
    """Remove a model from the Hub cache. Returns the bytes freed. A single-file catalog entry
    removes only its files (other files of the repo stay); a repo goes with all its revisions,
    through huggingface_hub's delete strategy."""
    entry = find_entry(model_id)
    repo_id = entry.repo if entry is not None else model_id
    if entry is not None and entry.files:
        freed = _delete_files(entry, cache_dir)
        snapshot = cached_snapshot(repo_id, cache_dir)
        if snapshot is not None and any(p.is_file() or p.is_symlink() for p in snapshot.rglob("*")):
            return freed
        return freed + _delete_repo(repo_id, cache_dir, missing_ok=True)
    return _delete_repo(repo_id, cache_dir)


def _delete_files(entry: CatalogEntry, cache_dir: Path | None) -> int:
    freed = 0
    for snapshot in (repo_folder(entry.repo, cache_dir) / "snapshots").glob("*"):
        for name in entry.files:
            pointer = snapshot / name
            if not (pointer.exists() or pointer.is_symlink()):
                continue
            blob = pointer.resolve()
            if blob.exists() and blob != pointer:
                freed += blob.stat().st_size
                blob.unlink()
            elif pointer.exists():
                freed += pointer.stat().st_size
            pointer.unlink(missing_ok=True)
    return freed


def _delete_repo(repo_id: str, cache_dir: Path | None, missing_ok: bool = False) -> int:
    info = _scan(cache_dir)
    repo = next(
        (
            r
            for r in (info.repos if info else ())
            if r.repo_id == repo_id and r.repo_type == "model"
        ),
        None,
    )
    if repo is None:
        if missing_ok:
            return 0
        raise InputError(
            f"models delete {repo_id!r}: it is not in the Hugging Face cache ({cache_dir or hub_cache_dir()})"
        )
    strategy = info.delete_revisions(*(r.commit_hash for r in repo.revisions))
    freed = strategy.expected_freed_size
    strategy.execute()
    # A repo with no revisions left is an empty shell (refs, .no_exist); drop it too.
    folder = repo_folder(repo_id, cache_dir)
    if folder.exists() and not any((folder / "snapshots").glob("*")):
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return freed
