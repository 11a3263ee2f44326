"""The services one process holds: database, Redis, key naming, settings.

Domain actions take a `Services` so that the web app, the Celery worker, the
CLI and the tests all call the same code with their own connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis

from core.db import Database
from core.events import EventBus
from core.redis import Keys, make_redis
from core.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    keys: Keys
    # Handlers of domain events, registered by the process's composition root at start-up.
    events: EventBus = field(default_factory=EventBus)

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int = 10) -> Services:
        return cls(
            settings=settings,
            db=Database(settings.database_url, pool_size=pool_size),
            redis=make_redis(settings.redis_url),
            keys=Keys(settings.redis_prefix),
        )

    async def close(self) -> None:
        await self.db.dispose()
        await self.redis.aclose()
