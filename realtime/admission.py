"""Who may open a room websocket, decided before the hub spends anything on it.

A connection to a room costs a pub/sub subscription, presence keys and a snapshot
read; a room that does not exist used to cost a database transaction on top and
leave its keys behind. Two cheap checks come first:

- `ConnectGate`: connection attempts per client address in a fixed window (one
  Lua call: INCR, and a TTL on the first), so a script cannot open thousands.
- `KnownRooms`: does the room exist? Answered from a process-local cache (a room
  that exists keeps existing: rooms end, they are never deleted), else the room's
  Redis state, else PostgreSQL; a "no" is remembered briefly, so probing one
  unknown id costs one lookup per process per `negative_ttl_s`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as aioredis

from core.redis import Keys, LuaScript
from realtime.publish import state_key

CONNECT_GATE_SCRIPT = LuaScript(Path(__file__).parent / "scripts" / "connect_gate.lua")

# Room ids are PostgreSQL bigints: anything larger is no room, and must not reach a query.
MAX_ROOM_ID = (1 << 63) - 1


def valid_room_id(room_id: int) -> bool:
    return 1 <= room_id <= MAX_ROOM_ID


class ConnectGate:
    """At most `limit` connection attempts per client address per `window_ms`."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, *, limit: int, window_ms: int) -> None:
        self.redis = redis
        self.keys = keys
        self.limit = limit
        self.window_ms = window_ms

    async def admit(self, address: str) -> int:
        """0 when the attempt may go on, else the ms until the address may try again."""
        script = CONNECT_GATE_SCRIPT.bind(self.redis)
        # The address goes in the key as is: IPv6 colons are fine in a Redis key.
        attempts, left_ms = await script(keys=[self.keys("ws", "connects", address[:64])],
                                         args=[self.window_ms])
        return 0 if int(attempts) <= self.limit else max(1, int(left_ms))


class KnownRooms:
    """Whether a room exists, cached in the process (see the module's docstring)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys,
                 in_database: Callable[[int], Awaitable[bool]], *,
                 max_known: int = 100_000, negative_ttl_s: float = 2.0) -> None:
        self.redis = redis
        self.keys = keys
        self.in_database = in_database
        # ~100 bytes an entry: 10 MB at most for the rooms one process has seen.
        self.max_known = max_known
        # Short: a room created a moment after a miss must be reachable at once, nearly.
        self.negative_ttl_s = negative_ttl_s
        self.known: OrderedDict[int, None] = OrderedDict()
        self.unknown: dict[int, float] = {}

    async def exists(self, room_id: int) -> bool:
        if not valid_room_id(room_id):
            return False
        if room_id in self.known:
            self.known.move_to_end(room_id)
            return True
        now = time.monotonic()
        missed_at = self.unknown.get(room_id)
        if missed_at is not None and now - missed_at < self.negative_ttl_s:
            return False
        # A room whose state Redis holds exists (state is only ever written for a real
        # room); one it doesn't hold may still be in PostgreSQL (never published yet).
        found = bool(await self.redis.hexists(state_key(self.keys, room_id), "room")) \
            or await self.in_database(room_id)
        if found:
            self.unknown.pop(room_id, None)
            self.known[room_id] = None
            if len(self.known) > self.max_known:
                self.known.popitem(last=False)
        else:
            if len(self.unknown) >= self.max_known:
                self._forget_old_misses(now)
            self.unknown[room_id] = now
        return found

    def _forget_old_misses(self, now: float) -> None:
        expired = [room_id for room_id, at in self.unknown.items() if now - at >= self.negative_ttl_s]
        for room_id in expired:
            del self.unknown[room_id]
        if len(self.unknown) >= self.max_known:
            self.unknown.clear()
