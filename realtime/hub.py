"""The process-wide hub: room channels, local connections, and the fan-out.

One hub per web process. For every room with a local viewer it holds one pub/sub
subscription (`realtime.room.RoomChannel`); each event arrives once, is decoded to text
once, and `Hub.fanout` hands the same string (or the same websocket bytes) to every local
connection of the room without awaiting any of them (`realtime.connection`): a viewer who
falls behind is dropped with close code 4408 and the room does not wait for it. A new
connection is greeted with a snapshot or the events it missed (`realtime.greeting`).

The hub knows nothing of rooms' meaning: domain packages publish through
`realtime.publish`, and the web edge injects a `RoomLoader` that rebuilds a
room's Redis state from PostgreSQL when it is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket as socketlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis

from core.metrics import WS_FANOUTS, WS_FRAMES_SENT, WS_MESSAGES
from core.redis import Keys
from core.settings import HubSettings, Settings
from realtime import history, presence, protocol
from realtime.backend import Backend
from realtime.chat import MODERATOR_ROLES, ChatRefused, new_message_id, post_chat
from realtime.connection import Connection, DirectWriter, Socket, User
from realtime.greeting import Greeter, RoomLoader
from realtime.protocol import BadFrame, ChatFrame, LikeFrame, PingFrame, ServerEvent
from realtime.publish import user_channel
from realtime.room import RoomChannel, report_presence

log = logging.getLogger(__name__)


_TUNED = HubSettings()


@dataclass(frozen=True)
class HubConfig:
    """What the hub runs with: the operators' knobs (core.settings.HubSettings, whose defaults
    these are, with their reasons) and the protocol's own numbers."""

    chat_max_length: int = 300
    chat_min_interval_ms: int = 1000
    send_queue_frames: int = _TUNED.send_queue_frames
    send_queue_bytes: int = _TUNED.send_queue_bytes
    direct_writes: bool = _TUNED.direct_writes
    batch_min_connections: int = _TUNED.batch_min_connections
    batch_interval_ms: int = _TUNED.batch_interval_ms
    room_frames_per_second: int = _TUNED.room_frames_per_second
    batch_groups: int = _TUNED.batch_groups
    # Presence and likes are reported (and `likes` sent) 4 times a second;
    # `viewers` at most every 500 ms.
    tick_ms: int = 250
    viewers_interval_ms: int = 500
    presence_ttl_ms: int = 15_000
    # A room without local viewers keeps its subscription this long (reconnects).
    empty_room_grace_ms: int = 5_000
    # Client frames: a steady rate and a burst; malformed ones before a 4429.
    client_frames_per_second: int = 20
    client_frames_burst: int = 60
    max_bad_frames: int = 20
    # Snapshot and resume reads in flight at once. A reconnect storm (a deploy, a
    # network blip) must queue here rather than take every connection of the
    # process's Redis pool, which the buy path needs too.
    max_concurrent_greetings: int = 32

    @classmethod
    def from_settings(cls, settings: Settings) -> HubConfig:
        tuned = settings.hub
        return cls(
            chat_max_length=settings.chat_max_length,
            chat_min_interval_ms=settings.chat_min_interval_ms,
            send_queue_frames=tuned.send_queue_frames,
            send_queue_bytes=tuned.send_queue_bytes,
            direct_writes=tuned.direct_writes,
            batch_min_connections=tuned.batch_min_connections,
            batch_interval_ms=tuned.batch_interval_ms,
            room_frames_per_second=tuned.room_frames_per_second,
            batch_groups=tuned.batch_groups,
        )


class RoomObserver(Protocol):
    """Who hears of joins, leaves, accepted chat lines and likes (the analytics recorder, wired
    in by the web edge; realtime never imports it). Calls must return at once: they buffer."""

    def viewer_joined(self, room_id: int, viewer_key: str, user_id: int | None = None) -> None: ...

    def viewer_left(self, room_id: int, viewer_key: str, user_id: int | None = None) -> None: ...

    def chat(self, room_id: int, user_id: int | None) -> None: ...

    def likes(self, room_id: int, count: int) -> None: ...


class ObserverGroup:
    """Several RoomObservers heard as one (the analytics recorder and engagement's tracker of
    who is in a room); each is called in turn, the failure of one logged and not the others'."""

    def __init__(self, *observers: RoomObserver) -> None:
        self.observers = observers

    def _each(self, event: str, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(*args)
            except Exception:
                log.exception("realtime: observer %r failed on %s", observer, event)

    def viewer_joined(self, room_id: int, viewer_key: str, user_id: int | None = None) -> None:
        self._each("viewer_joined", room_id, viewer_key, user_id)

    def viewer_left(self, room_id: int, viewer_key: str, user_id: int | None = None) -> None:
        self._each("viewer_left", room_id, viewer_key, user_id)

    def chat(self, room_id: int, user_id: int | None) -> None:
        self._each("chat", room_id, user_id)

    def likes(self, room_id: int, count: int) -> None:
        self._each("likes", room_id, count)


# Who hears each accepted chat line with its text (room id, user id, text, the line's key):
# engagement's draw keywords, orders' comment-to-buy. The key is the client's id for the line
# when its frame named one (a resent frame has the same key), else the line's own message id.
# Called after the line is published; must return at once.
ChatListener = Callable[[int, int, str, str], None]


class Hub:
    """The process's rooms and users, their subscriptions, and the fan-out to connections."""

    def __init__(self, backend: Backend, redis: aioredis.Redis, keys: Keys, config: HubConfig,
                 loader: RoomLoader, observer: RoomObserver | None = None) -> None:
        self.observer = observer
        self.chat_listeners: list[ChatListener] = []
        self.backend = backend
        self.redis = redis
        self.keys = keys
        self.config = config
        self.process_id = f"{socketlib.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.rooms: dict[int, RoomChannel] = {}
        self.rooms_by_channel: dict[str, RoomChannel] = {}
        self.users: dict[int, dict[Connection, None]] = {}
        self.user_channels: dict[str, int] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.ticker: asyncio.Task[None] | None = None
        self.serving: set[asyncio.Task[Any]] = set()
        self.stopping = False
        self.greeter = Greeter(redis, keys, loader, max_concurrent=config.max_concurrent_greetings)
        backend.on_message = self.on_message
        backend.on_reconnect = self.on_reconnect

    # Lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        await self.backend.connect()
        self.ticker = asyncio.create_task(self.tick_forever(), name="realtime-hub-ticker")

    async def stop(self) -> None:
        self.stopping = True
        if self.ticker is not None:
            self.ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.ticker
        for room in list(self.rooms.values()):
            for conn in list(room.connections):
                conn.drop(protocol.CLOSE_GOING_AWAY)
        if self.serving:
            await asyncio.wait(list(self.serving), timeout=3)
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await presence.leave(self.redis, self.keys, self.process_id, list(self.rooms))
        await self.backend.disconnect()
        self.rooms.clear()
        self.rooms_by_channel.clear()

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # Pub/sub ---------------------------------------------------------------------

    def on_message(self, channel: str, payload: bytes) -> None:
        WS_MESSAGES.inc()
        room = self.rooms_by_channel.get(channel)
        if room is not None:
            room.on_message(payload)
            return
        user_id = self.user_channels.get(channel)
        if user_id is not None:
            self.deliver_user(user_id, payload)

    def deliver_user(self, user_id: int, payload: bytes) -> None:
        """A user event to each of the user's local connections, whatever their room; held
        by a connection until its user greeting (realtime.greeting.greet_user) is queued."""
        offset = protocol.user_frame_offset(payload)
        frame = payload.decode()
        for conn in self.users.get(user_id, {}):
            if conn.user_ready:
                conn.offer_user(offset, frame)
            else:
                conn.user_pending.append((offset, frame))

    def on_reconnect(self) -> None:
        for room in self.rooms.values():
            if room.repairing is None and room.last_offset:
                room.repairing = []
                self.spawn(room.repair(), f"repair-room-{room.id}")
        for user_id in list(self.users):
            self.spawn(self.repair_user(user_id), f"repair-user-{user_id}")

    async def repair_user(self, user_id: int) -> None:
        """Pub/sub was lost for a while: send the user's connections what it dropped, from
        the user's history (each connection skips what it had)."""
        conns = [conn for conn in self.users.get(user_id, {}) if conn.user_ready]
        if not conns:
            return
        after = min(conn.user_offset for conn in conns)
        try:
            async with self.greeter.gate:
                missed = await history.read_user_since(self.redis, self.keys, user_id, after)
        except Exception:
            log.exception("realtime: repairing user %s's events failed", user_id)
            return
        for frame in missed.frames:
            self.deliver_user(user_id, frame)

    # Fan-out ----------------------------------------------------------------------------------

    def fanout(self, room: RoomChannel, connections: dict[Connection, None], frame: str,
               items: list[tuple[int | None, str]]) -> None:
        """Hand one frame to `connections` (all of `room`'s, or one of its batch groups;
        `items`: the events it holds, with their offsets, for connections still waiting
        for their snapshot)."""
        # The hot loop: the same string (or the same websocket bytes) to every local
        # connection, no awaits.
        framed: bytes | None = None
        limit = self.config.send_queue_bytes
        # Counted once per fan-out, not per viewer.
        WS_FANOUTS.inc()
        WS_FRAMES_SENT.inc(len(connections))
        for conn in connections:
            if not conn.ready:
                conn.pending.extend(items)
            elif conn.skip_until:
                conn.offer_after_snapshot(items)
            elif conn.direct is None:
                conn.offer(frame)
            elif not conn.closed:
                # Connection.write_direct inlined: this runs once per viewer per frame, and
                # calls the transport itself (no wrapper, no websocket state to read: see
                # web.ws.direct_writer). Nearly all its time is the write's system call.
                if framed is None:
                    framed = protocol.ws_text_frame(frame)
                direct = conn.direct
                if direct.is_closing():
                    conn.closed = True
                elif direct.get_write_buffer_size() > limit:
                    conn.drop(protocol.CLOSE_SLOW_CONSUMER)
                else:
                    direct.write(framed)

    # Rooms ---------------------------------------------------------------------------

    async def open_room(self, room_id: int) -> RoomChannel:
        room = self.rooms.get(room_id)
        if room is None:
            room = RoomChannel(self, room_id)
            self.rooms[room_id] = room
            self.rooms_by_channel[room.channel] = room
            try:
                await room.open()
            except BaseException as exc:
                self.forget_room(room)
                if isinstance(exc, asyncio.CancelledError) or not isinstance(exc, Exception):
                    room.opened.cancel()
                else:
                    room.opened.set_exception(exc)
                    room.opened.exception()  # marked retrieved: waiters re-raise it themselves
                raise
            room.opened.set_result(None)
            return room
        await asyncio.shield(room.opened)
        return room

    def forget_room(self, room: RoomChannel) -> None:
        if self.rooms.get(room.id) is room:
            del self.rooms[room.id]
        if self.rooms_by_channel.get(room.channel) is room:
            del self.rooms_by_channel[room.channel]

    def leave_room(self, room: RoomChannel, conn: Connection) -> None:
        room.leave(conn)
        if not room.connections and room.close_handle is None and not self.stopping:
            room.close_handle = asyncio.get_running_loop().call_later(
                self.config.empty_room_grace_ms / 1000, self._close_if_empty, room)

    def _close_if_empty(self, room: RoomChannel) -> None:
        room.close_handle = None
        if room.connections or room.closing:
            return
        room.closing = True
        self.forget_room(room)
        self.spawn(room.close(), f"close-room-{room.id}")

    # Users -----------------------------------------------------------------------------

    async def join_user(self, user_id: int, conn: Connection) -> None:
        conns = self.users.setdefault(user_id, {})
        conns[conn] = None
        if len(conns) == 1:
            channel = user_channel(self.keys, user_id)
            self.user_channels[channel] = user_id
            await self.backend.subscribe(channel)

    async def leave_user(self, user_id: int, conn: Connection) -> None:
        conns = self.users.get(user_id)
        if conns is None:
            return
        conns.pop(conn, None)
        if not conns:
            del self.users[user_id]
            channel = user_channel(self.keys, user_id)
            self.user_channels.pop(channel, None)
            with contextlib.suppress(Exception):
                await self.backend.unsubscribe(channel)

    # Serving one connection ---------------------------------------------------------------

    async def serve(self, socket: Socket, room_id: int, user: User | None,
                    resume_from: int | None = None, *, direct: DirectWriter | None = None,
                    viewer_key: str | None = None, user_resume_from: int | None = None) -> None:
        """Run one accepted websocket until it closes. Raises NoSuchRoom before any frame."""
        room = await self.open_room(room_id)
        if room.close_handle is not None:
            room.close_handle.cancel()
            room.close_handle = None
        conn = Connection(socket, room, user, self.config,
                          direct if self.config.direct_writes else None)
        conn.serve_task = asyncio.current_task()
        if conn.serve_task is not None:
            self.serving.add(conn.serve_task)
        room.join(conn)
        user_id = int(user["id"]) if user else None
        joined = False
        try:
            if user_id is not None:
                await self.join_user(user_id, conn)
            await self.greeter.greet(room, conn, resume_from)
            if user_id is not None:
                await self.greeter.greet_user(conn, user_id, user_resume_from)
            room.mark_staff(conn)  # (a hello marks them before its count; a resume here)
            if viewer_key is not None:
                # Recorded only once the room is known to exist, and left below on any end.
                self.observe("viewer_joined", room_id, viewer_key, user_id)
                joined = True
            if conn.direct is None:
                conn.writer = asyncio.create_task(conn.write_loop())
            await self.read_loop(room, conn)
        except asyncio.CancelledError:
            if conn.drop_code is None:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            conn.closed = True
            if joined:
                self.observe("viewer_left", room_id, viewer_key, user_id)
            room.staff.discard(conn)
            self.leave_room(room, conn)
            if conn.serve_task is not None:
                self.serving.discard(conn.serve_task)
            if conn.writer is not None:
                conn.writer.cancel()
            if user_id is not None:
                await self.leave_user(user_id, conn)
        if conn.drop_code is not None:
            # A stuck client may never take the close frame; don't wait on it forever.
            closed = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(conn.drop_code), timeout=2)
                closed = True
            if not closed and conn.direct is not None:
                conn.direct.abort()

    async def read_loop(self, room: RoomChannel, conn: Connection) -> None:
        config = self.config
        max_bytes = protocol.max_frame_bytes(config.chat_max_length)
        while not conn.closed:
            raw = await conn.socket.receive()
            if raw is None:
                return
            try:
                if not conn.take_frame_budget():
                    raise BadFrame("rate_limited", "too many frames; slow down")
                frame = protocol.parse_client_frame(raw, max_bytes=max_bytes)
            except BadFrame as bad:
                conn.offer(protocol.error_frame(bad.code, bad.message, bad.field))
                conn.bad_frames += 1
                if conn.bad_frames > config.max_bad_frames:
                    await conn.finish(protocol.CLOSE_TOO_MANY_BAD_FRAMES)
                    return
                continue
            if isinstance(frame, PingFrame):
                conn.offer(protocol.encode(ServerEvent.PONG, {}))
            elif conn.user is None:
                what = "chat" if isinstance(frame, ChatFrame) else "like"
                conn.offer(protocol.error_frame("auth_required", f"log in to {what}"))
            elif isinstance(frame, LikeFrame):
                taken = conn.likes.take(frame.count)
                room.likes_pending += taken
                if taken:
                    self.observe("likes", room.id, taken)
            elif isinstance(frame, ChatFrame):
                await self.chat(room, conn, conn.user, frame.text, frame.client_id)

    async def chat(self, room: RoomChannel, conn: Connection, user: User, text: str,
                   client_id: str | None = None) -> None:
        moderator = user["role"] in MODERATOR_ROLES or user["id"] == room.room.get("host_id")
        message_id = new_message_id()
        try:
            offset = await post_chat(
                self.redis, self.keys, room.id, user, text, message_id=message_id,
                max_length=self.config.chat_max_length,
                min_interval_ms=self.config.chat_min_interval_ms,
                slow_mode_seconds=int(room.room.get("slow_mode_seconds") or 0),
                moderator=moderator, client_id=client_id)
        except ChatRefused as refused:
            conn.offer(protocol.encode(ServerEvent.ERROR, refused.to_dict()))
            return
        if offset is None:
            return  # a resent frame: the room has the line, its listeners had it
        self.observe("chat", room.id, int(user["id"]))
        for listener in self.chat_listeners:
            try:
                listener(room.id, int(user["id"]), text, client_id or message_id)
            except Exception:
                log.exception("realtime: chat listener failed")

    def observe(self, event: str, *args: Any) -> None:
        """Tell the observer; its failure is logged, never the connection's or the room's."""
        if self.observer is None:
            return
        try:
            getattr(self.observer, event)(*args)
        except Exception:
            log.exception("realtime: observer failed on %s", event)

    # Presence and likes ---------------------------------------------------------------------

    async def tick_forever(self) -> None:
        interval = self.config.tick_ms / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("realtime: presence report failed")

    async def tick(self) -> None:
        await report_presence(self, [room for room in self.rooms.values()
                                     if room.opened.done() and not room.closing])
