"""Loading the guidance models: ControlNets, SparseCtrl and the IP-Adapter with its image
encoder, checked against the base model before any weights are read.

Loaded ControlNets are kept (keyed by source and dtype) while the base model stays loaded, so a
second controlled job does not read them again. The IP-Adapter is loaded onto the shared UNet
and taken off again (`unload_ip_adapter`) when a job does not use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.core.errors import InputError
from backend.core.sources import ModelSource, split_hub_file
from backend.hub.load_errors import explain_load_error
from backend.models.sources import resolve_source
from backend.models.weights import load_weights, safetensors_flag

SDXL_CROSS_ATTENTION = 2048
CONTROLNET_CONFIG_REPO = "lllyasviel/control_v11p_sd15_canny"  # diffusers' pick for an SD1.5 file


def _check_fits(config: dict[str, Any], unet_config: dict[str, Any], role: str, label: str) -> None:
    ours = config.get("cross_attention_dim")
    base = unet_config.get("cross_attention_dim")
    if ours is not None and base is not None and ours != base:
        kind = "an SDXL" if ours == SDXL_CROSS_ATTENTION else "another model family's"
        raise InputError(
            f"{role} {label!r} is {kind} model (cross-attention {ours}); the base model takes "
            f"{base} (Stable Diffusion 1.5): choose an SD1.5 {role}, e.g. a control_v11*_sd15_* model"
        )


def load_controlnet(text: str, unet_config: dict[str, Any], dtype, allow_pickle: bool,
                    sparse: bool = False):
    """A ControlNetModel (or SparseControlNetModel) from a Hub id, a diffusers folder or, for
    ControlNet, a single v1.1 file (`control_v11p_sd15_canny.safetensors`)."""
    from diffusers import ControlNetModel, SparseControlNetModel

    role = "SparseCtrl model" if sparse else "ControlNet"
    cls = SparseControlNetModel if sparse else ControlNetModel
    source = resolve_source(text, role, marker="config.json", allow_pickle=allow_pickle)
    state = None
    try:
        if source.kind == "file":
            if sparse:
                raise InputError(f"{role} {text!r}: give the diffusers folder or Hub id "
                                 "(guoyww/animatediff-sparsectrl-rgb or -scribble)")
            state = load_weights(source.location, allow_pickle=allow_pickle, role=role)
            if any(key.startswith("conditioner.") or "label_emb" in key for key in state):
                raise InputError(f"{role} {text!r} is an SDXL ControlNet; the base model is "
                                 "Stable Diffusion 1.5: choose a control_v11*_sd15_* model")
            model = cls.from_single_file(state, torch_dtype=dtype)
            _check_fits(dict(model.config), unet_config, role, text)
            return model
        _check_fits(cls.load_config(source.location), unet_config, role, text)
        return cls.from_pretrained(
            source.location, dtype=dtype, use_safetensors=safetensors_flag(allow_pickle)
        )
    except Exception as exc:
        # Only a failure's wording needs the repository diffusers took the config from.
        repo = CONTROLNET_CONFIG_REPO if state is None else single_file_config_repo(state)
        raise explain_load_error(exc, role, source, repo) from exc


def single_file_config_repo(state) -> str:
    """The Hub repository whose config.json diffusers reads for this single file."""
    from diffusers.loaders.single_file_utils import fetch_diffusers_config

    try:
        return fetch_diffusers_config(state)["pretrained_model_name_or_path"]
    except Exception:  # noqa: BLE001 - only for the wording of an error
        return CONTROLNET_CONFIG_REPO


def ip_adapter_location(text: str, allow_pickle: bool) -> tuple[str, str, str]:
    """(folder or Hub repo, subfolder, weight file name) for load_ip_adapter. Its image encoder
    is `image_encoder/` beside the file, as in h94/IP-Adapter's `models/` folder; refused when
    a local file has none there."""
    parts = split_hub_file(text)
    if parts is not None:
        repo, name = parts
        folder, _, weight = name.rpartition("/")
        return repo, folder, weight
    source = resolve_source(text, "IP-Adapter model", marker=None, allow_pickle=allow_pickle)
    if source.kind != "file":
        raise InputError(f"--ip-adapter-model {text!r}: give the weights file "
                         "(e.g. models/ip-adapter_sd15.safetensors), not a folder")
    path = Path(source.location)
    encoder = path.parent / "image_encoder"
    if not (encoder / "config.json").is_file():
        raise InputError(
            f"IP-Adapter {text!r} has no image encoder beside it: put the CLIP image encoder in "
            f"{str(encoder)!r} (config.json and model.safetensors), as h94/IP-Adapter lays "
            "out its models/ folder"
        )
    return str(path.parent), "", path.name


class GuidanceModels:
    """The ControlNets and SparseCtrl models loaded for the current base model, and which
    IP-Adapter sits on its UNet."""

    def __init__(self) -> None:
        self._models: dict[tuple, Any] = {}
        self.ip_adapter: str | None = None
        self.loads = 0

    def controlnet(self, text: str, unet_config, dtype, allow_pickle: bool, sparse: bool = False):
        key = (text, str(dtype), sparse)
        if key not in self._models:
            self._models[key] = load_controlnet(text, unet_config, dtype, allow_pickle, sparse)
            self.loads += 1
        return self._models[key]

    def set_ip_adapter(self, pipe, text: str | None, allow_pickle: bool) -> None:
        """Make `text` the IP-Adapter on the shared UNet (None: none)."""
        if self.ip_adapter == text:
            return
        if self.ip_adapter is not None:
            pipe.unload_ip_adapter()
            self.ip_adapter = None
        if text is None:
            return
        folder, subfolder, weight = ip_adapter_location(text, allow_pickle)
        try:
            pipe.load_ip_adapter(folder, subfolder=subfolder, weight_name=weight,
                                 image_encoder_folder="image_encoder")
        except Exception as exc:
            error = explain_load_error(exc, "IP-Adapter", ModelSource("file", text, text))
            if error is exc and isinstance(exc, (OSError, ValueError, KeyError)):
                error = InputError(f"IP-Adapter {text!r} could not be loaded: {str(exc).splitlines()[0]}")
            raise error from exc
        self.ip_adapter = text
