"""Who is in a room: the signed-in viewers with a websocket of the room open, for the draws
whose rule is "in the room when it closes" and for the red envelope grab's room check.

The hub tells its observer of every join and leave (`realtime.hub.RoomObserver`); this keeps,
per process, how many connections each signed-in viewer has open in each room (a dict update,
no I/O: the hub's calls must return at once). A loop of its own (`keep_marking`, started with
the engagement tick but never waiting on it) marks every such viewer present in a Redis sorted
set per room shared by every process (member: user id, score: until when, by Redis TIME), each
`interval` (1 s), and a viewer who just joined within `JOIN_MARK_SECONDS`: a draw's close
reads who is marked present, and the grab script refuses a viewer who is not. A viewer who
left is not renewed and drops out within PRESENT_TTL_MS; a process that dies stops renewing,
so there are no ghosts. The loop is apart from the tick, so a slow tick (a big draw being
announced) never lets the marks lapse.

Not merged with `realtime/presence.py` or the hub's user map: those count connections per
process (anonymous viewers included, for "watching now") and list a user's connections across
rooms; neither knows which signed-in users are in which room, which is what this keeps, fed by
the observer the hub already calls (reading the hub's rooms instead would make engagement
import the hub, and walk every connection each second).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable

import redis.asyncio as aioredis

from core.redis import Keys

log = logging.getLogger(__name__)

# A mark lasts three refreshes of one second: a loop late by one does not lose its viewers,
# and a viewer who left counts for at most this long after.
PRESENT_TTL_MS = 3_000
# Joins are marked together, this soon after the first of them: a burst of a thousand joins is
# a few pipelines, and a viewer who just came in can grab a rain at once.
JOIN_MARK_SECONDS = 0.05


def present_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "present")


class MemberTracker:
    """This process's signed-in viewers per room (a RoomObserver's joins and leaves)."""

    def __init__(self) -> None:
        self.members: dict[int, dict[int, int]] = defaultdict(dict)
        # Joined since the last mark, to be marked without waiting for the next refresh.
        self.joined: dict[int, set[int]] = {}
        self.wake = asyncio.Event()

    def viewer_joined(self, room_id: int, viewer_key: str, user_id: int | None = None) -> None:
        if user_id is not None:
            room = self.members[room_id]
            room[user_id] = room.get(user_id, 0) + 1
            self.joined.setdefault(room_id, set()).add(user_id)
            self.wake.set()

    def viewer_left(self, room_id: int, viewer_key: str, user_id: int | None = None) -> None:
        if user_id is None:
            return
        room = self.members.get(room_id)
        if room is None or user_id not in room:
            return
        if room[user_id] <= 1:
            del room[user_id]
            if not room:
                del self.members[room_id]
        else:
            room[user_id] -= 1

    def chat(self, room_id: int, user_id: int | None) -> None:
        pass

    def likes(self, room_id: int, count: int) -> None:
        pass

    async def mark_all(self, redis: aioredis.Redis, keys: Keys) -> None:
        """Mark every viewer of this process present for PRESENT_TTL_MS more."""
        self.joined.clear()
        await mark_present(redis, keys, {room_id: list(users) for room_id, users
                                  in list(self.members.items())})

    async def mark_joined(self, redis: aioredis.Redis, keys: Keys) -> None:
        """Mark the viewers who joined since the last mark (and are still here)."""
        joined, self.joined = self.joined, {}
        await mark_present(redis, keys, {
            room_id: [user for user in users if user in self.members.get(room_id, {})]
            for room_id, users in joined.items()})


async def mark_present(redis: aioredis.Redis, keys: Keys, rooms: dict[int, Iterable[int]], *,
                       ttl_ms: int = PRESENT_TTL_MS) -> None:
    """Mark these users present in these rooms for `ttl_ms` (by Redis TIME), in one round
    trip. The trackers' loops call it; the grab benchmark and the tests call it for viewers
    that hold no websocket (with a longer `ttl_ms`), as a websocket's process would."""
    members = {room_id: [str(user) for user in users] for room_id, users in rooms.items()}
    members = {room_id: users for room_id, users in members.items() if users}
    if not members:
        return
    seconds, micros = await redis.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    until = now_ms + ttl_ms
    pipe = redis.pipeline(transaction=False)
    for room_id, users in members.items():
        key = present_key(keys, room_id)
        pipe.zadd(key, dict.fromkeys(users, until), gt=True)
        pipe.zremrangebyscore(key, "-inf", now_ms - PRESENT_TTL_MS)
        pipe.pexpire(key, max(10 * PRESENT_TTL_MS, 2 * ttl_ms))
    await pipe.execute()


async def keep_marking(tracker: MemberTracker, redis: aioredis.Redis, keys: Keys,
                       interval_seconds: float) -> None:
    """Mark the tracker's viewers present every `interval_seconds`, and new joiners within
    JOIN_MARK_SECONDS, until cancelled."""
    next_refresh = 0.0
    while True:
        tracker.wake.clear()
        try:
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + interval_seconds
                await tracker.mark_all(redis, keys)
            elif tracker.joined:
                await tracker.mark_joined(redis, keys)
        except Exception:  # Redis away: the next round marks again, before the marks lapse
            log.warning("marking viewers present failed", exc_info=True)
        try:
            await asyncio.wait_for(tracker.wake.wait(),
                                   timeout=max(0.0, next_refresh - time.monotonic()))
            await asyncio.sleep(JOIN_MARK_SECONDS)
        except TimeoutError:
            pass


async def present_users(redis: aioredis.Redis, keys: Keys, room_id: int) -> set[int]:
    """The signed-in viewers some process marked present and whose mark has not run out."""
    seconds, micros = await redis.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    members = await redis.zrangebyscore(present_key(keys, room_id), now_ms, "+inf")
    return {int(str(m.decode() if isinstance(m, bytes) else m)) for m in members}


_trackers: dict[int, MemberTracker] = {}


def tracker_of(services_id: int) -> MemberTracker:
    """The process's tracker for one `Services` (keyed by its id, like the runtimes)."""
    tracker = _trackers.get(services_id)
    if tracker is None:
        tracker = _trackers[services_id] = MemberTracker()
    return tracker
