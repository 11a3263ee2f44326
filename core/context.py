"""The services one process holds: database, Redis, key naming, settings.

Domain actions take a `Services` so that the web app, the Celery worker, the
CLI and the tests all call the same code with their own connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core.db import Database
from core.events import EventBus
from core.redis import Keys, make_redis
from core.settings import Settings

SERVICES_INFO = "services"


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    keys: Keys
    # Handlers of domain events, registered by the process's composition root at start-up.
    events: EventBus = field(default_factory=EventBus)

    def __post_init__(self) -> None:
        # Every session of these services knows them (`services_of`): an in-transaction
        # handler that must also move Redis counters (orders taking a sale's units from a
        # variant, for live's `take_stock_for_sale`, which is given only the session) finds
        # the process's Redis and bus there. Services that share a database (tests do) share
        # its engine and pool, each with sessions of its own.
        self.db = self.db.with_session_info(**{SERVICES_INFO: self})

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int | None = None) -> Services:
        return cls(
            settings=settings,
            db=Database(settings.database_url,
                        pool_size=pool_size or settings.database_pool_size,
                        max_overflow=settings.database_max_overflow),
            redis=make_redis(settings.redis_url),
            keys=Keys(settings.redis_prefix),
        )

    async def close(self) -> None:
        await self.db.dispose()
        await self.redis.aclose()


def services_of(session: AsyncSession | Session) -> Services:
    """The services whose database opened this session."""
    svc = session.info.get(SERVICES_INFO)
    if not isinstance(svc, Services):
        raise LookupError("this session was not opened by a Services' database")
    return svc
