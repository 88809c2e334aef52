"""Textual-inversion embeddings on one loaded pipeline.

`pipe.load_textual_inversion` adds tokens to the tokenizer and rows to the text encoder's
embedding table (a multi-vector embedding adds `<tok>`, `<tok>_1`, ...). Between jobs the ones
no longer wanted are unloaded again with `unload_textual_inversion`, so a job without them
tokenizes and encodes exactly as a freshly loaded pipeline does.
"""

from __future__ import annotations

import weakref
from pathlib import Path

from backend.core.errors import InputError
from backend.core.request import Embedding, ModelSpec
from backend.core.sources import ModelSource
from backend.hub.load_errors import explain_load_error
from backend.models.sources import EMBEDDING, SourcePlan

# tokenizer -> {(source, token): tokens it added}; the tokenizer is shared by every pipeline
# built on one model set, so this is where its state belongs.
_LOADED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def loaded_embeddings(tokenizer) -> dict[tuple[str, str], list[str]]:
    return _LOADED.setdefault(tokenizer, {})


def _added_tokens(tokenizer) -> set[str]:
    return set(tokenizer.get_added_vocab())


def load_embedding(pipe, embedding: Embedding, source: ModelSource) -> list[str]:
    """Load one embedding; returns the tokens it added."""
    label = embedding.source
    token = embedding.prompt_token
    if token in pipe.tokenizer.get_vocab():
        raise InputError(
            f"embedding {label!r}: the token {token} is already a word the tokenizer knows; "
            "choose another with PATH:TOKEN"
        )
    location = source.location
    before = _added_tokens(pipe.tokenizer)
    try:
        options = {"token": token}
        if Path(location).is_file() and not location.lower().endswith(".safetensors"):
            options["use_safetensors"] = False
        pipe.load_textual_inversion(location, **options)
    except Exception as exc:
        error = explain_load_error(exc, "embedding", source)
        if error is not exc:
            raise error from exc
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "shape" in text or "dimension" in text.lower():
            text = (
                "its vectors do not fit this text encoder (an SDXL or SD2 embedding? this "
                "needs a Stable Diffusion 1.5 embedding)"
            )
        raise InputError(f"embedding {label!r} could not be loaded: {text}") from exc
    return sorted(_added_tokens(pipe.tokenizer) - before)


def unload_embeddings(pipe, keys=None) -> None:
    """Unload the embeddings under `keys` (all of ours when None)."""
    state = loaded_embeddings(pipe.tokenizer)
    keys = list(state) if keys is None else list(keys)
    tokens = [token for key in keys for token in state.pop(key, [])]
    if tokens:
        pipe.unload_textual_inversion(tokens)


def apply_embeddings(pipe, spec: ModelSpec, sources: SourcePlan) -> None:
    """Make exactly the spec's embeddings loaded."""
    state = loaded_embeddings(pipe.tokenizer)
    wanted = {(e.source, e.prompt_token): e for e in spec.embeddings}
    stale = [key for key in state if key not in wanted]
    if stale:
        unload_embeddings(pipe, stale)
    for key, embedding in wanted.items():
        if key not in state:
            state[key] = load_embedding(pipe, embedding, sources.extra(EMBEDDING, embedding.source))
