"""Errors the program reports to a person, split by who must act.

`InputError` is bad input (a path, a value, a file): the user fixes it; the command line exits 2.
`GenerationError` is a failure while running (out of memory, a library error); exit 1.
`Cancelled` is a user's cancel; it is not a failure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class StudioError(Exception):
    """Base of the errors whose message is meant for the user, one line, no traceback."""


class InputError(StudioError, ValueError):
    pass


class GenerationError(StudioError, RuntimeError):
    pass


class OutOfMemoryError(GenerationError):
    pass


class Cancelled(StudioError):
    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


# What a long job accepts as "stop": nothing, an Event, or a function that says so.
CancelCheck = Callable[[], bool] | threading.Event | None


def cancel_check(cancel: CancelCheck) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


def exception_chain(exc: BaseException | None):
    """`exc`, then what caused it, and so on: libraries wrap the error that says what happened."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def sentence(text: str) -> str:
    """`text` ending with a full stop, so messages joined together still read as sentences."""
    text = text.strip()
    return text if not text or text[-1] in ".!?…" else text + "."


def failure_kind(exc: BaseException) -> tuple[str, str]:
    """(kind, message) of a job's failure as the window shows it: cancelled, memory, input
    (the user fixes it) or error."""
    if isinstance(exc, Cancelled):
        return "cancelled", "cancelled"
    if isinstance(exc, OutOfMemoryError):
        return "memory", str(exc)
    if isinstance(exc, InputError):
        return "input", str(exc)
    if isinstance(exc, StudioError):
        return "error", str(exc)
    return "error", f"{type(exc).__name__}: {exc}"
