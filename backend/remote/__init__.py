"""Render workers: the message transport, the client that submits jobs, the worker that runs
them. Imports engine and below."""
