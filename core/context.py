"""The services one process holds: database, Redis, key naming, settings.

Domain actions take a `Services` so that the web app, the Celery worker, the
CLI and the tests all call the same code with their own connections.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from core.db import Database
from core.redis import Keys, make_redis
from core.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    keys: Keys

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
