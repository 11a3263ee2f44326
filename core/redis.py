"""The Redis client (redis-py's asyncio API) and key naming.

All keys and channels go through `Keys`, which prefixes them, so several
deployments or test runs can share a server. Keys of one flash sale share a
Redis Cluster hash tag (`{sale:42}`) so that one Lua script may touch them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from pathlib import Path
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.metrics import REDIS_POOL_WAIT


class BoundedPool(ConnectionPool):
    """A connection pool that waits (up to `timeout` seconds) for a free connection once
    `max_connections` are in use, and costs little when one is free.

    redis-py's BlockingConnectionPool waits too, but pays a lock, a timeout context, an
    event dispatch and its own observability hooks on every command: measured here, about
    85 us of CPU per command against about 50 us for this pool (both with hiredis). The buy
    path makes two or three Redis calls per request, so this is a tenth of a buy's CPU.
    asyncio runs one callback at a time, so taking and returning a connection needs no lock:
    neither touches an await between reading and changing the lists. The semaphore counts
    free slots; only a caller that has to wait is timed (`livesell_pool_wait_seconds`).
    """

    def __init__(self, *args: Any, timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = asyncio.Semaphore(self.max_connections)
        self._wait_seconds = timeout

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._slots.locked():
            started = time.perf_counter()
            try:
                await asyncio.wait_for(self._slots.acquire(), self._wait_seconds)
            except TimeoutError:
                raise RedisConnectionError("no Redis connection free within "
                                           f"{self._wait_seconds} s") from None
            finally:
                REDIS_POOL_WAIT.observe(time.perf_counter() - started)
        else:
            await self._slots.acquire()  # a free slot: returns without suspending
        try:
            connection = self.get_available_connection()
        except BaseException:
            self._slots.release()
            raise
        try:
            # Connects a new connection; for a used one, checks that nothing is left unread.
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: Any) -> None:
        self._in_use_connections.remove(connection)
        if connection.should_reconnect():
            await connection.disconnect()
        self._available_connections.append(connection)
        self._slots.release()


def make_redis(url: str, *, max_connections: int = 200, timeout_seconds: float = 5.0) -> aioredis.Redis:
    # Past `max_connections` commands in flight, a caller waits up to `timeout_seconds` for a
    # connection instead of failing at once (a flash-sale burst). 200 connections: each
    # pub/sub listener holds one, and the buy path runs scripts concurrently from many
    # requests.
    pool = BoundedPool.from_url(url, max_connections=max_connections, timeout=timeout_seconds)
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
        # The name Redis gives the script (SHA-1 of its text), as redis-py computes it.
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        self._scripts: dict[int, object] = {}

    async def call(self, client: aioredis.Redis, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA, for a script on a hot path (the buy's reserve): packed in one C call and
        run on a connection of the client's pool, without redis-py's per-command wrappers
        (the retry closure, the packer's per-argument encoding, the observability hooks):
        about a tenth of a sold-out reply's CPU (docs/decisions/0014).

        Only a reply is taken this way; anything else ends as the client's own call would:
        a script not loaded yet (NOSCRIPT) is loaded and run the client's way; a connection
        error or timeout drops the connection and is raised as redis-py raises it
        (`ConnectionError`, `TimeoutError`), or, if the connection's retry policy allows
        retries (ours allows none), retried the client's way; an error the script raised is
        raised. The connection comes from the pool connected and checked
        (`ensure_connection`)."""
        pool = client.connection_pool
        if client.connection is not None or not isinstance(pool, BoundedPool):
            return await self.bind(client)(keys=keys, args=args)
        packed = hiredis.pack_command(("EVALSHA", self.sha, len(keys), *keys, *args))
        connection = await pool.get_connection()
        try:
            try:
                # As `send_packed_command` writes, less its `asyncio.wait_for`, which on
                # Python 3.11 makes a task of every write for the socket timeout:
                # `asyncio.timeout` is the same bound without one.
                async with asyncio.timeout(connection.socket_timeout):
                    await connection._send_packed_command([packed])
            except TimeoutError:
                raise RedisTimeoutError("Timeout writing to socket") from None
            except OSError as exc:
                raise RedisConnectionError(
                    f"Error while writing to socket. {exc.args}") from exc
            reply = await connection.read_response()
        except NoScriptError:
            await pool.release(connection)
        except (RedisConnectionError, RedisTimeoutError):
            with contextlib.suppress(Exception):
                await connection.disconnect()
            await pool.release(connection)
            if not connection.retry.get_retries():
                raise
        except ResponseError:
            await pool.release(connection)
            raise
        except BaseException:
            # Cancelled mid-command: a reply may still come, so the connection is not reused.
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)
            await pool.release(connection)
            raise
        else:
            await pool.release(connection)
            return reply
        return await self.bind(client)(keys=keys, args=args)

    def bind(self, client: aioredis.Redis):  # type: ignore[no-untyped-def]
        key = id(client)
        script = self._scripts.get(key)
        if script is None:
            script = client.register_script(self.source)
            self._scripts[key] = script
        return script
