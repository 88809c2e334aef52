"""AnimateDiff Studio: `python main.py` opens the app; subcommands run headless."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from backend.cli import COMMANDS

    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help")):
        from backend.cli.commands import main as cli_main

        return cli_main(argv)
    if argv and argv[0] == "gui":
        argv = argv[1:]
    elif argv and (suggestion := mistyped_command(argv[0], COMMANDS)):
        print(f"animatediff-studio: unknown command {argv[0]!r}: did you mean {suggestion}? "
              "(see --help)", file=sys.stderr)
        return 2
    from gui.app import main as gui_main

    return gui_main(argv)


def mistyped_command(word: str, commands) -> str | None:
    """The command `word` was probably meant to be (`genrate` -> generate), or None when it may
    be a project to open: an existing path, a .adsproj name, or like no command."""
    import difflib

    if word.startswith("-") or word.endswith(".adsproj") or os.path.exists(word):
        return None
    close = difflib.get_close_matches(word, [*commands, "gui"], n=1, cutoff=0.75)
    return close[0] if close else None


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
