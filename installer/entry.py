"""The launcher executable's entry point (PyInstaller builds from this file)."""

import sys
from pathlib import Path

if not getattr(sys, "frozen", False):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from installer.launcher import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
