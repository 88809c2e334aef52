#!/usr/bin/env bash
# Runs the whole test suite: backend tests in their own session with Qt blocked (proving
# backend/ never needs it), then the GUI tests offscreen, then the launcher's, then ruff and
# the import layers (pyproject.toml [tool.importlinter]).
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
python -m pytest tests/backend -p no:pytest-qt "$@"
python -m pytest tests/gui "$@"
# The launcher: built once, one real CPU install shared by the tests (slow: several minutes).
python -m pytest tests/installer "$@"
python -m ruff check .
lint-imports
