"""Errors the program reports to a person, split by who must act.

`InputError` is bad input (a path, a value, a file): the user fixes it; the command line exits 2.
`GenerationError` is a failure while running (out of memory, a library error); exit 1.
`Cancelled` is a user's cancel; it is not a failure.
"""

from __future__ import annotations


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
