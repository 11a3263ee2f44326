"""Chat lines: checked (length, mute, slow mode, rate limit), then published to the room.

A chat line is a room event like any other: it gets an offset, goes into the
resume history and into the recent chat a hello carries. The text is stored
and sent as given; the pages show it as text, never as HTML.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from core.redis import Keys, LuaScript
from realtime.moderation import muted_key
from realtime.protocol import ServerEvent
from realtime.publish import publish_room_event

CHAT_GATE_SCRIPT = LuaScript(Path(__file__).parent / "scripts" / "chat_gate.lua")
# How long a line's client id is remembered: a client resends what it queued when its socket
# comes back, which is seconds to a few minutes later; ten minutes covers a phone that lost
# its signal for a while, and the keys (one per line sent with an id) expire by themselves.
CLIENT_ID_MEMORY_SECONDS = 600

# Roles that slow mode and mutes do not apply to: the host running the room, and ops.
MODERATOR_ROLES = frozenset({"ops"})


class ChatRefused(Exception):
    def __init__(self, code: str, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "field": "text"}
        if self.retry_after_ms is not None:
            body["retry_after_ms"] = self.retry_after_ms
        return body


def new_message_id() -> str:
    # 12 random bytes: unique without a counter shared between processes.
    return secrets.token_urlsafe(12)


def clean_text(text: str, max_length: int) -> str:
    text = text.strip()
    if not text:
        raise ChatRefused("empty", "write something first")
    if len(text) > max_length:
        raise ChatRefused("too_long", f"a chat line may be at most {max_length} characters")
    return text


async def post_chat(redis: aioredis.Redis, keys: Keys, room_id: int, user: dict[str, Any], text: str,
                    *, max_length: int, min_interval_ms: int, slow_mode_seconds: int,
                    moderator: bool = False, message_id: str | None = None,
                    client_id: str | None = None) -> int | None:
    """Check and publish one chat line (its id `message_id`, else a new one); returns its
    offset, or None for a line whose `client_id` this user posted already (a frame resent
    after a reconnect: the room shows it once). Raises ChatRefused."""
    text = clean_text(text, max_length)
    user_id = int(user["id"])
    gate = CHAT_GATE_SCRIPT.bind(redis)
    gate_keys = [muted_key(keys, room_id), keys.room(room_id, "chat_rate", user_id),
                 keys.room(room_id, "chat_slow", user_id)]
    if client_id is not None:
        gate_keys.append(keys.room(room_id, "chat_sent", user_id, client_id))
    verdict, value = await gate(
        keys=gate_keys,
        args=[user_id, min_interval_ms, 0 if moderator else slow_mode_seconds,
              CLIENT_ID_MEMORY_SECONDS],
    )
    verdict, value = int(verdict), int(value)
    if verdict == 4:
        return None
    if verdict == 1 and not moderator:
        raise ChatRefused("muted", "you are muted in this room")
    if verdict == 2:
        raise ChatRefused("slow_mode", f"slow mode: one line every {slow_mode_seconds} s",
                          retry_after_ms=value)
    if verdict == 3:
        raise ChatRefused("rate_limited", "you are sending too fast", retry_after_ms=value)
    data = {"id": message_id or new_message_id(), "user": {"id": user_id, "display_name": user["display_name"],
                                             "role": user["role"]}, "text": text}
    return await publish_room_event(redis, keys, room_id, ServerEvent.CHAT, data, recent_chat=True)
