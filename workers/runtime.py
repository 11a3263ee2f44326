"""One event loop and one set of services per worker process, made on first use (after the
pool forked), so tasks can call the async domain functions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from core.context import Services
from core.models import import_all_models
from core.settings import get_settings
from orders.runtime import runtime as orders_runtime
from workers.handlers import wire

# Every table must be known before the first query: the orders tables refer to users, rooms
# and products by foreign key.
import_all_models()

T = TypeVar("T")

_runner: asyncio.Runner | None = None
_services: Services | None = None


def run(work: Callable[[Services], Awaitable[T]]) -> T:
    global _runner, _services
    if _runner is None:
        _runner = asyncio.Runner()
    if _services is None:
        # A small pool: one worker process runs one task at a time.
        _services = wire(Services.from_settings(get_settings(), pool_size=2))
    services = _services
    return _runner.run(_call(work, services))


async def _call(work: Callable[[Services], Awaitable[T]], services: Services) -> T:
    try:
        return await work(services)
    finally:
        # The room news a task's moves queued (coalesced) goes out before the task returns:
        # the loop does not run between tasks.
        await orders_runtime(services).units.flush()
