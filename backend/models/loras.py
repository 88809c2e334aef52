"""Motion LoRAs and image LoRAs on one loaded pipeline.

Both kinds are PEFT adapters loaded with `pipe.load_lora_weights(..., adapter_name=...)` and
weighted together with one `pipe.set_adapters` call, motion LoRAs first, as a diffusers script
combining them would. Switching LoRAs loads and deletes adapters; the base weights stay.
Image LoRAs come as diffusers/PEFT files, kohya files, or A1111 files in the original (LDM) key
names, which diffusers maps only when given the UNet's configuration.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from backend.core.errors import InputError
from backend.core.request import ModelSpec, MotionLora
from backend.core.sources import ModelSource
from backend.hub.load_errors import explain_load_error
from backend.models.loading import lora_adapter_name
from backend.models.sources import IMAGE_LORA, MOTION_LORA, SourcePlan
from backend.models.weights import safetensors_flag

MOTION, IMAGE = MOTION_LORA, IMAGE_LORA
_FOLDER_WEIGHTS = "pytorch_lora_weights.safetensors"
_DOWN_SUFFIXES = (".lora_down.weight", ".lora_A.weight", ".lora.down.weight")


@dataclass(frozen=True)
class WantedLora:
    name: str  # PEFT adapter name
    role: str  # MOTION or IMAGE
    lora: MotionLora


def wanted_loras(spec: ModelSpec) -> list[WantedLora]:
    """The adapters a job needs, in the order their weights are applied."""
    wanted = [WantedLora(lora_adapter_name(lora.source), MOTION, lora) for lora in spec.motion_loras]
    wanted += [
        WantedLora("image_" + lora_adapter_name(lora.source), IMAGE, lora) for lora in spec.loras
    ]
    names = [item.name for item in wanted]
    for item in wanted:
        if names.count(item.name) > 1:
            raise InputError(f"{item.role} {item.lora.source!r} is given twice")
    return wanted


@contextlib.contextmanager
def text_model_alias_removed(text_encoder):
    """Without the clip-skip alias (models._clip_skip_compat) for the duration: diffusers keeps
    a LoRA's `text_model.` key prefix when the text encoder has that attribute, and then its
    text-encoder layers find no modules in today's flattened CLIPTextModel."""
    alias = text_encoder.__dict__.get("text_model")
    if alias is text_encoder:
        del text_encoder.__dict__["text_model"]
    try:
        yield
    finally:
        if alias is text_encoder:
            object.__setattr__(text_encoder, "text_model", text_encoder)


def check_lora_kind(path: str, role: str, label: str, cross_attention_dim: int) -> None:
    """Refuse, with a message that says what to do, a LoRA in the wrong field or for SDXL."""
    from backend.models.motion_checkpoint import read_shapes

    if not path.lower().endswith(".safetensors"):
        return
    shapes = read_shapes(path, f"{role} {label!r}")
    keys = list(shapes)
    if any(k.startswith(("lora_te1_", "lora_te2_")) or "text_encoder_2" in k for k in keys):
        raise InputError(
            f"{role} {label!r} is made for SDXL; AnimateDiff here runs Stable Diffusion 1.5 "
            "models, which need SD1.5 LoRAs"
        )
    for key, shape in shapes.items():
        if "attn2" in key and "to_k" in key and key.endswith(_DOWN_SUFFIXES) and len(shape) == 2:
            if shape[1] != cross_attention_dim:
                kind = "SDXL" if shape[1] == 2048 else f"a model with {shape[1]}-wide text features"
                raise InputError(
                    f"{role} {label!r} is made for {kind}; this base model needs LoRAs for "
                    "Stable Diffusion 1.5"
                )
            break
    motion = [k for k in keys if "motion_modules" in k]
    if role == IMAGE and keys and len(motion) == len(keys):
        raise InputError(f"{label!r} is a motion LoRA; give it with --motion-lora (Motion LoRAs)")
    if role == MOTION and keys and not motion:
        raise InputError(
            f"{label!r} is an image LoRA (it has no motion-module layers); give it with --lora "
            "(LoRAs)"
        )


def _local_weights(source: ModelSource) -> str | None:
    if source.kind == "file":
        return source.location
    if source.kind == "folder" and (Path(source.location) / _FOLDER_WEIGHTS).is_file():
        return str(Path(source.location) / _FOLDER_WEIGHTS)
    return None


def load_lora(pipe, item: WantedLora, source: ModelSource, allow_pickle: bool) -> None:
    text = item.lora.source
    weights = _local_weights(source)
    if weights:
        check_lora_kind(weights, item.role, text, pipe.unet.config.cross_attention_dim)
    try:
        with warnings.catch_warnings(), text_model_alias_removed(pipe.text_encoder):
            # Several adapters on one model is exactly what we want; PEFT warns regardless.
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            # The UNet's configuration lets diffusers map A1111's original (LDM) key names.
            options = {"adapter_name": item.name, "unet_config": pipe.unet.config}
            if source.kind == "file":
                path = Path(source.location)
                pipe.load_lora_weights(str(path.parent), weight_name=path.name, **options)
            else:
                pipe.load_lora_weights(
                    source.location, use_safetensors=safetensors_flag(allow_pickle), **options
                )
    except Exception as exc:
        error = explain_load_error(exc, item.role, source)
        if error is exc and isinstance(exc, (ValueError, KeyError, OSError, RuntimeError)):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            error = InputError(f"{item.role} {text!r} could not be loaded: {first}")
        # A failed load can leave a half-injected adapter behind.
        with contextlib.suppress(Exception):
            pipe.delete_adapters([item.name])
        raise error from exc


def apply_loras(pipe, spec: ModelSpec, sources: SourcePlan) -> None:
    """Make exactly the spec's motion and image LoRAs active with their weights: load new ones,
    delete ones no longer wanted, re-weight the rest."""
    wanted = wanted_loras(spec)
    names = [item.name for item in wanted]
    loaded = {name for component in pipe.get_list_adapters().values() for name in component}
    stale = sorted(loaded - set(names))
    if stale:
        pipe.delete_adapters(stale)
    for item in wanted:
        if item.name not in loaded:
            load_lora(pipe, item, sources.extra(item.role, item.lora.source), spec.allow_pickle)
    if wanted:
        pipe.set_adapters(names, adapter_weights=[item.lora.weight for item in wanted])
