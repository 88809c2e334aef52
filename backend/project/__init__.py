"""What is kept on disk for the user: project files, the instance lock, app settings. Imports
core."""
