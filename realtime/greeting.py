"""A connection's first frames: `resume` (the events it missed) or `hello` (a snapshot).

Resume = snapshot + events since an offset: a client that comes back with an offset the
room's history still covers gets the events after it; any other gets a fresh snapshot of
the room's state. Until either is queued, the connection holds the events fan-out hands it
(`Connection.pending`), so none is lost or doubled around the snapshot.

Snapshot and resume reads go through one gate per process (`Greeter.gate`): a reconnect
storm queues there instead of taking every connection of the Redis pool the buy path needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from core.redis import Keys
from realtime import history, protocol
from realtime.protocol import ServerEvent

if TYPE_CHECKING:
    from realtime.connection import Connection
    from realtime.room import RoomChannel

# Rebuild a room's Redis state from the source of truth; False: no such room.
RoomLoader = Callable[[int], Awaitable[bool]]


class NoSuchRoom(Exception):
    pass


class Greeter:
    def __init__(self, redis: aioredis.Redis, keys: Keys, loader: RoomLoader, *,
                 max_concurrent: int) -> None:
        self.redis = redis
        self.keys = keys
        self.loader = loader
        self.gate = asyncio.Semaphore(max_concurrent)

    async def greet(self, room: RoomChannel, conn: Connection, resume_from: int | None) -> None:
        """Queue the connection's resume or hello. Raises NoSuchRoom before queueing anything."""
        if resume_from is not None and resume_from > 0:
            async with self.gate:
                missed = await history.read_since(self.redis, self.keys, room.id, resume_from)
            if missed is not None:
                conn.queue.append(protocol.encode(ServerEvent.RESUME, {
                    "from_offset": resume_from, "to_offset": missed.to_offset,
                    "viewers": room.viewers_now(), "likes": room.likes_total or 0}))
                conn.queue.extend(frame.decode() for frame in missed.frames)
                conn.go_ready(missed.to_offset)
                return
        await self.hello(room, conn)

    async def greet_user(self, conn: Connection, user_id: int, after: int | None) -> None:
        """After the room's greeting: a `user_resume` with the user's events since `after`
        (the last `user_offset` the client saw; None for a client without one), then the user
        events that arrived meanwhile, each sent once (docs/realtime.md, "User events")."""
        async with self.gate:
            missed = await history.read_user_since(self.redis, self.keys, user_id, after)
        conn.offer(protocol.encode(ServerEvent.USER_RESUME, {
            "from_offset": after, "to_offset": missed.to_offset, "complete": missed.complete}))
        for frame in missed.frames:
            conn.offer_user(protocol.user_frame_offset(frame), frame.decode())
        if conn.user_offset < missed.to_offset:
            conn.user_offset = missed.to_offset
        held, conn.user_pending = conn.user_pending, []
        conn.user_ready = True
        for offset, text in held:
            conn.offer_user(offset, text)

    async def hello(self, room: RoomChannel, conn: Connection) -> None:
        """Queue a hello with a snapshot of the room's state, rebuilding the state if Redis
        has none."""
        user = conn.user
        user_id = int(user["id"]) if user else None
        async with self.gate:
            snapshot = await history.read_snapshot(self.redis, self.keys, room.id, user_id)
        if not snapshot.exists:
            if not await self.ensure_state(room):
                raise NoSuchRoom(room.id)
            async with self.gate:
                snapshot = await history.read_snapshot(self.redis, self.keys, room.id, user_id)
            if not snapshot.exists:
                raise NoSuchRoom(room.id)
        state = snapshot.state
        room_data = state.get("room") or {}
        if snapshot.offset < room.last_offset:
            # The offsets went back: Redis lost the room's keys and they were rebuilt.
            # Whatever this process delivered before is from another life of the room.
            room.last_offset = snapshot.offset
            room.epoch += 1
            room.schedule_rehello()
        if snapshot.offset >= room.last_offset or not room.room:
            room.room = room_data
        room.mark_staff(conn)  # before the count below, which leaves the staff out
        data: dict[str, Any] = {"sale": None}
        data.update({k: v for k, v in state.items() if k not in ("room", "lineup", "pin")})
        data.update({
            "room": room_data,
            "lineup": state.get("lineup") or [],
            "pin": state.get("pin"),
            "viewers": room.viewers_now(),
            "likes": room.likes_total or 0,
            "chat": snapshot.chat,
            "offset": snapshot.offset,
            "you": ({"id": user["id"], "display_name": user["display_name"], "role": user["role"]}
                    if user else None),
            "muted": snapshot.muted,
            "slow_mode_seconds": int(room_data.get("slow_mode_seconds") or 0),
            "resumed": False,
        })
        conn.queue.append(protocol.encode(ServerEvent.HELLO, data))
        conn.go_ready(snapshot.offset)

    async def ensure_state(self, room: RoomChannel) -> bool:
        """Have the room's state rebuilt once per process, however many viewers wait for it."""
        if room.loading is None or room.loading.done():
            room.loading = asyncio.ensure_future(self.loader(room.id))
        return await asyncio.shield(room.loading)
