"""What is in huggingface_hub's cache, decided from the files alone: where the cache and the Hub
are (HF_HOME, HF_ENDPOINT, HF_HUB_OFFLINE), whether a model is complete in it (so it loads from
its snapshot folder with no request), which files a model needs, and the temporary files a killed
download leaves. Imports neither torch nor diffusers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from backend.core.errors import InputError

CONNECT_TIMEOUT = 1.5  # seconds for the one request that decides "reachable or not"
# The parts AnimateDiffPipeline loads from an SD1.5 folder (a safety_checker is not one).
PIPELINE_PARTS = (
    "unet",
    "vae",
    "text_encoder",
    "tokenizer",
    "scheduler",
    "feature_extractor",
    "image_encoder",
)
WEIGHT_PARTS = ("unet", "vae", "text_encoder", "image_encoder")
CONFIG_SUFFIXES = (".json", ".txt", ".model")


@dataclass(frozen=True)
class ModelRef:
    """A Hub model the app needs: a repo, the role it plays, optionally exact files."""

    repo_id: str
    role: str = "model"  # "base model", "motion adapter", "motion LoRA", or a catalog kind
    marker: str | None = None  # model_index.json (pipeline), config.json (adapter), None
    files: tuple[str, ...] = ()  # exact files (single-file entries); empty: decided by marker

    @property
    def label(self) -> str:
        return self.repo_id + (f" ({', '.join(self.files)})" if self.files else "")


def hub_endpoint() -> str:
    """HF_ENDPOINT as set now (huggingface_hub reads it once at import; a test or a user who sets
    it later in this process still gets it)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def is_offline() -> bool:
    from huggingface_hub import constants

    return constants.is_offline_mode()


def repo_folder(repo_id: str, cache_dir: Path | None = None) -> Path:
    # huggingface_hub's documented cache layout (file_download.repo_folder_name), written out
    # here so that checking the cache does not import its HTTP stack.
    return (cache_dir or hub_cache_dir()) / ("models--" + repo_id.replace("/", "--"))


def uses_proxy() -> bool:
    return any(
        os.environ.get(name)
        for name in (
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        )
    )


def probe_endpoint(endpoint: str, timeout: float = CONNECT_TIMEOUT) -> OSError | None:
    """One TCP connection attempt to the Hub: None when it connects, the error when not. Cheap
    (no HTTP library import), so "offline" is known before anything heavy loads. Behind a proxy
    the answer would be wrong, so then it is not tried (None)."""
    import socket
    from urllib.parse import urlsplit

    if uses_proxy():
        return None
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return exc


def cached_snapshot(
    repo_id: str, cache_dir: Path | None = None, revision: str = "main"
) -> Path | None:
    """The snapshot folder the cache holds for `revision`, or None."""
    folder = repo_folder(repo_id, cache_dir)
    ref = folder / "refs" / revision
    try:
        commit = ref.read_text().strip()
    except OSError:
        return None
    snapshot = folder / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def _is_variant(name: str) -> bool:
    """diffusion_pytorch_model.fp16.safetensors is a variant; model.safetensors is not."""
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return "." in stem


def _weights_ok(folder: Path) -> bool:
    weights = [
        p
        for p in folder.iterdir()
        if p.suffix in (".safetensors", ".bin") and not _is_variant(p.name)
    ]
    if not weights:
        return False
    for index in folder.glob("*.index.json"):
        if _is_variant(index.name[: -len(".index.json")] + ".x"):
            continue
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError):
            return False
        if not all((folder / shard).exists() for shard in shards):
            return False
    return all(p.exists() for p in weights)  # exists() follows the symlink to the blob


def resolve_auto(ref: ModelRef, names: Iterable[str]) -> ModelRef:
    """For a repo of unknown kind (marker "auto"), decide from its files what it is."""
    if ref.marker != "auto":
        return ref
    names = set(names)
    marker = (
        "model_index.json"
        if "model_index.json" in names
        else "config.json"
        if "config.json" in names
        else None
    )
    return ModelRef(ref.repo_id, ref.role, marker, ref.files)


def snapshot_is_complete(snapshot: Path, ref: ModelRef) -> bool:
    """Whether a snapshot holds everything the app loads for `ref` (broken links count as
    missing). Decided from the files alone: no request."""
    try:
        ref = resolve_auto(ref, (p.name for p in snapshot.iterdir()))
        if ref.files:
            return all((snapshot / name).exists() for name in ref.files)
        if ref.marker == "model_index.json":
            index = json.loads((snapshot / "model_index.json").read_text())
            for part in PIPELINE_PARTS:
                entry = index.get(part)
                if not (isinstance(entry, list) and entry and entry[0]):
                    continue
                folder = snapshot / part
                if not folder.is_dir() or not any(folder.iterdir()):
                    return False
                if part in WEIGHT_PARTS and not _weights_ok(folder):
                    return False
            return True
        if ref.marker:
            return (snapshot / ref.marker).exists() and _weights_ok(snapshot)
        return any(p.suffix == ".safetensors" and p.exists() for p in snapshot.iterdir())
    except (OSError, ValueError):
        return False


def complete_snapshot(ref: ModelRef, cache_dir: Path | None = None) -> Path | None:
    snapshot = cached_snapshot(ref.repo_id, cache_dir)
    if snapshot is not None and snapshot_is_complete(snapshot, ref):
        return snapshot
    return None


def select_files(ref: ModelRef, names: Iterable[str]) -> list[str]:
    """The files of a repo the app loads, as diffusers would pick them: the safetensors weights
    without variants (fp16 copies, pickles and single-file checkpoints at the root are skipped),
    plus configs and tokenizer files."""
    names = list(names)
    if ref.files:
        missing = [n for n in ref.files if n not in names]
        if missing:
            raise InputError(f"{ref.role} {ref.repo_id!r} has no file {missing[0]!r} on the Hub")
        return list(ref.files)

    def pick(folder: str) -> list[str]:
        prefix = f"{folder}/" if folder else ""
        here = [n for n in names if n.startswith(prefix) and "/" not in n[len(prefix) :]]
        configs = [n for n in here if n.endswith(CONFIG_SUFFIXES) and not n.endswith(".index.json")]
        safe = [n for n in here if n.endswith(".safetensors") and not _is_variant(n)]
        weights = safe or [n for n in here if n.endswith(".bin") and not _is_variant(n)]
        indexes = [
            n
            for n in here
            if n.endswith(".index.json") and not _is_variant(n[: -len(".index.json")] + ".x")
        ]
        return configs + weights + indexes

    if ref.marker == "model_index.json":
        chosen = ["model_index.json"]
        for part in PIPELINE_PARTS:
            chosen += pick(part)
        return chosen
    if ref.marker:
        return [n for n in pick("") if not n.endswith(".txt")] if ref.marker in names else []
    return [n for n in pick("") if n.endswith((".safetensors", ".json"))]


def clean_partial_files(repo_id: str, cache_dir: Path | None = None) -> int:
    """Delete the `*.incomplete` files a killed download left in this repo's blobs. A file whose
    lock another process holds is still being written and stays. Returns how many went."""
    from filelock import FileLock, Timeout

    cache = cache_dir or hub_cache_dir()
    blobs = repo_folder(repo_id, cache) / "blobs"
    if not blobs.is_dir():
        return 0
    locks = cache / ".locks" / repo_folder(repo_id, cache).name
    removed = 0
    for partial in blobs.glob("*.incomplete"):
        etag = partial.name.split(".", 1)[0]
        lock = FileLock(str(locks / f"{etag}.lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            continue
        except OSError:
            pass  # no lock folder: nobody holds it
        else:
            try:
                partial.unlink(missing_ok=True)
                removed += 1
            finally:
                lock.release()
            continue
        partial.unlink(missing_ok=True)
        removed += 1
    return removed


