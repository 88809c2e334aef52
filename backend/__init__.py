"""AnimateDiff Studio's engine: everything that is not the window.

Never imports Qt. Importing this package is cheap: torch and diffusers load only when a model is
loaded or a job runs, so a window can show before they are ready.
"""

__version__ = "0.1.0"

from backend.core.errors import Cancelled, GenerationError, InputError, StudioError
from backend.core.request import (
    DEFAULT_BASE_MODEL,
    DEFAULT_MOTION_ADAPTER,
    SCHEDULER_NAMES,
    GenerationRequest,
    ModelSpec,
    MotionLora,
)

__all__ = [
    "DEFAULT_BASE_MODEL",
    "DEFAULT_MOTION_ADAPTER",
    "SCHEDULER_NAMES",
    "Cancelled",
    "GenerationError",
    "GenerationRequest",
    "InputError",
    "ModelSpec",
    "MotionLora",
    "StudioError",
]
