"""The known families and which one a base model belongs to.

The base model decides: a diffusers folder's `model_index.json` `_class_name`, the same small
file of a Hub repository (from the cache, else downloaded alone), or a single .safetensors
file's tensor names (its header only). A model nothing recognises is AnimateDiff's, as every
model was before families existed, so its loader gives today's messages.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from backend.families.animatediff import AnimateDiffFamily
from backend.families.base import ModelConfigs, ModelFamily, read_json
from backend.families.wan import WanFamily

FAMILIES: tuple[ModelFamily, ...] = (AnimateDiffFamily(), WanFamily())
DEFAULT_FAMILY = FAMILIES[0]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def family_named(name: str) -> ModelFamily:
    for family in FAMILIES:
        if family.name == name:
            return family
    raise KeyError(name)


def family_for_class(class_name: str) -> ModelFamily | None:
    for family in FAMILIES:
        if class_name in family.class_names:
            return family
    return None


def family_for_header(keys: list[str]) -> ModelFamily | None:
    for family in FAMILIES:
        if family.matches_header(keys):
            return family
    return None


def safetensors_keys(path: str | Path) -> list[str]:
    """The tensor names in a .safetensors file's header (no tensor is read); [] when the file
    is not readable as one."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return list(handle.keys())
    except Exception:  # noqa: BLE001 - safetensors raises its own error type; the loader reports it
        return []


def hub_model_index(repo_id: str, cache_dir: str | Path | None = None) -> dict:
    """A Hub repository's model_index.json from the Hugging Face cache; {} when it is not there
    (backend/hub/downloads.py fetches that small file first when it can reach the Hub)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, "model_index.json", cache_dir=cache_dir)
    except Exception:  # noqa: BLE001 - a malformed id or cache: nothing to read
        return {}
    return read_json(Path(cached)) if isinstance(cached, str) else {}


def detect_family(base_model: str, cache_dir: str | Path | None = None) -> ModelFamily:
    """The family of `base_model` (a folder, a .safetensors file or a Hub id, whose
    model_index.json is read from the cache)."""
    text = base_model.strip()
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        class_name = str(read_json(path / "model_index.json").get("_class_name", ""))
        return family_for_class(class_name) or DEFAULT_FAMILY
    if path.is_file():
        if path.suffix.lower() != ".safetensors":
            return DEFAULT_FAMILY  # pickle files are never opened to look; the loader refuses them
        return family_for_header(safetensors_keys(path)) or DEFAULT_FAMILY
    if _HUB_ID.match(text):
        class_name = str(hub_model_index(text, cache_dir).get("_class_name", ""))
        return family_for_class(class_name) or DEFAULT_FAMILY
    return DEFAULT_FAMILY


def model_configs(base_model: str, family: ModelFamily | None = None) -> ModelConfigs:
    """The configs of a local model folder (or a Hub model complete in the cache); empty
    configs when there is none to read (a single file, a Hub id not downloaded)."""
    family = family or detect_family(base_model)
    path = Path(os.path.expanduser(base_model.strip()))
    if path.is_dir():
        return family.configs(path)
    if _HUB_ID.match(base_model.strip()):
        try:
            from huggingface_hub import snapshot_download

            folder = snapshot_download(base_model.strip(), local_files_only=True,
                                       allow_patterns=["*.json"])
            return family.configs(folder)
        except Exception:  # noqa: BLE001 - not cached: nothing to read
            pass
    return ModelConfigs("")


def checked_family(request) -> tuple[ModelFamily, ModelConfigs]:
    """The family of the request's base model and that model's configs, after the family has
    refused (InputError) what it cannot do; nothing is loaded."""
    family = detect_family(request.model.base_model)
    configs = model_configs(request.model.base_model, family)
    family.check_request(request, configs)
    return family, configs
