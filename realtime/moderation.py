"""Moderation state the hub enforces: muted users and deleted chat lines.

PostgreSQL (live's room_mutes and the room event log) is the truth; these
Redis keys are rebuilt from it by `live.actions.rebuild_room_state`.
"""

from __future__ import annotations

import time
from enum import StrEnum

import redis.asyncio as aioredis

from core.redis import Keys
from realtime.protocol import ServerEvent
from realtime.publish import publish_room


class ModerationAction(StrEnum):
    """The `action` of a `moderation` event (docs/realtime.md); the pages' store reads it."""

    MUTE = "mute"
    UNMUTE = "unmute"
    DELETE = "delete"


# Deleted message ids remembered per room: far more than the recent chat a hello
# carries (50), so a deleted line never comes back in a snapshot.
DELETED_KEEP = 1000


def muted_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "muted")


def deleted_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "deleted")


async def set_muted(redis: aioredis.Redis, keys: Keys, room_id: int, user_id: int,
                    *, until_epoch_s: int | None, by_user_id: int) -> int:
    """Mute (until a time, or until unmuted) and tell the room."""
    # The hash maps user id -> unix time the mute ends (0 = until unmuted).
    await redis.hset(muted_key(keys, room_id), str(user_id), str(until_epoch_s or 0))
    return await publish_room(redis, keys, room_id, ServerEvent.MODERATION,
                              {"action": ModerationAction.MUTE, "user_id": user_id, "until": until_epoch_s,
                               "by": by_user_id})


async def clear_muted(redis: aioredis.Redis, keys: Keys, room_id: int, user_id: int,
                      *, by_user_id: int) -> int:
    await redis.hdel(muted_key(keys, room_id), str(user_id))
    return await publish_room(redis, keys, room_id, ServerEvent.MODERATION,
                              {"action": ModerationAction.UNMUTE, "user_id": user_id, "by": by_user_id})


async def delete_message(redis: aioredis.Redis, keys: Keys, room_id: int, message_id: str,
                         *, by_user_id: int) -> int:
    """Delete a chat line: every client removes it, and it leaves the resume snapshot.

    The id is recorded before the event is published: a hello read in between
    already leaves the line out, and the delete that follows is a no-op for it.
    """
    pipe = redis.pipeline(transaction=True)
    pipe.zadd(deleted_key(keys, room_id), {message_id: time.time()})
    pipe.zremrangebyrank(deleted_key(keys, room_id), 0, -DELETED_KEEP - 1)
    await pipe.execute()
    return await publish_room(redis, keys, room_id, ServerEvent.MODERATION,
                              {"action": ModerationAction.DELETE, "message_id": message_id, "by": by_user_id})


async def restore_mutes(redis: aioredis.Redis, keys: Keys, room_id: int,
                        mutes: dict[int, int]) -> None:
    pipe = redis.pipeline(transaction=True)
    pipe.delete(muted_key(keys, room_id))
    if mutes:
        pipe.hset(muted_key(keys, room_id), mapping={str(u): str(t) for u, t in mutes.items()})
    await pipe.execute()
