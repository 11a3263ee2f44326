"""The websocket protocol: server frames (encoded once) and client frames (validated).

Every server frame is one JSON text message `{"type", "ts", "data"}` plus
`"offset"` on events kept in the room history. docs/realtime.md is the contract.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from core.types import check_text


class ServerEvent(StrEnum):
    """The `type` of every frame the server sends (docs/realtime.md). The packages that
    publish to a room or a user use these names; the pages' store reads the same ones."""

    # Sent by the hub itself.
    HELLO = "hello"
    RESUME = "resume"
    BATCH = "batch"
    ERROR = "error"
    PONG = "pong"
    LIKES = "likes"
    VIEWERS = "viewers"
    SNAPSHOT_REBUILT = "snapshot_rebuilt"
    # The user's events a connection missed follow it (docs/realtime.md, "User events").
    USER_RESUME = "user_resume"
    # Published by the domain packages through realtime.publish.
    CHAT = "chat"
    MODERATION = "moderation"
    ROOM = "room"
    # The room's video is on air (an encoder publishing, or back within the grace period) or
    # not: players load the stream only while it is (live/streams.py).
    ON_AIR = "on_air"
    LINEUP = "lineup"
    PIN = "pin"
    UNPIN = "unpin"
    SALE = "sale"
    STOCK = "stock"
    # The units left of a product's variants at the regular price (orders/runtime.py).
    VARIANT_STOCK = "variant_stock"
    ORDER = "order"
    PURCHASE = "purchase"
    # Published to one user (realtime.publish.publish_user), with a `user_offset`.
    NOTIFICATION = "notification"
    # Red envelope rains and lucky draws (engagement; docs/engagement.md).
    RAIN = "rain"
    DRAW = "draw"
    # Published to one user: a comment-to-buy line's answer, the held order or a hint why none
    # (orders/chat_buy.py).
    CHAT_BUY = "chat_buy"
    # A live-room coupon dropped, or claimed (how many are left; orders/coupons.py).
    COUPON = "coupon"
    # Published to one user: a friend cut the price of their bargain (orders/bargains.py).
    BARGAIN = "bargain"
    # A group buy's progress (to its room), and a member's own news of it formed or failed
    # and refunded (to the user; orders/groups.py).
    GROUP = "group"
    # A host offered a bargain in the room, or withdrew one (orders/bargains.py).
    BARGAIN_OFFER = "bargain_offer"


class ClientEvent(StrEnum):
    """The `type` of the frames a client may send."""

    CHAT = "chat"
    LIKE = "like"
    PING = "ping"


# Close codes (docs/realtime.md).
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_AUTH_REQUIRED = 4401
CLOSE_BAD_ORIGIN = 4403
CLOSE_NO_SUCH_ROOM = 4404
CLOSE_SLOW_CONSUMER = 4408
CLOSE_TOO_MANY_BAD_FRAMES = 4429

# Likes in one client frame: a burst of taps on a phone, not a script.
MAX_LIKES_PER_FRAME = 50
# The largest websocket message the server reads at all (uvicorn's ws_max_size in
# `livesell serve`): above it the connection is closed with 1009 without reading the
# rest. Client frames are about 2 kB (max_frame_bytes); anything between that and this
# is read and answered with a `too_large` error event, the connection kept.
WS_MAX_MESSAGE_BYTES = 16 * 1024
# A client frame is small: a chat line of at most chat_max_length characters in
# JSON (up to 6 bytes a character when escaped) plus the envelope.
FRAME_OVERHEAD_BYTES = 256


class BadFrame(Exception):
    """A client frame the server cannot act on; answered with an `error` event."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


CLIENT_CHAT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ChatFrame:
    text: str
    # The client's own id for the line (optional): a frame sent again with the same id is the
    # same line to the chat listeners (comment-to-buy holds one order for it).
    client_id: str | None = None


@dataclass(frozen=True)
class LikeFrame:
    count: int


@dataclass(frozen=True)
class PingFrame:
    pass


ClientFrame = ChatFrame | LikeFrame | PingFrame


def now_ms() -> int:
    return int(time.time() * 1000)


def encode(event_type: str, data: Any) -> str:
    """One server frame, encoded once and shared by every recipient."""
    return orjson.dumps({"type": event_type, "ts": now_ms(), "data": data}).decode()


def error_frame(code: str, message: str, field: str | None = None) -> str:
    data: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        data["field"] = field
    return encode(ServerEvent.ERROR, data)


def batch_frame(frames: list[str]) -> str:
    """Several events in one websocket message (huge rooms); no event is re-encoded."""
    return '{"type":"' + ServerEvent.BATCH + '","ts":' + str(now_ms()) + ',"data":{"events":[' + ",".join(frames) + "]}}"


def ws_text_frame(frame: str) -> bytes:
    """The whole websocket text frame (RFC 6455, unmasked, no extension) for `frame`.

    Built once per event for all the connections that take pre-framed bytes.
    """
    payload = frame.encode()
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + payload


def max_frame_bytes(chat_max_length: int) -> int:
    return chat_max_length * 6 + FRAME_OVERHEAD_BYTES


def parse_client_frame(raw: str | bytes, *, max_bytes: int) -> ClientFrame:
    if len(raw) > max_bytes:
        raise BadFrame("too_large", f"a frame may be at most {max_bytes} bytes")
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadFrame("bad_json", "the frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise BadFrame("bad_frame", "a frame is a JSON object with a \"type\"")
    kind = frame.get("type")
    if kind == ClientEvent.CHAT:
        text = frame.get("text")
        if not isinstance(text, str):
            raise BadFrame("invalid", "text must be a string", "text")
        try:
            check_text(text)
        except ValueError as exc:
            raise BadFrame("invalid", f"text {exc}", "text") from None
        client_id = frame.get("id")
        if client_id is not None and (not isinstance(client_id, str)
                                      or not CLIENT_CHAT_ID.match(client_id)):
            raise BadFrame("invalid", "id must be 1-64 letters, digits, _ or -", "id")
        return ChatFrame(text, client_id)
    if kind == ClientEvent.LIKE:
        count = frame.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_LIKES_PER_FRAME:
            raise BadFrame("invalid", f"count must be a whole number from 1 to {MAX_LIKES_PER_FRAME}",
                           "count")
        return LikeFrame(count)
    if kind == ClientEvent.PING:
        return PingFrame()
    if not isinstance(kind, str):
        raise BadFrame("bad_frame", "a frame needs a string \"type\"", "type")
    raise BadFrame("unknown_type", f"unknown frame type {kind[:40]!r}; use chat, like or ping", "type")


def _leading_number(payload: bytes, prefix: bytes) -> int | None:
    """The number a frame starts with after `prefix` (`{"offset":`) and before its first comma,
    read without decoding the JSON; None if the frame does not start so."""
    if payload.startswith(prefix):
        start = len(prefix)
        end = payload.find(b",", start)
        if end > start:
            try:
                return int(payload[start:end])
            except ValueError:
                return None
    return None


def frame_offset(payload: bytes) -> int | None:
    """The offset of a published room event, read without decoding the JSON.

    publish.lua puts `{"offset":N,` first in every room event, so this is a prefix read.
    """
    return _leading_number(payload, b'{"offset":')


def user_frame_offset(payload: bytes) -> int | None:
    """The `user_offset` of a published user event (publish_user.lua puts it first)."""
    return _leading_number(payload, b'{"user_offset":')


def frame_type(payload: bytes) -> str:
    """The event type, read without decoding the whole frame (chat lines are many)."""
    start = payload.find(b'"type":"')
    if start < 0:
        return ""
    start += 8
    end = payload.find(b'"', start)
    return payload[start:end].decode() if end > start else ""
