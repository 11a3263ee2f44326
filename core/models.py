"""Import every package's tables so that `Base.metadata` is complete (for Alembic and tests)."""

from __future__ import annotations

import importlib

MODEL_MODULES = ("core.accounts", "live.models", "orders.models", "workers.models", "analytics.models")


def import_all_models() -> None:
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # A package without tables yet; any other missing module is a real error.
            if exc.name != name:
                raise
