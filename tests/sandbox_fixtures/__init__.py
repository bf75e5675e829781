"""Pytest fixtures that start the sandboxes (one module per system, wired in tests/conftest.py)."""
