"""Which weights file a finishing step uses: a local file, a Hub file, or the default, downloaded
through the app's download path with progress; and the file's SHA-256 for the record."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from backend.core.errors import CancelCheck, InputError
from backend.hub.cache import ModelRef
from backend.hub.downloads import ProgressCallback, download

# Practical-RIFE v4.26 from the author's own Hub repository (the same zip the project's README
# links; MIT, as Practical-RIFE's README states for its model links). The zip holds
# train_log/flownet.pkl, a pickle of tensors only, plus the upstream Python files, never run.
DEFAULT_INTERPOLATION_MODEL = "hzwer/RIFE/RIFEv4.26_0921.zip"
# Real-ESRGAN x4plus (general photos), repackaged as safetensors by Comfy-Org (BSD-3-Clause, as
# the upstream Real-ESRGAN).
DEFAULT_UPSCALE_MODEL = "Comfy-Org/Real-ESRGAN_repackaged/RealESRGAN_x4plus.safetensors"

_HUB_FILE = re.compile(
    r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)/(?P<file>[\w./-]+\.(safetensors|pkl|pth|pt|zip))$"
)


def hub_file_parts(text: str) -> tuple[str, str] | None:
    """(repo, file) when `text` names a file in a Hub repository and no local path exists."""
    if Path(os.path.expanduser(text)).exists():
        return None
    match = _HUB_FILE.match(text.strip())
    if match is None or ".." in match["file"].split("/"):
        return None
    return match["repo"], match["file"]


def resolve_model_file(
    text: str,
    role: str,
    on_progress: ProgressCallback | None = None,
    cancel: CancelCheck = None,
) -> Path:
    """The local path of `text` (a file, or `owner/repo/file` on the Hub, downloaded if missing)."""
    path = Path(os.path.expanduser(text))
    if path.is_file():
        return path
    parts = hub_file_parts(text)
    if parts is None:
        raise InputError(
            f"{role} {text!r} is neither a file nor a Hub file like owner/repo/model.safetensors"
        )
    repo, name = parts
    folders = download([ModelRef(repo, role, None, (name,))], on_progress, cancel)
    return folders[0] / name


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
