"""AnimateDiff Studio's window: PySide6 widgets and the Qt glue around backend/."""
