"""A library's loading error in one sentence that says what is wrong and what to do: a person
should never have to read a tensor-shape dump."""

from __future__ import annotations

from backend.core.errors import InputError, exception_chain
from backend.core.sources import ModelSource


def gated_error(role: str, label: str) -> InputError:
    return InputError(
        f"{role} {label!r} is gated on the Hugging Face Hub: accept its licence on the model page "
        "and log in with `hf auth login` (or set HF_TOKEN)"
    )


def not_found_error(role: str, label: str) -> InputError:
    return InputError(
        f"{role} {label!r}: no such model on the Hugging Face Hub (check the id; a private model "
        "needs `hf auth login` or HF_TOKEN)"
    )


def explain_load_error(exc: BaseException, role: str, source: ModelSource,
                       config_repo: str = "stable-diffusion-v1-5/stable-diffusion-v1-5") -> Exception:
    """Map a library's loading exception to a user-facing error, or return it unchanged.
    `config_repo`: where diffusers takes a single file's configuration from."""
    from huggingface_hub import errors as hub_errors

    label = source.label
    chain = list(exception_chain(exc))
    # Hub errors first: diffusers wraps them in a vaguer OSError.
    for item in chain:
        name = type(item).__name__
        if isinstance(item, InputError):
            return item
        if isinstance(item, hub_errors.GatedRepoError):
            return gated_error(role, label)
        if isinstance(item, hub_errors.RepositoryNotFoundError):
            return not_found_error(role, label)
        offline = isinstance(
            item, (hub_errors.LocalEntryNotFoundError, hub_errors.OfflineModeIsEnabled)
        ) or ("ConnectError" in name or "ConnectionError" in name)
        if offline and source.kind == "file":
            return InputError(
                f"{role} {label!r}: a single checkpoint file needs its model configuration "
                f"({config_repo} on the Hugging Face Hub), which is not in the cache and cannot "
                "be downloaded now; connect to the internet once, or use the model as a diffusers "
                "folder"
            )
        if offline:
            return InputError(
                f"{role} {label!r} is not in the Hugging Face cache and cannot be downloaded "
                f"now (offline); connect to the internet once, or run `hf download {label}`"
            )
    for item in chain:
        name = type(item).__name__
        text = str(item)
        if name == "SafetensorError" or "deserializing header" in text or "incomplete metadata" in text:
            return InputError(
                f"{role} {label!r}: a weights file is truncated or corrupt ({text.strip()[:80]}); "
                "download it again"
            )
        if "is not a valid JSON file" in text:
            return InputError(
                f"{role} {label!r}: a configuration file (.json) in it is damaged or not JSON; "
                "download the model again"
            )
        if "size mismatch" in text:
            return InputError(
                f"{role} {label!r} does not fit the other model: its layer sizes differ (an SD1.5 "
                "motion adapter needs an SD1.5-based model, an SDXL one an SDXL model)"
            )
        if isinstance(item, OSError) and ("no file named" in text or "does not appear to have" in text):
            hint = (
                " (it has only pickle .bin weights: pass --allow-pickle if you trust it)"
                if "safetensors" in text
                else ""
            )
            return InputError(f"{role} {label!r} is missing its weights files{hint}")
    return exc
