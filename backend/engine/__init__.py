"""The engine: a request in, frames out (`generation.generate`). Imports models and below."""
