"""HTML pages (placeholder until the pages land)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
