"""The command line: argument parsing and the subcommands. The top of backend/."""

# The subcommands' names, here so that `python main.py` can tell a command from the window's
# arguments without importing the commands (which import numpy, torch and the engine).
COMMANDS = (
    "generate", "video2video", "convert", "export", "demo-model", "models", "worker", "batch",
    "preprocess",
)
