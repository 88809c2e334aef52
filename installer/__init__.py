"""The AnimateDiff Studio launcher: a small program that builds the app's Python environment on
first run (uv, a lock file per platform and GPU backend) and then starts the app from it."""
