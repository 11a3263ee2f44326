"""The fast layer: pure functions and in-memory objects, no PostgreSQL, Redis or server.

These tests override the suite's autouse `clean_state` fixture, so they start no database
and run in milliseconds."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def clean_state() -> None:
    """Nothing to clean: this layer touches no shared state."""
