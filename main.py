"""AnimateDiff Studio: `python main.py` opens the app; subcommands run headless."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from backend.cli.commands import COMMANDS

    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help")):
        from backend.cli.commands import main as cli_main

        return cli_main(argv)
    if argv and argv[0] == "gui":
        argv = argv[1:]
    from gui.app import main as gui_main

    return gui_main(argv)


def run() -> None:
    """The program's entry point (`python main.py`, `animatediff-studio`). Once the window has
    closed, everything is saved and the worker has stopped, so the process ends at once rather
    than spend seconds tearing down torch's and diffusers' modules."""
    code = main()
    window = sys.modules.get("gui.app")
    if window is not None and getattr(window, "window_closed", False):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
