"""Pub/sub between hub processes, behind one small interface (like encode/broadcaster).

    backend = RedisBackend(settings.redis_url, idle_channel=...)  # the app: Redis pub/sub
    backend = MemoryBackend()                                      # the hub's unit tests

The app always uses Redis pub/sub on its own Redis: room events are published there from
a Lua script (realtime/scripts/publish.lua), so another backend would hear none of them.
`MemoryBackend` lets a unit test drive one hub by publishing to it directly.

The hub sets `on_message(channel, payload)` and holds one subscription per room
(and per logged-in user) it serves. `subscribe()` returns only once the
subscription is live, so a snapshot read after it can miss no event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]
ReconnectHandler = Callable[[], None]


def _ignore_message(channel: str, payload: bytes) -> None:
    return None


def _ignore_reconnect() -> None:
    return None


class NotConnected(RuntimeError):
    """The backend was used before `connect()` (or after `disconnect()`)."""


class Backend(Protocol):
    on_message: MessageHandler
    # Called after the connection came back: messages may have been lost meanwhile.
    on_reconnect: ReconnectHandler

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(self, channel: str, payload: bytes) -> None: ...


class MemoryBackend:
    """All subscribers in this process; what unit tests of the hub use."""

    def __init__(self) -> None:
        self.on_message: MessageHandler = _ignore_message
        self.on_reconnect: ReconnectHandler = _ignore_reconnect
        self.channels: set[str] = set()

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        self.channels.clear()

    async def subscribe(self, channel: str) -> None:
        self.channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)

    async def publish(self, channel: str, payload: bytes) -> None:
        if channel in self.channels:
            self.on_message(channel, payload)


class RedisBackend:
    """Redis pub/sub on one dedicated connection, read by one listener task."""

    # Redis does not allow a pub/sub connection without a subscription to wait on,
    # so the listener always holds this one (named per process, never published to).
    def __init__(self, url: str, *, idle_channel: str) -> None:
        self.url = url
        self.idle_channel = idle_channel
        # Named, so an operator (or a test) can find this process's pub/sub connection.
        self.client_name = f"livesell-hub-{idle_channel.rsplit(':', 1)[-1]}"
        self.on_message: MessageHandler = _ignore_message
        self.on_reconnect: ReconnectHandler = _ignore_reconnect
        self._client: aioredis.Redis | None = None
        self._pubsub: aioredis.client.PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._confirmations: dict[str, list[asyncio.Future[None]]] = {}

    async def connect(self) -> None:
        self._client = aioredis.Redis.from_url(self.url, decode_responses=False,
                                               client_name=self.client_name)
        self._pubsub = self._client.pubsub()
        await self._pubsub.subscribe(self.idle_channel)
        self._listener = asyncio.create_task(self._listen(self._pubsub),
                                             name="realtime-redis-listener")
        await self._expect(self.idle_channel)

    async def disconnect(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()
        self._listener = self._pubsub = self._client = None

    async def subscribe(self, channel: str) -> None:
        if self._pubsub is None:
            raise NotConnected(f"subscribing to {channel} before connect()")
        waiter = self._expect(channel)
        await self._pubsub.subscribe(channel)
        await waiter

    async def unsubscribe(self, channel: str) -> None:
        if self._pubsub is not None:
            await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, payload: bytes) -> None:
        if self._client is None:
            raise NotConnected(f"publishing to {channel} before connect()")
        await self._client.publish(channel, payload)

    def _expect(self, channel: str) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirmations.setdefault(channel, []).append(waiter)
        return waiter

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        lost = False
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # redis-py reconnects and resubscribes on the next read; what was
                # published meanwhile is gone, so the hub is told to fill the gap.
                log.warning("realtime: Redis pub/sub connection lost (%s); retrying", exc)
                lost = True
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            if lost:
                lost = False
                self.on_reconnect()
            kind = message["type"]
            channel = message["channel"]
            name = channel.decode() if isinstance(channel, bytes) else str(channel)
            if kind == b"message" or kind == "message":
                try:
                    self.on_message(name, message["data"])
                except Exception:
                    log.exception("realtime: handling a message on %s failed", name)
            elif kind in (b"subscribe", "subscribe"):
                for waiter in self._confirmations.pop(name, []):
                    if not waiter.done():
                        waiter.set_result(None)

