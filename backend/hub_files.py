"""One file of a Hugging Face Hub repository, named `owner/repo/path/in/repo.safetensors`.

The distilled models ship as single files inside bigger repositories (AnimateDiff-Lightning's
motion modules, AnimateLCM's LoRA), so a model field may name such a file. It is downloaded into
huggingface_hub's shared cache like every other Hub model.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from backend.errors import InputError

_HUB_FILE = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)/(?P<file>[\w./-]+\.safetensors)$")


def split_hub_file(text: str) -> tuple[str, str] | None:
    """(repo id, file name) when `text` names a Hub file and no local path; else None."""
    text = text.strip()
    if Path(os.path.expanduser(text)).exists():
        return None
    match = _HUB_FILE.match(text)
    if match is None or ".." in match["file"].split("/"):
        return None
    return match["repo"], match["file"]


def download_hub_file(text: str, role: str) -> str:
    """The local path of the Hub file `text`, downloading it when it is not cached."""
    from huggingface_hub import hf_hub_download

    from backend.models import ModelSource, explain_load_error

    parts = split_hub_file(text)
    assert parts is not None, text
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
