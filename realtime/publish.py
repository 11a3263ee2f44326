"""The one way the domain packages tell a room (or a user) about a change.

    await publish_room(redis, keys, room_id, ServerEvent.PIN, {"product": {...}},
                       state={"pin": product_dict})

`state` names the fields of the room's state hash this event changes (None
deletes a field); the hub's `hello` snapshot is that hash plus the offset, so
a state change and its event can never disagree. Call it only after the
database transaction that made the change has committed. Event types are
`ServerEvent`s (realtime/protocol.py), re-exported here for the publishers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from core.redis import Keys, LuaScript
from realtime.protocol import ServerEvent

PUBLISH_SCRIPT = LuaScript(Path(__file__).parent / "scripts" / "publish.lua")
PUBLISH_USER_SCRIPT = LuaScript(Path(__file__).parent / "scripts" / "publish_user.lua")

# Events kept per room for resume. At 20 chat lines a second this is ~100 s of
# chat; state survives longer because a client too far behind gets a fresh hello.
HISTORY_LENGTH = 2000
# And at most this many bytes of frames, whatever the events hold: 2,000 chat lines of
# ~500 bytes. Larger events (a lineup, a pin with its description) leave room for fewer,
# and a client further behind than what is kept gets a fresh hello, as with the count.
HISTORY_MAX_BYTES = 1 << 20
# Events kept per user for replay on reconnect. A user hears of their own orders and their
# followed hosts going live: a few a day, so 200 is weeks of news for anyone but a reseller,
# and a client further behind is told it missed some (`user_resume` with `complete: false`)
# and reloads what it shows.
USER_HISTORY_LENGTH = 200
# A user's history lives this long after their last event (a week: a buyer who comes back
# the next weekend still hears that their order was paid).
USER_HISTORY_TTL_SECONDS = 7 * 24 * 3600
# The offset counter lives far longer (half a year after the last event), so the offset a
# page kept keeps meaning the same events; a counter per user who ever had an event, forever,
# would be ~60 bytes of Redis per account. A client whose offset outlived the counter is told
# its events are incomplete (docs/realtime.md).
USER_OFFSET_TTL_SECONDS = 180 * 24 * 3600
# A user's offsets carry the life of their counter: `epoch * USER_EPOCH_UNIT + n`, the epoch
# being the millisecond the counter was (re)made, so a new life's offsets are above an old
# one's (publish_user.lua says why; the script holds the same number).
USER_EPOCH_UNIT = 1 << 11
# Chat lines a hello carries: a screenful and a bit, so a new viewer sees the conversation.
RECENT_CHAT_LENGTH = 50

__all__ = ["ServerEvent", "UserEvent", "publish_room", "publish_room_event", "publish_user",
           "publish_users"]

_captures: list[list[dict[str, Any]]] = []


def room_channel(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "events")


def user_channel(keys: Keys, user_id: int) -> str:
    return keys.user(user_id, "events")


def user_offset_key(keys: Keys, user_id: int) -> str:
    return keys.user(user_id, "offset")


def user_history_key(keys: Keys, user_id: int) -> str:
    return keys.user(user_id, "history")


def offset_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "offset")


def state_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "state")


def history_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "history")


def history_bytes_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "history_bytes")


def recent_chat_key(keys: Keys, room_id: int) -> str:
    return keys.room(room_id, "chat")


def encode_body(event_type: str, data: Any) -> bytes:
    return orjson.dumps({"type": event_type, "ts": int(time.time() * 1000), "data": data})


async def publish_room(redis: aioredis.Redis, keys: Keys, room_id: int, event_type: str,
                       data: Any, *, state: dict[str, Any] | None = None) -> int:
    """Publish an event to a room; returns its offset."""
    return await publish_room_event(redis, keys, room_id, event_type, data, state=state)


async def publish_room_event(redis: aioredis.Redis, keys: Keys, room_id: int, event_type: str,
                             data: Any, *, state: dict[str, Any] | None = None,
                             recent_chat: bool = False) -> int:
    """publish_room, plus (for chat lines) keeping the event in the hello's recent chat."""
    for capture in _captures:
        capture.append({"room_id": room_id, "type": event_type, "data": data, "state": state})
    ops: list[bytes | str] = []
    for field, value in (state or {}).items():
        ops.append(field)
        ops.append(b"" if value is None else orjson.dumps(value))
    script = PUBLISH_SCRIPT.bind(redis)
    offset = await script(
        keys=[offset_key(keys, room_id), state_key(keys, room_id), history_key(keys, room_id),
              recent_chat_key(keys, room_id), history_bytes_key(keys, room_id)],
        args=[room_channel(keys, room_id), encode_body(event_type, data), HISTORY_LENGTH,
              HISTORY_MAX_BYTES, RECENT_CHAT_LENGTH if recent_chat else 0, len(ops) // 2, *ops],
    )
    return int(offset)


async def publish_user(redis: aioredis.Redis, keys: Keys, user_id: int, event_type: str,
                       data: Any) -> int:
    """Publish an event to every connection of one user, in any room (their orders, a
    followed host going live); returns its user offset. The event is kept in the user's
    bounded history, so a connection that comes back with the last `user_offset` it saw
    is sent what it missed (realtime.greeting). Call it only after the commit."""
    return int(await PUBLISH_USER_SCRIPT.bind(redis)(
        **_user_script_call(keys, UserEvent(user_id, event_type, data))))


@dataclass(frozen=True)
class UserEvent:
    user_id: int
    event_type: str
    data: Any


async def publish_users(redis: aioredis.Redis, keys: Keys, events: list[UserEvent]) -> list[int]:
    """publish_user for many users in one round trip (a go-live alert's batch of followers, a
    draw's results to its entrants); returns their user offsets, in order. Call it only after
    the commit."""
    if not events:
        return []
    script = PUBLISH_USER_SCRIPT.bind(redis)
    pipe = redis.pipeline(transaction=False)
    for event in events:
        await script(**_user_script_call(keys, event), client=pipe)
    return [int(offset) for offset in await pipe.execute()]


def _user_script_call(keys: Keys, event: UserEvent) -> dict[str, Any]:
    """publish_user.lua's keys and arguments for one user event (recorded by any capture)."""
    for capture in _captures:
        capture.append({"user_id": event.user_id, "type": event.event_type, "data": event.data,
                        "state": None})
    return {"keys": [user_offset_key(keys, event.user_id), user_history_key(keys, event.user_id)],
            "args": [user_channel(keys, event.user_id), encode_body(event.event_type, event.data),
                     USER_HISTORY_LENGTH, USER_HISTORY_TTL_SECONDS, USER_OFFSET_TTL_SECONDS]}


@contextlib.contextmanager
def capture_published() -> Iterator[list[dict[str, Any]]]:
    """Record what is published inside the block (tests), while still publishing it."""
    captured: list[dict[str, Any]] = []
    _captures.append(captured)
    try:
        yield captured
    finally:
        _captures.remove(captured)
