"""Local model folders: every `.safetensors` in a folder (say an A1111 or ComfyUI models folder),
classified from its header alone, without reading the weights.

A safetensors file starts with an 8-byte little-endian length and a JSON header naming every
tensor; the names say what the file is. The folders the user added are remembered in
`model-folders.json` in the app's config folder.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

from backend.core.atomic import write_text
from backend.core.errors import InputError
from backend.families.registry import family_for_class, family_named

MAX_HEADER = 100 * 1024 * 1024  # a real header is a few MB at most; more means a broken file

SD15 = "sd15-checkpoint"
SDXL = "sdxl-checkpoint"
MOTION_MODULE = "motion-module"
MOTION_LORA = "motion-lora"
IMAGE_LORA = "image-lora"
EMBEDDING = "embedding"
WAN_TRANSFORMER = "wan-transformer"
WAN_LORA = "wan-lora"
DIFFUSERS_MODEL = "diffusers-model"
UNKNOWN = "unknown"

KIND_LABELS = {
    SD15: "SD1.5 checkpoint",
    SDXL: "SDXL checkpoint",
    MOTION_MODULE: "motion module",
    MOTION_LORA: "motion LoRA",
    IMAGE_LORA: "image LoRA",
    EMBEDDING: "textual-inversion embedding",
    WAN_TRANSFORMER: "Wan transformer",
    WAN_LORA: "Wan LoRA",
    DIFFUSERS_MODEL: "diffusers model",
    UNKNOWN: "unknown",
}


@dataclass(frozen=True)
class LocalModel:
    path: str
    kind: str
    size: int
    usable: bool
    note: str = ""

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def load_path(self) -> str:
        """What a model field should get: the file, or for the weights of a diffusers folder
        (a config.json beside it) that folder, which loads without any conversion."""
        if self.kind == DIFFUSERS_MODEL:
            return self.path
        parent = Path(self.path).parent
        return str(parent) if (parent / "config.json").is_file() else self.path

    def to_dict(self) -> dict:
        return {**asdict(self), "kind_label": self.label, "load_path": self.load_path}


def read_header(path: str | os.PathLike) -> dict:
    """The JSON header of a safetensors file. Raises ValueError for anything that is not one."""
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ValueError("too short to be a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length < 2 or length > MAX_HEADER:
            raise ValueError("no safetensors header")
        raw = handle.read(length)
    if len(raw) < length:
        raise ValueError("the header is cut off (a truncated download?)")
    header = json.loads(raw)
    if not isinstance(header, dict):
        raise ValueError("the header is not a table of tensors")
    return header


def classify_keys(keys: list[str]) -> tuple[str, bool, str]:
    """(kind, usable with these SD1.5 motion adapters, note) from tensor names."""
    has = lambda *parts: any(all(p in k for p in parts) for k in keys)  # noqa: E731
    starts = lambda prefix: any(k.startswith(prefix) for k in keys)  # noqa: E731
    lora = has("lora_") or has(".lora.") or has("lora_A") or has("lora_down") or has("lora.down")
    if has("motion_modules"):
        if lora:
            return MOTION_LORA, True, ""
        return MOTION_MODULE, True, ""
    if lora and (has("blocks.", "self_attn.") or has("blocks.", "attn1.to_q")) and not has("unet"):
        return WAN_LORA, True, "for a Wan base model"
    if family_named("wan").matches_header(keys):
        return WAN_TRANSFORMER, True, "a Wan base model (its other parts come from its Diffusers repository)"
    if starts("conditioner.embedders.1") or starts("conditioner.embedders.0.transformer"):
        return SDXL, False, "SDXL: these motion adapters need an SD1.5-based model"
    if starts("model.diffusion_model."):
        if starts("cond_stage_model.model."):
            return (
                UNKNOWN,
                False,
                "looks like Stable Diffusion 2.x, which these adapters do not fit",
            )
        return SD15, True, ""
    if lora:
        if has("lora_te2_") or has("lora_unet_input_blocks_7_1") or has("text_encoder_2"):
            return IMAGE_LORA, False, "an SDXL LoRA"
        return IMAGE_LORA, True, ""
    if keys and set(keys) <= {"emb_params", "clip_l", "clip_g", "string_to_param", "*"}:
        if "clip_g" in keys:
            return EMBEDDING, False, "an SDXL embedding"
        return EMBEDDING, True, ""
    return UNKNOWN, False, ""


def classify_file(path: str | os.PathLike) -> LocalModel:
    path = Path(path)
    size = path.stat().st_size
    try:
        header = read_header(path)
    except (OSError, ValueError) as exc:
        return LocalModel(str(path), UNKNOWN, size, False, f"unreadable: {exc}")
    keys = [k for k in header if k != "__metadata__"]
    kind, usable, note = classify_keys(keys)
    return LocalModel(str(path), kind, size, usable, note)


def classify_diffusers_folder(folder: Path) -> LocalModel:
    """A diffusers model folder (a model_index.json and its parts in subfolders) as one model:
    what its pipeline class and its UNet's text width say it is."""
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        class_name = str(index.get("_class_name", "")) if isinstance(index, dict) else ""
    except (OSError, ValueError):
        return LocalModel(str(folder), UNKNOWN, size, False, "its model_index.json is unreadable")
    family = family_for_class(class_name)
    if family is not None and family.loads_itself:
        return LocalModel(str(folder), DIFFUSERS_MODEL, size, True, f"a {family.label} base model")
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
        width = unet.get("cross_attention_dim") if isinstance(unet, dict) else None
    except (OSError, ValueError):
        width = None
    if "XL" in class_name or width == 2048:
        return LocalModel(str(folder), DIFFUSERS_MODEL, size, False,
                          "SDXL: these motion adapters need an SD1.5-based model")
    if width == 1024:
        return LocalModel(str(folder), DIFFUSERS_MODEL, size, False,
                          "looks like Stable Diffusion 2.x, which these adapters do not fit")
    if width is None:
        return LocalModel(str(folder), DIFFUSERS_MODEL, size, False,
                          f"a {class_name or 'diffusers'} pipeline without a UNet: not a base model here")
    return LocalModel(str(folder), DIFFUSERS_MODEL, size, True, "a base model")


def scan_folder(folder: str | os.PathLike) -> list[LocalModel]:
    """Every model below `folder`, sorted by path: a diffusers model folder as one model (its
    parts are not listed), every other .safetensors file classified from its header."""
    root = Path(os.path.expanduser(str(folder)))
    if not root.is_dir():
        raise InputError(f"models scan {str(folder)!r}: no such folder")
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if "model_index.json" in filenames:
            found.append(classify_diffusers_folder(Path(dirpath)))
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.lower().endswith(".safetensors"):
                found.append(classify_file(Path(dirpath) / name))
    return found


# -- the folders the user added ------------------------------------------------------------------


def folders_file() -> Path:
    from backend.project.settings import config_dir

    return config_dir() / "model-folders.json"


def load_folders() -> list[str]:
    try:
        data = json.loads(folders_file().read_text())
    except (OSError, ValueError):
        return []
    return (
        [str(f) for f in data.get("folders", []) if isinstance(f, str)]
        if isinstance(data, dict)
        else []
    )


def save_folders(folders: list[str]) -> None:
    path = folders_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps({"folders": folders}, indent=2))


def add_folder(folder: str) -> list[str]:
    folder = str(Path(os.path.expanduser(folder)).resolve())
    if not Path(folder).is_dir():
        raise InputError(f"model folder {folder!r}: no such folder")
    folders = load_folders()
    if folder not in folders:
        folders.append(folder)
        save_folders(folders)
    return folders


def remove_folder(folder: str) -> list[str]:
    folders = [f for f in load_folders() if f != folder]
    save_folders(folders)
    return folders


def local_models() -> list[LocalModel]:
    """Every classified file in every remembered folder that still exists."""
    models = []
    for folder in load_folders():
        if Path(folder).is_dir():
            models.extend(scan_folder(folder))
    return models
