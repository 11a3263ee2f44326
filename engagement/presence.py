"""Who is in a room, for the draws whose rule is "in the room when it closes".

The hub tells its observer of every join and leave (`realtime.hub.RoomObserver`); this keeps,
per process, how many connections each signed-in viewer has open in each room (a dict update,
no I/O: the hub's calls must return at once). Each tick, for the rooms with an open in-room
draw only, the process marks its viewers present in a Redis sorted set shared by every
process (member: user id, score: until when, by Redis TIME), and the draw counts who is
marked present when it closes. A viewer who left is not renewed and drops out within
PRESENT_TTL_MS; a process that dies stops renewing, so there are no ghosts.
"""

from __future__ import annotations

from collections import defaultdict

import redis.asyncio as aioredis

from core.redis import Keys

# A mark lasts three ticks of one second: a process late by a tick does not lose its viewers,
# and a viewer who left counts for at most this long after.
PRESENT_TTL_MS = 3_000


def present_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "present")


class MemberTracker:
    """This process's signed-in viewers per room (a RoomObserver's joins and leaves)."""

    def __init__(self) -> None:
        self.members: dict[int, dict[int, int]] = defaultdict(dict)

    def viewer_joined(self, room_id: int, viewer_key: str, user_id: int | None = None) -> None:
        if user_id is not None:
            room = self.members[room_id]
            room[user_id] = room.get(user_id, 0) + 1

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

    async def mark(self, redis: aioredis.Redis, keys: Keys, room_ids: set[int]) -> None:
        """Mark this process's viewers of these rooms present for PRESENT_TTL_MS more."""
        rooms = [r for r in room_ids if self.members.get(r)]
        if not rooms:
            return
        seconds, micros = await redis.time()
        until = int(seconds) * 1000 + int(micros) // 1000 + PRESENT_TTL_MS
        pipe = redis.pipeline(transaction=False)
        for room_id in rooms:
            key = present_key(keys, room_id)
            pipe.zadd(key, {str(user): until for user in list(self.members[room_id])})
            pipe.zremrangebyscore(key, "-inf", until - 2 * PRESENT_TTL_MS)
            pipe.pexpire(key, 10 * PRESENT_TTL_MS)
        await pipe.execute()


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
