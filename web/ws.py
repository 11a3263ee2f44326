"""The websocket endpoint (placeholder until the hub lands)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

routes: list[BaseRoute] = []


async def start(app: Starlette) -> None:
    return None


async def stop(app: Starlette) -> None:
    return None
