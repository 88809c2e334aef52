"""Frames in and out: ffmpeg, the video reader and writers, metadata, previews. Imports core."""
