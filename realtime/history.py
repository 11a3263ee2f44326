"""Snapshots and missed events: what a (re)connecting client is sent first.

publish.lua keeps, per room, an offset counter, a state hash (room, lineup,
pin and whatever else the domain publishes as state), a history of the last
events by offset and the recent chat lines, all changed in one script. So a
snapshot read in one MULTI is consistent with the offset it reports, and
"resume" is: the events after the client's offset, if the history still holds
all of them (the zulip register/events flow).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis

from core.redis import Keys
from realtime.moderation import deleted_key, muted_key
from realtime.publish import (
    USER_EPOCH_UNIT,
    history_key,
    offset_key,
    recent_chat_key,
    state_key,
    user_history_key,
    user_offset_key,
)

# State hash fields that are bookkeeping, not room state.
INTERNAL_FIELDS = frozenset({"__offset"})


@dataclass
class Snapshot:
    offset: int
    exists: bool
    state: dict[str, Any] = field(default_factory=dict)
    chat: list[dict[str, Any]] = field(default_factory=list)
    muted: bool = False


def _decode(value: bytes) -> Any:
    return orjson.loads(value) if value else None


async def read_snapshot(redis: aioredis.Redis, keys: Keys, room_id: int,
                        user_id: int | None = None) -> Snapshot:
    pipe = redis.pipeline(transaction=True)
    pipe.get(offset_key(keys, room_id))
    pipe.hgetall(state_key(keys, room_id))
    pipe.lrange(recent_chat_key(keys, room_id), 0, -1)
    if user_id is not None:
        pipe.hget(muted_key(keys, room_id), str(user_id))
    results = await pipe.execute()
    raw_offset, raw_state, raw_chat = results[0], results[1], results[2]
    state: dict[str, Any] = {}
    for name, value in raw_state.items():
        key = name.decode()
        if key not in INTERNAL_FIELDS and not key.startswith("deleted:"):
            state[key] = _decode(value)
    # The list is newest first; a hello shows the conversation oldest first.
    chat = [orjson.loads(frame)["data"] for frame in reversed(raw_chat)]
    if chat:
        # Read after the MULTI on purpose: an id is added to the deleted set before its
        # delete event is published, so a later read can only remove more, never less.
        scores = await redis.zmscore(deleted_key(keys, room_id), [line["id"] for line in chat])
        chat = [line for line, score in zip(chat, scores, strict=True) if score is None]
    muted = False
    if user_id is not None and results[3] is not None:
        until = int(results[3])
        muted = until == 0 or until > time.time()
    return Snapshot(offset=int(raw_offset or 0), exists="room" in state, state=state, chat=chat,
                    muted=muted)


@dataclass
class Missed:
    to_offset: int
    frames: list[bytes]


async def read_since(redis: aioredis.Redis, keys: Keys, room_id: int, after: int) -> Missed | None:
    """The events after offset `after`, or None when some of them are gone (or `after` is unknown)."""
    pipe = redis.pipeline(transaction=True)
    pipe.get(offset_key(keys, room_id))
    pipe.zrangebyscore(history_key(keys, room_id), f"({after}", "+inf", withscores=True)
    raw_offset, rows = await pipe.execute()
    current = int(raw_offset or 0)
    if after < 1 or after > current:
        return None
    if after == current:
        return Missed(current, [])
    if not rows or int(rows[0][1]) != after + 1 or int(rows[-1][1]) != current:
        return None
    return Missed(current, [frame for frame, _ in rows])


@dataclass
class UserMissed:
    """A user's events after a client's offset: `frames` in order up to `to_offset`;
    `complete` is False when some of them are gone (past the history's bound or age, or the
    client's offset is from before Redis lost the user's keys)."""

    to_offset: int
    frames: list[bytes]
    complete: bool


async def read_user_since(redis: aioredis.Redis, keys: Keys, user_id: int,
                          after: int | None) -> UserMissed:
    """What a connection of `user_id` that last saw `after` missed. None: a client with no
    offset yet (its first page), which is told the current offset and sent nothing: only the
    counter is read, not the history it would be sent none of. An `after` of an earlier life
    of the counter (publish_user.lua) is below every offset of the current one: it is sent
    what is kept, flagged incomplete."""
    if after is None:
        return UserMissed(int(await redis.get(user_offset_key(keys, user_id)) or 0), [], True)
    pipe = redis.pipeline(transaction=True)
    pipe.get(user_offset_key(keys, user_id))
    pipe.zrangebyscore(user_history_key(keys, user_id), f"({max(after, 0)}", "+inf",
                       withscores=True)
    raw_offset, rows = await pipe.execute()
    current = int(raw_offset or 0)
    if after == current:
        return UserMissed(current, [], True)
    if after > current:
        # An offset from another life of the user's keys: everything kept is news to it.
        kept = await redis.zrange(user_history_key(keys, user_id), 0, -1)
        return UserMissed(current, [frame for frame in kept if isinstance(frame, bytes)], False)
    # Nothing is missing when the first kept event follows `after`, or when the client had
    # seen none (0) and it is the first of its counter's life (publish_user.lua).
    first = int(rows[0][1]) if rows else None
    complete = (first is not None and int(rows[-1][1]) == current
                and (first == after + 1 or (after == 0 and first % USER_EPOCH_UNIT == 1)))
    return UserMissed(current, [frame for frame, _ in rows], complete)
