"""Finishing a clip after generation: RIFE frame interpolation and model upscaling."""
