"""Speed options: a torch.compile that fails says so in one sentence, and the loaded models
keep working without it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from backend.core.errors import GenerationError
from backend.engine.generation import generate
from backend.models import speed
from tests.backend.test_engine import make_request


def no_compiler(graph, example_inputs):
    raise RuntimeError("Compiler: cc is not found")


def test_failed_compile_is_one_sentence_and_the_models_stay_usable(demo_models, cache, monkeypatch):
    monkeypatch.setattr(speed, "COMPILE_BACKEND", no_compiler)
    compiled = make_request(demo_models, steps=1, frames=2,
                            model={"compile_unet": True})
    with pytest.raises(GenerationError) as caught:
        generate(compiled, cache=cache)
    message = str(caught.value)
    assert message.startswith("compiling the UNet (torch.compile) failed")
    assert "cc is not found" in message and "Compile UNet" in message
    assert "\n" not in message
    # The cached UNet runs uncompiled again: the same job without the backend's failure works,
    # and gives the frames of a job that never asked for compiling.
    monkeypatch.setattr(speed, "COMPILE_BACKEND", "eager")
    loads = cache.loads
    again = generate(compiled, cache=cache).frames
    assert cache.loads == loads
    plain = generate(compiled.replace(model=dataclasses.replace(compiled.model, compile_unet=False)),
                     cache=cache).frames
    assert np.array_equal(again, plain)
