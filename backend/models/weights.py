"""The one rule for reading weights files. A .safetensors file holds only tensors. A pickle
(.ckpt .bin .pt .pth .pkl) can run code when loaded, so it is read with
`torch.load(weights_only=True)`, which refuses anything but tensors and plain containers; a pickle
that needs more loads only when the user typed --allow-pickle."""

from __future__ import annotations

import os
from pathlib import Path

from backend.core.errors import InputError
from backend.core.sources import PICKLE_SUFFIXES, SAFE_SUFFIXES


def pickle_refused(role: str, label: str) -> InputError:
    """The one message for a pickle that would need to run code to load."""
    return InputError(
        f"{role} {label!r} is a pickle file that needs to run code to load; use a .safetensors "
        "file, or pass --allow-pickle if you trust its source"
    )


def safetensors_flag(allow_pickle: bool) -> bool | None:
    """diffusers' `use_safetensors`: True refuses .bin weights; None prefers safetensors and
    falls back to them."""
    return None if allow_pickle else True


def load_weights(path: str | os.PathLike, *, allow_pickle: bool = False, role: str = "weights"):
    """The tensors of a weights file as a dict, on the CPU, by the one rule above."""
    import torch

    path = Path(path)
    label = str(path)
    suffix = path.suffix.lower()
    if suffix in SAFE_SUFFIXES:
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type
            raise InputError(
                f"{role} {label!r}: the weights file is truncated or corrupt "
                f"({str(exc).strip()[:80]}); download it again"
            ) from None
    if suffix not in PICKLE_SUFFIXES:
        raise InputError(f"{role} {label!r} is not a weights file: expected a .safetensors file")
    import pickle

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not allow_pickle:
            raise pickle_refused(role, label) from None
    except (EOFError, RuntimeError) as exc:
        raise InputError(
            f"{role} {label!r}: the weights file is truncated or corrupt "
            f"({str(exc).strip()[:80]}); download it again"
        ) from None
    return torch.load(str(path), map_location="cpu", weights_only=False)
