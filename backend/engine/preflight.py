"""The checks made before a job starts, the same for the window and the command line: a job
that cannot fit is refused with one sentence and never started.

Two checks, in order. `check_job_fits` needs no torch (the window calls it on its own thread):
the decoded frames must fit in the RAM that is free. `check_plan_fits` is the memory plan's
(backend/engine/memory.py): it needs the device and the number format, so the engine makes it
after choosing the plan and before loading anything, on the command line and in the window's
worker alike; a job no plan can fit is refused there with the plan's own sentence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.core.errors import InputError
from backend.core.limits import check_memory
from backend.core.request import GenerationRequest
from backend.core.sources import source_kind, split_hub_file

if TYPE_CHECKING:
    from backend.models.memory_plan import MemoryPlan

# The pipeline decodes to float32 RGB (12 bytes a pixel) before our uint8 copy (3 more).
DECODED_BYTES_PER_PIXEL = 15
# The command each mode is, named in the sentence so the window says what the command line says.
COMMAND_OF_MODE = {"text2video": "generate", "video2video": "video2video"}


def check_job_fits(request: GenerationRequest) -> None:
    """Raise InputError when `request`'s frames cannot fit in the memory that is free now."""
    what = COMMAND_OF_MODE.get(request.mode, request.mode)
    check_memory(request.frames, request.width, request.height, what,
                 bytes_per_pixel=DECODED_BYTES_PER_PIXEL)


def check_plan_fits(request: GenerationRequest, plan: MemoryPlan) -> None:
    """Raise InputError when even the plan with every saver does not fit the free memory. A plan
    the user turned off (--memory off) or forced savers are the user's choice: not refused."""
    if plan.mode == "auto" and plan.fits is False:
        what = COMMAND_OF_MODE.get(request.mode, request.mode)
        raise InputError(f"{what}: {plan.describe()}")


def check_model_names(request: GenerationRequest) -> None:
    """Raise InputError at once for a model that names no file, folder or Hub id (a mistyped
    local path), before any estimate or loading; the loader would say the same seconds later.
    Not for remote jobs: a path missing here may exist on the worker."""
    spec = request.model
    for role, text in (("base model", spec.base_model), ("motion adapter", spec.motion_adapter)):
        text = (text or "").strip()
        if text and source_kind(text) is None and split_hub_file(text) is None:
            raise InputError(f"{role} {text!r}: no such file or folder, and not a Hugging Face Hub id")
