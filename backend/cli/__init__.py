"""The command line: argument parsing and the subcommands. The top of backend/."""
