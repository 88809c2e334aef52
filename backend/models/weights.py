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
        f"{who(role, label)} is a pickle file that needs to run code to load; use a .safetensors "
        "file, or pass --allow-pickle if you trust its source"
    )


def safetensors_flag(allow_pickle: bool) -> bool | None:
    """diffusers' `use_safetensors` for a folder or Hub id: None, prefer safetensors and fall
    back to .bin weights, which diffusers and transformers read with `weights_only=True`, the
    rule itself. A local folder's pickles went through `check_folder` first, so a refusal
    carries our one message, not a library's."""
    return None


def who(role: str, label: str) -> str:
    """How messages name a file: "base model 'x.ckpt'", or `label` as given without a role."""
    return f"{role} {label!r}" if role else label


def corrupt(role: str, label: str, exc: BaseException) -> InputError:
    return InputError(
        f"{who(role, label)}: the weights file is truncated or corrupt "
        f"({str(exc).strip().splitlines()[0][:80] if str(exc).strip() else type(exc).__name__}); "
        "download it again"
    )


def load_weights(
    path: str | os.PathLike, *, allow_pickle: bool = False, role: str = "weights",
    label: str | None = None, mmap: bool = False,
):
    """The tensors of a weights file as a dict, on the CPU, by the one rule above. With `mmap`
    a pickle's tensors are mapped, not read (what a check or an estimate needs)."""

    path = Path(path)
    label = label or str(path)
    suffix = path.suffix.lower()
    if suffix in SAFE_SUFFIXES:
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except OSError as exc:
            raise InputError(f"{who(role, label)} cannot be read ({exc.strerror})") from None
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type
            raise corrupt(role, label, exc) from None
    if suffix not in PICKLE_SUFFIXES:
        raise InputError(f"{role} {label!r} is not a weights file: expected a .safetensors file")
    import pickle

    try:
        return _torch_load(path, mmap, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc):
            raise corrupt(role, label, exc) from None  # not a pickle at all, or cut short
        if not allow_pickle:
            raise pickle_refused(role, label) from None
    except OSError as exc:
        raise InputError(f"{who(role, label)} cannot be read ({exc.strerror})") from None
    except Exception as exc:  # noqa: BLE001 - a damaged pickle raises many kinds of errors
        raise corrupt(role, label, exc) from None
    try:
        return _torch_load(path, mmap, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - allowed, but still damaged
        raise corrupt(role, label, exc) from None


def _torch_load(path: Path, mmap: bool, *, weights_only: bool):
    import torch

    if mmap:
        try:
            return torch.load(str(path), map_location="cpu", weights_only=weights_only, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):  # the legacy (non-zip) format cannot be mapped
                raise
    return torch.load(str(path), map_location="cpu", weights_only=weights_only)


def check_weights(path: str | os.PathLike, *, allow_pickle: bool, role: str, label: str) -> None:
    """Apply the rule to one file before anything else reads it: a safetensors header must
    parse; a pickle must hold only tensors, or be allowed. Reads no tensor data."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        load_weights(path, allow_pickle=allow_pickle, role=role, label=label, mmap=True)
        return
    tensor_shapes(path, role=role, label=label)


def tensor_shapes(path: str | os.PathLike, *, role: str, label: str,
                  allow_pickle: bool = False) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes, from a .safetensors header or (by the rule) a mapped pickle."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        import torch

        tensors = load_weights(path, allow_pickle=allow_pickle, role=role, label=label, mmap=True)
        if not isinstance(tensors, dict):
            return {}
        return {
            str(key): tuple(value.shape)
            for key, value in _flatten(tensors) if isinstance(value, torch.Tensor)
        }
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except OSError as exc:
        raise InputError(f"{who(role, label)} cannot be read ({exc.strerror})") from None
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type
        raise corrupt(role, label, exc) from None


def _flatten(tensors: dict, prefix: str = ""):
    """(key, value) pairs of a checkpoint, nested dicts ("state_dict") flattened."""
    for key, value in tensors.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def check_folder(folder: str | os.PathLike, *, allow_pickle: bool, role: str, label: str,
                 depth: int = 0) -> None:
    """The rule for every pickle weights file in a folder (and `depth` levels of subfolders:
    a diffusers model's unet/, vae/, text_encoder/), which a library would otherwise read on its
    own. A pickle beside a .safetensors of the same stem is never read, so it is not checked."""
    try:
        entries = sorted(Path(folder).iterdir())
    except OSError as exc:
        raise InputError(f"{who(role, label)} cannot be read ({exc.strerror})") from None
    safe_stems = {p.stem for p in entries if p.suffix.lower() in SAFE_SUFFIXES}
    for path in entries:
        if path.is_dir() and depth > 0:
            check_folder(path, allow_pickle=allow_pickle, role=role,
                         label=f"{label}/{path.name}", depth=depth - 1)
        elif (path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES
              and path.stem not in safe_stems):
            check_weights(path, allow_pickle=allow_pickle, role=role, label=f"{label}/{path.name}")
