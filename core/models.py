"""Import every package's tables so that `Base.metadata` is complete (for Alembic and tests)."""

from __future__ import annotations

import importlib

MODEL_MODULES = ("core.accounts", "live.models", "orders.models", "analytics.models",
                 "social.models", "engagement.models", "sharing.models")


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
