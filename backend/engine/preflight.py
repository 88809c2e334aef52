"""The checks made before a job starts, the same for the window and the command line: a job
that cannot fit is refused with one sentence and never started. The long-clips memory plan will
sit behind `check_job_fits` too, so both callers keep giving the same answer."""

from __future__ import annotations

from backend.core.limits import check_memory
from backend.core.request import GenerationRequest

# The pipeline decodes to float32 RGB (12 bytes a pixel) before our uint8 copy (3 more).
DECODED_BYTES_PER_PIXEL = 15
# The command each mode is, named in the sentence so the window says what the command line says.
COMMAND_OF_MODE = {"text2video": "generate", "video2video": "video2video"}


def check_job_fits(request: GenerationRequest) -> None:
    """Raise InputError when `request`'s frames cannot fit in the memory that is free now."""
    what = COMMAND_OF_MODE.get(request.mode, request.mode)
    check_memory(request.frames, request.width, request.height, what,
                 bytes_per_pixel=DECODED_BYTES_PER_PIXEL)
