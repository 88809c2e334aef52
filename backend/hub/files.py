"""One file of a Hugging Face Hub repository, named `owner/repo/path/in/repo.safetensors`.

The distilled models ship as single files inside bigger repositories (AnimateDiff-Lightning's
motion modules, AnimateLCM's LoRA), so a model field may name such a file. It is downloaded into
huggingface_hub's shared cache like every other Hub model.
"""

from __future__ import annotations

from backend.core.errors import InputError
from backend.core.sources import ModelSource, split_hub_file


def download_hub_file(text: str, role: str) -> str:
    """The local path of the Hub file `text`, downloading it when it is not cached."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    from backend.hub.load_errors import explain_load_error

    parts = split_hub_file(text)
    assert parts is not None, text
    cached = try_to_load_from_cache(repo_id=parts[0], filename=parts[1])
    if isinstance(cached, str):
        return cached  # in the cache: no request at all
    try:
        return hf_hub_download(repo_id=parts[0], filename=parts[1])
    except Exception as exc:
        error = explain_load_error(exc, role, ModelSource("hub", text, text))
        if isinstance(error, InputError) and "offline" in str(error):
            error = InputError(
                f"{role} {text!r} is not in the Hugging Face cache and cannot be downloaded now "
                f"(offline); connect to the internet once, or run `hf download {parts[0]} "
                f"{parts[1]}`, or give the file's local path"
            )
        if isinstance(exc, OSError) and error is exc:
            error = InputError(f"{role} {text!r} could not be downloaded: {exc}")
        raise error from exc
