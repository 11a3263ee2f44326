"""The Redis client (redis-py's asyncio API) and key naming.

All keys and channels go through `Keys`, which prefixes them, so several
deployments or test runs can share a server. Keys of one flash sale share a
Redis Cluster hash tag (`{sale:42}`) so that one Lua script may touch them all.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from core.metrics import REDIS_POOL_WAIT


class MeteredBlockingPool(aioredis.BlockingConnectionPool):
    """redis-py's blocking pool, timing each checkout (`livesell_pool_wait_seconds`): past
    `max_connections` commands in flight a caller waits here."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().get_connection(*args, **kwargs)
        finally:
            REDIS_POOL_WAIT.observe(time.perf_counter() - started)


def make_redis(url: str, *, max_connections: int = 200, timeout_seconds: float = 5.0) -> aioredis.Redis:
    # A blocking pool: past `max_connections` commands in flight, a caller waits up to
    # `timeout_seconds` for a connection instead of failing at once (a flash-sale burst).
    # 200 connections: each pub/sub listener holds one, and the buy path runs scripts
    # concurrently from many requests.
    pool = MeteredBlockingPool.from_url(url, max_connections=max_connections,
                                        timeout=timeout_seconds)
    # from_pool: the client owns the pool and closes it with itself.
    return aioredis.Redis.from_pool(pool)


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    def room(self, room_id: int, *parts: object) -> str:
        # One hash tag per room: a room's keys live on one cluster slot.
        return self.prefix + "room:{" + str(room_id) + "}" + "".join(":" + str(p) for p in parts)

    def sale(self, sale_id: int, *parts: object) -> str:
        return self.prefix + "sale:{" + str(sale_id) + "}" + "".join(":" + str(p) for p in parts)

    def user(self, user_id: int, *parts: object) -> str:
        return self.prefix + "user:{" + str(user_id) + "}" + "".join(":" + str(p) for p in parts)


class LuaScript:
    """A Lua script loaded from a file next to the Python that uses it, run by EVALSHA."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = path.read_text()
        self._scripts: dict[int, object] = {}

    def bind(self, client: aioredis.Redis):  # type: ignore[no-untyped-def]
        key = id(client)
        script = self._scripts.get(key)
        if script is None:
            script = client.register_script(self.source)
            self._scripts[key] = script
        return script
