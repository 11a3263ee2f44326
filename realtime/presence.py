"""Viewer counts across processes, and the room's likes total.

Each web process reports, per room it serves, its own connection count (and
the likes its viewers sent since the last report) a few times a second; Redis
sums the processes that reported recently. A process that crashes stops
reporting and drops out of the sum after `ttl_ms`: no ghost viewers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from core.redis import Keys, LuaScript

PRESENCE_SCRIPT = LuaScript(Path(__file__).parent / "scripts" / "presence.lua")


def counts_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "viewers")


def seen_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "viewers_seen")


def likes_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "likes")


def peak_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "viewers_peak")


@dataclass(frozen=True)
class RoomReport:
    room_id: int
    local_viewers: int
    likes_delta: int


@dataclass(frozen=True)
class RoomTotals:
    viewers: int
    likes: int


async def report(redis: aioredis.Redis, keys: Keys, process_id: str, reports: list[RoomReport],
                 *, ttl_ms: int) -> list[RoomTotals]:
    """Report this process's counts for every room it serves, in one round trip."""
    if not reports:
        return []
    script = PRESENCE_SCRIPT.bind(redis)
    pipe = redis.pipeline(transaction=False)
    for item in reports:
        await script(keys=[counts_key(keys, item.room_id), seen_key(keys, item.room_id),
                           likes_key(keys, item.room_id), peak_key(keys, item.room_id)],
                     args=[process_id, item.local_viewers, ttl_ms, item.likes_delta], client=pipe)
    results = await pipe.execute()
    return [RoomTotals(int(viewers), int(likes)) for viewers, likes in results]


async def leave(redis: aioredis.Redis, keys: Keys, process_id: str, room_ids: list[int]) -> None:
    """This process serves these rooms no more (a clean shutdown)."""
    if not room_ids:
        return
    pipe = redis.pipeline(transaction=False)
    for room_id in room_ids:
        pipe.hdel(counts_key(keys, room_id), process_id)
        pipe.zrem(seen_key(keys, room_id), process_id)
    await pipe.execute()
