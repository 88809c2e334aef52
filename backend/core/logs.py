"""Library logging set for our users: the command line, the window and the workers share it."""

from __future__ import annotations

import os


def quiet_libraries() -> None:
    """Library chatter (download bars, deprecation notes) is not for our users' terminals."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    # Libraries' warnings would add lines to a one-line error message; ours are errors in tests.
    import warnings

    for category in (DeprecationWarning, FutureWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(?!backend|gui)")
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
