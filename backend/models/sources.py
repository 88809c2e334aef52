"""Every model a job names, resolved once before anything loads: what each field names (a Hub
id, a file in a Hub repository, a local folder or file), where it is, and whether the pickle rule
lets it load. The loaders take these sources; none resolves a name again."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from backend.core.errors import InputError
from backend.core.request import ModelSpec
from backend.core.sources import (
    HUB_ID,
    PICKLE_SUFFIXES,
    SAFE_SUFFIXES,
    ModelSource,
    split_hub_file,
)
from backend.hub.files import download_hub_file

BASE_MODEL, MOTION_ADAPTER = "base model", "motion adapter"
MOTION_LORA, IMAGE_LORA, EMBEDDING = "motion LoRA", "LoRA", "embedding"


def resolve_source(
    text: str, role: str, *, marker: str | None, allow_pickle: bool = False
) -> ModelSource:
    """Decide what `text` names. `role` is used in messages ("base model"); `marker` is the file a
    diffusers folder of this role holds ("model_index.json", "config.json"), None for LoRAs. A
    file inside a Hub repository is fetched into the cache (no request when it is there)."""
    text = text.strip()
    if split_hub_file(text):
        return ModelSource("file", download_hub_file(text, role), text)
    path = Path(os.path.expanduser(text))
    if path.exists():
        if path.is_dir():
            if marker and not (path / marker).is_file():
                raise InputError(
                    f"{role} {text!r} is not a diffusers model folder (it has no {marker}); "
                    f"choose the folder that holds {marker}, or a single .safetensors file"
                )
            return ModelSource("folder", str(path), text)
        suffix = path.suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            if not allow_pickle:
                raise InputError(
                    f"{role} {text!r} is a pickle checkpoint ({suffix}), which can run code when "
                    "loaded; use a .safetensors file, or pass --allow-pickle if you trust its source"
                )
        elif suffix not in SAFE_SUFFIXES:
            raise InputError(
                f"{role} {text!r} is not a model file: expected a .safetensors file "
                "or a diffusers model folder"
            )
        return ModelSource("file", str(path), text)
    if HUB_ID.match(text) and not text.startswith((".", "~")):
        # A model complete in the Hub cache loads from its snapshot folder: no request at all
        # (diffusers would otherwise ask the Hub for files the repo never had, with retries).
        from backend.hub.downloads import ModelRef, complete_snapshot

        snapshot = complete_snapshot(ModelRef(text, role, marker))
        if snapshot is not None:
            return ModelSource("folder", str(snapshot), text)
        return ModelSource("hub", text, text)
    raise InputError(f"{role} {text!r}: no such file or folder, and not a Hugging Face Hub id")


@dataclass(frozen=True)
class SourcePlan:
    """The resolved sources of one ModelSpec: base model, motion adapter, and each LoRA and
    embedding by (role, the text the user gave)."""

    base: ModelSource
    adapter: ModelSource
    extras: dict[tuple[str, str], ModelSource] = field(default_factory=dict)

    def extra(self, role: str, text: str) -> ModelSource:
        return self.extras[(role, text)]


def resolve_sources(spec: ModelSpec) -> SourcePlan:
    """Resolve every model of `spec`, in the order the fields appear; the first bad one raises."""
    pickle = spec.allow_pickle
    base = resolve_source(spec.base_model, BASE_MODEL, marker="model_index.json", allow_pickle=pickle)
    adapter = resolve_source(
        spec.motion_adapter, MOTION_ADAPTER, marker="config.json", allow_pickle=pickle
    )
    extras = {}
    for role, texts in (
        (MOTION_LORA, [lora.source for lora in spec.motion_loras]),
        (IMAGE_LORA, [lora.source for lora in spec.loras]),
        (EMBEDDING, [embedding.source for embedding in spec.embeddings]),
    ):
        for text in texts:
            if (role, text) not in extras:
                extras[(role, text)] = resolve_source(text, role, marker=None, allow_pickle=pickle)
    return SourcePlan(base, adapter, extras)
