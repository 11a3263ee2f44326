"""The process-wide hub: room channels, local connections, fan-out.

One hub per web process. For every room with a local viewer it holds one
pub/sub subscription; each event arrives once, is decoded to text once and the
same string is queued on every local connection of the room. Each connection
has a bounded queue drained by its own writer task, so the fan-out loop never
awaits a socket: a viewer whose queue overflows is dropped with close code
4408 and the room does not wait for it.

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
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

from core.metrics import WS_FANOUTS, WS_FRAMES_SENT, WS_MESSAGES, WS_SLOW_CONSUMERS
from core.redis import Keys
from realtime import history, presence, protocol
from realtime.backend import Backend
from realtime.chat import MODERATOR_ROLES, ChatRefused, post_chat
from realtime.likes import LikeBudget
from realtime.protocol import BadFrame, ChatFrame, LikeFrame, PingFrame, ServerEvent
from realtime.publish import room_channel, user_channel

log = logging.getLogger(__name__)

# Rebuild a room's Redis state from the source of truth; False: no such room.
RoomLoader = Callable[[int], Awaitable[bool]]
User = dict[str, Any]


class Socket(Protocol):
    """What the hub needs of a websocket (the web edge adapts ASGI to it)."""

    async def send(self, frame: str) -> None: ...

    async def receive(self) -> str | bytes | None:
        """The next client frame, or None once the client has gone."""
        ...

    async def close(self, code: int, reason: str = "") -> None: ...


class DirectWriter(Protocol):
    """A socket that takes whole pre-framed websocket frames without waiting.

    The web edge offers one when the server lets it write to the connection's
    transport (no extension negotiated); the transport's buffer is then the
    connection's bounded queue, and the fan-out costs one write per viewer.
    """

    def write(self, data: bytes, limit: int) -> int:
        """Write `data` unless more than `limit` bytes already wait for the client.

        One call per viewer per frame (this is the fan-out's inner loop): returns
        WRITTEN, OVER_LIMIT or CLOSED.
        """
        ...

    def abort(self) -> None: ...


WRITTEN, OVER_LIMIT, CLOSED = 0, 1, 2


class NoSuchRoom(Exception):
    pass


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class HubConfig:
    chat_max_length: int = 300
    chat_min_interval_ms: int = 1000
    # Frames a connection may have waiting. At 20 frames a second (a batched huge
    # room) this is ~25 s of slack, and ~200 kB of queued references at most.
    send_queue_frames: int = 512
    # The same bound for connections written directly, in bytes: ~25 s of a busy
    # batched room, and the most a stuck viewer costs us in memory.
    send_queue_bytes: int = 1 << 20
    # Write pre-framed bytes straight to connections that allow it (see DirectWriter).
    direct_writes: bool = True
    # From this many local viewers in a room, chat lines are batched into one
    # frame per `batch_interval_ms`: frames, not bytes, are what cost CPU.
    batch_min_connections: int = 100
    batch_interval_ms: int = 50
    # And the interval grows with the room so that one room costs this process at
    # most this many frames a second (5,000 viewers: a frame every 125 ms).
    room_frames_per_second: int = 40_000
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
    # Websocket connection attempts per client address per window (realtime.admission).
    # A tab reconnects with backoff from 0.5 s, so one viewer makes a few in 10 s; this
    # leaves room for a household or an office behind one address, and refuses a script.
    connects_per_address: int = 120
    connects_window_ms: int = 10_000

    @classmethod
    def from_env(cls, *, chat_max_length: int, chat_min_interval_ms: int) -> HubConfig:
        """Tuning knobs for operators and benchmarks (HUB_* environment variables)."""
        return cls(
            chat_max_length=chat_max_length,
            chat_min_interval_ms=chat_min_interval_ms,
            send_queue_frames=_env_int("HUB_SEND_QUEUE_FRAMES", cls.send_queue_frames, 1),
            send_queue_bytes=_env_int("HUB_SEND_QUEUE_BYTES", cls.send_queue_bytes, 1024),
            direct_writes=_env_int("HUB_DIRECT_WRITES", 1, 0) == 1,
            batch_min_connections=_env_int("HUB_BATCH_MIN_CONNECTIONS", cls.batch_min_connections, 1),
            batch_interval_ms=_env_int("HUB_BATCH_INTERVAL_MS", cls.batch_interval_ms, 0),
            room_frames_per_second=_env_int("HUB_ROOM_FRAMES_PER_SECOND",
                                            cls.room_frames_per_second, 1),
            connects_per_address=_env_int("HUB_CONNECTS_PER_ADDRESS", cls.connects_per_address, 1),
            connects_window_ms=_env_int("HUB_CONNECTS_WINDOW_MS", cls.connects_window_ms, 100),
        )


class Connection:
    """One websocket: its bounded send queue and the state the hub keeps about it."""

    __slots__ = ("bad_frames", "budget_at", "budget_tokens", "closed", "direct", "drop_code",
                 "epoch", "likes", "pending", "queue", "ready", "room", "serve_task",
                 "skip_until", "snapshot_offset", "socket", "user", "waiter", "writer")

    def __init__(self, socket: Socket, room: RoomChannel, user: User | None,
                 direct: DirectWriter | None = None) -> None:
        self.socket = socket
        self.direct = direct
        self.room = room
        self.user = user
        self.queue: deque[str] = deque()
        self.waiter: asyncio.Future[None] | None = None
        # Until the hello (or resume) is queued, events are held here with their
        # offsets, so none is lost or doubled around the snapshot.
        self.ready = False
        self.pending: list[tuple[int | None, str]] = []
        # Events up to this offset are in the snapshot already but may still be on
        # their way through pub/sub (Redis answered the snapshot read first): skip them.
        self.skip_until = 0
        # Which life of the room's offsets, and which offset, its last snapshot was of.
        self.epoch = 0
        self.snapshot_offset = 0
        self.closed = False
        self.drop_code: int | None = None
        self.writer: asyncio.Task[None] | None = None
        self.serve_task: asyncio.Task[Any] | None = None
        self.bad_frames = 0
        self.budget_tokens = 0.0
        self.budget_at = 0.0
        self.likes = LikeBudget()

    def offer(self, frame: str, framed: bytes | None = None) -> None:
        """Queue a frame without waiting; a full queue drops the connection.

        `framed` is the same frame as websocket bytes, when the caller built it already.
        """
        if self.closed:
            return
        direct = self.direct
        if direct is not None:
            outcome = direct.write(framed if framed is not None else protocol.ws_text_frame(frame),
                                   self.room.hub.config.send_queue_bytes)
            if outcome:
                self.write_failed(outcome)
            return
        if len(self.queue) >= self.room.hub.config.send_queue_frames:
            self.drop(protocol.CLOSE_SLOW_CONSUMER)
            return
        self.queue.append(frame)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def write_failed(self, outcome: int) -> None:
        if outcome == OVER_LIMIT:
            self.drop(protocol.CLOSE_SLOW_CONSUMER)
        elif outcome == CLOSED:
            self.closed = True

    def go_ready(self, after: int) -> None:
        """The snapshot (up to offset `after`) is queued: release the held events after it."""
        held, self.pending = self.pending, []
        self.ready = True
        self.epoch = self.room.epoch
        self.snapshot_offset = after
        if after > self.room.last_offset:
            self.skip_until = after
        if self.direct is not None:
            # Nothing waits in the queue of a direct connection: the snapshot goes out first.
            greeting = list(self.queue)
            self.queue.clear()
            for frame in greeting:
                self.offer(frame)
        for offset, frame in held:
            if offset is None or offset > after:
                self.offer(frame)
        if self.queue:
            self.offer_wake()

    def offer_wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            self.waiter = None
            waiter.set_result(None)

    def drop(self, code: int) -> None:
        """Stop sending and end the connection with `code` (never waits)."""
        if self.closed:
            return
        if code == protocol.CLOSE_SLOW_CONSUMER:
            WS_SLOW_CONSUMERS.inc()
            log.info("realtime: room %s: dropping a slow consumer", self.room.id)
        self.closed = True
        self.drop_code = code
        self.queue.clear()
        if self.writer is not None:
            self.writer.cancel()
        if self.serve_task is not None and self.serve_task is not asyncio.current_task():
            self.serve_task.cancel()

    async def write_loop(self) -> None:
        queue = self.queue
        send = self.socket.send
        loop = asyncio.get_running_loop()
        try:
            while True:
                while queue:
                    await send(queue.popleft())
                if self.closed:
                    return
                self.waiter = loop.create_future()
                await self.waiter
        except asyncio.CancelledError:
            raise
        except Exception:
            # The client went away mid-send; the reader sees the disconnect and cleans up.
            self.closed = True

    async def finish(self, code: int) -> None:
        """Send what is queued (the errors that explain the close), then let it close with `code`."""
        self.drop_code = code
        self.closed = True
        self.offer_wake()
        writer = self.writer
        if writer is not None and not writer.done():
            # A second at most: a client that does not read gets the close without them.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait({writer}, timeout=1)

    def take_frame_budget(self, config: HubConfig) -> bool:
        now = time.monotonic()
        if self.budget_at == 0.0:
            self.budget_tokens = float(config.client_frames_burst)
        else:
            self.budget_tokens = min(float(config.client_frames_burst),
                                     self.budget_tokens + (now - self.budget_at)
                                     * config.client_frames_per_second)
        self.budget_at = now
        if self.budget_tokens < 1.0:
            return False
        self.budget_tokens -= 1.0
        return True


class RoomChannel:
    """A room this process serves: its subscription, local connections and counters."""

    def __init__(self, hub: Hub, room_id: int) -> None:
        self.hub = hub
        self.id = room_id
        self.channel = room_channel(hub.keys, room_id)
        self.connections: dict[Connection, None] = {}
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closing = False
        self.close_handle: asyncio.TimerHandle | None = None
        # The last offset delivered; events must come in order without gaps.
        self.last_offset = 0
        self.repairing: list[bytes] | None = None
        self.room: dict[str, Any] = {}
        self.loading: asyncio.Future[bool] | None = None
        self.rehello_task: asyncio.Task[None] | None = None
        # Bumped when the room's offsets start over (Redis lost its keys) or events
        # were lost for good: every snapshot from before is void.
        self.epoch = 0
        # The offset of the last `snapshot_rebuilt`: snapshots older than it are void.
        self.rebuilt_at = 0
        # Counters from the last presence report.
        self.viewers_total = 0
        self.viewers_reported_local = 0
        self.likes_total: int | None = None
        self.likes_pending = 0
        self.viewers_sent: int | None = None
        self.viewers_sent_at = 0.0
        # Chat batching (huge rooms).
        self.batch: list[tuple[int | None, str]] = []
        self.batch_handle: asyncio.TimerHandle | None = None
        self.batch_flushed_at = 0.0

    # Counts -------------------------------------------------------------------

    def viewers_now(self) -> int:
        return max(0, self.viewers_total - self.viewers_reported_local) + len(self.connections)

    def on_totals(self, totals: presence.RoomTotals, reported_local: int) -> None:
        self.viewers_total = totals.viewers
        self.viewers_reported_local = reported_local
        if self.likes_total is None:
            self.likes_total = totals.likes
        elif totals.likes != self.likes_total:
            delta = totals.likes - self.likes_total
            self.likes_total = totals.likes
            self.send_ephemeral(protocol.encode(ServerEvent.LIKES, {"total": totals.likes, "delta": delta}))
        now = time.monotonic()
        count = self.viewers_now()
        if count != self.viewers_sent and (
                now - self.viewers_sent_at) * 1000 >= self.hub.config.viewers_interval_ms:
            self.viewers_sent = count
            self.viewers_sent_at = now
            self.send_ephemeral(protocol.encode(ServerEvent.VIEWERS, {"count": count}))

    # Events -------------------------------------------------------------------

    def on_message(self, payload: bytes) -> None:
        if self.repairing is not None:
            self.repairing.append(payload)
            return
        offset = protocol.frame_offset(payload)
        if offset is not None:
            if offset <= self.last_offset:
                if protocol.frame_type(payload) != ServerEvent.SNAPSHOT_REBUILT:
                    return  # already delivered (by a gap repair)
                # The state was rebuilt after Redis lost it, and the offsets started over.
                self.last_offset = offset - 1
                self.epoch += 1
            if self.last_offset and offset > self.last_offset + 1:
                self.repairing = [payload]
                self.hub.spawn(self.repair(), f"repair-room-{self.id}")
                return
            self.last_offset = offset
        kind = protocol.frame_type(payload)
        frame = payload.decode()
        if kind == ServerEvent.ROOM:
            with contextlib.suppress(Exception):
                self.room = orjson.loads(payload)["data"]
        self.deliver(frame, offset, kind)
        if kind == ServerEvent.SNAPSHOT_REBUILT and offset is not None:
            self.rebuilt_at = offset
            self.schedule_rehello()

    async def repair(self) -> None:
        """Fetch the events this process missed (pub/sub is at-most-once) from the history."""
        try:
            missed = await history.read_since(self.hub.redis, self.hub.keys, self.id, self.last_offset)
        except Exception:
            log.exception("realtime: repairing room %s failed", self.id)
            missed = None
        held, self.repairing = self.repairing or [], None
        if missed is None:
            # Too far behind: everyone here starts over from a fresh snapshot.
            for payload in held:
                offset = protocol.frame_offset(payload)
                if offset is not None:
                    self.last_offset = max(self.last_offset, offset)
            self.epoch += 1
            self.schedule_rehello()
            return
        for payload in [*missed.frames, *held]:
            self.on_message(payload)

    def deliver(self, frame: str, offset: int | None, kind: str) -> None:
        config = self.hub.config
        local = len(self.connections)
        if kind == ServerEvent.CHAT and local >= config.batch_min_connections:
            self.batch.append((offset, frame))
            if self.batch_handle is None:
                interval = max(config.batch_interval_ms / 1000, local / config.room_frames_per_second)
                wait = self.batch_flushed_at + interval - time.monotonic()
                if wait <= 0:
                    self.flush_batch()
                else:
                    self.batch_handle = asyncio.get_running_loop().call_later(wait, self.flush_batch)
            return
        if self.batch:
            self.flush_batch()
        self.fanout(frame, [(offset, frame)])

    def flush_batch(self) -> None:
        if self.batch_handle is not None:
            self.batch_handle.cancel()
            self.batch_handle = None
        items, self.batch = self.batch, []
        if not items:
            return
        self.batch_flushed_at = time.monotonic()
        frame = items[0][1] if len(items) == 1 else protocol.batch_frame([f for _, f in items])
        self.fanout(frame, items)

    def fanout(self, frame: str, items: list[tuple[int | None, str]]) -> None:
        # The hot loop: the same string (or the same websocket bytes) to every local
        # connection, no awaits.
        framed: bytes | None = None
        limit = self.hub.config.send_queue_bytes
        # Counted once per fan-out, not per viewer.
        WS_FANOUTS.inc()
        WS_FRAMES_SENT.inc(len(self.connections))
        for conn in self.connections:
            if not conn.ready:
                conn.pending.extend(items)
            elif conn.skip_until:
                self.offer_after_snapshot(conn, items)
            elif conn.direct is None:
                conn.offer(frame)
            elif not conn.closed:
                # Connection.offer inlined for the direct path: this runs once per viewer.
                if framed is None:
                    framed = protocol.ws_text_frame(frame)
                outcome = conn.direct.write(framed, limit)
                if outcome:
                    conn.write_failed(outcome)

    @staticmethod
    def offer_after_snapshot(conn: Connection, items: list[tuple[int | None, str]]) -> None:
        for offset, frame in items:
            if offset is None:
                conn.offer(frame)
            elif offset > conn.skip_until:
                conn.skip_until = 0
                conn.offer(frame)

    def send_ephemeral(self, frame: str) -> None:
        self.fanout(frame, [(None, frame)])

    def schedule_rehello(self) -> None:
        if self.rehello_task is None or self.rehello_task.done():
            self.rehello_task = self.hub.spawn(self.rehello(), f"rehello-room-{self.id}")

    async def rehello(self) -> None:
        """Send a fresh hello to every connection whose snapshot is void (see `epoch`)."""
        while True:
            void = [conn for conn in self.connections if conn.ready and not conn.closed and (
                conn.epoch != self.epoch or conn.snapshot_offset < self.rebuilt_at)]
            if not void:
                return
            for conn in void:
                if conn.closed:
                    continue
                conn.ready = False
                try:
                    await self.hub.send_hello(self, conn)
                except Exception:
                    log.exception("realtime: fresh hello for room %s failed", self.id)
                    conn.drop(protocol.CLOSE_GOING_AWAY)


class RoomObserver(Protocol):
    """Who hears of joins, leaves, accepted chat lines and likes (the analytics recorder, wired
    in by the web edge; realtime never imports it). Calls must return at once: they buffer."""

    def viewer_joined(self, room_id: int, viewer_key: str, user_id: int | None = None) -> None: ...

    def viewer_left(self, room_id: int, viewer_key: str, user_id: int | None = None) -> None: ...

    def chat(self, room_id: int, user_id: int | None) -> None: ...

    def likes(self, room_id: int, count: int) -> None: ...


class Hub:
    def __init__(self, backend: Backend, redis: aioredis.Redis, keys: Keys, config: HubConfig,
                 loader: RoomLoader, observer: RoomObserver | None = None) -> None:
        self.observer = observer
        self.backend = backend
        self.redis = redis
        self.keys = keys
        self.config = config
        self.loader = loader
        self.process_id = f"{socketlib.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.rooms: dict[int, RoomChannel] = {}
        self.rooms_by_channel: dict[str, RoomChannel] = {}
        self.users: dict[int, dict[Connection, None]] = {}
        self.user_channels: dict[str, int] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.ticker: asyncio.Task[None] | None = None
        self.serving: set[asyncio.Task[Any]] = set()
        self.stopping = False
        self.greeting_gate = asyncio.Semaphore(config.max_concurrent_greetings)
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
            frame = payload.decode()
            for conn in self.users.get(user_id, {}):
                if conn.ready:
                    conn.offer(frame)
                else:
                    conn.pending.append((None, frame))

    def on_reconnect(self) -> None:
        for room in self.rooms.values():
            if room.repairing is None and room.last_offset:
                room.repairing = []
                self.spawn(room.repair(), f"repair-room-{room.id}")

    # Rooms ---------------------------------------------------------------------------

    async def open_room(self, room_id: int) -> RoomChannel:
        room = self.rooms.get(room_id)
        if room is None:
            room = RoomChannel(self, room_id)
            self.rooms[room_id] = room
            self.rooms_by_channel[room.channel] = room
            try:
                await self.backend.subscribe(room.channel)
                totals = await presence.report(
                    self.redis, self.keys, self.process_id,
                    [presence.RoomReport(room_id, 0, 0)], ttl_ms=self.config.presence_ttl_ms)
                room.on_totals(totals[0], 0)
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
        room.connections.pop(conn, None)
        if not room.connections and room.close_handle is None and not self.stopping:
            room.close_handle = asyncio.get_running_loop().call_later(
                self.config.empty_room_grace_ms / 1000, self._close_if_empty, room)

    def _close_if_empty(self, room: RoomChannel) -> None:
        room.close_handle = None
        if room.connections or room.closing:
            return
        room.closing = True
        self.forget_room(room)
        self.spawn(self._unsubscribe_room(room), f"close-room-{room.id}")

    async def _unsubscribe_room(self, room: RoomChannel) -> None:
        with contextlib.suppress(Exception):
            await self.backend.unsubscribe(room.channel)
        with contextlib.suppress(Exception):
            await presence.leave(self.redis, self.keys, self.process_id, [room.id])

    async def ensure_state(self, room: RoomChannel) -> bool:
        """Have the room's state rebuilt once per process, however many viewers wait for it."""
        if room.loading is None or room.loading.done():
            room.loading = asyncio.ensure_future(self.loader(room.id))
        return await asyncio.shield(room.loading)

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
                    viewer_key: str | None = None) -> None:
        """Run one accepted websocket until it closes. Raises NoSuchRoom before any frame."""
        room = await self.open_room(room_id)
        if room.close_handle is not None:
            room.close_handle.cancel()
            room.close_handle = None
        conn = Connection(socket, room, user, direct if self.config.direct_writes else None)
        conn.serve_task = asyncio.current_task()
        if conn.serve_task is not None:
            self.serving.add(conn.serve_task)
        room.connections[conn] = None
        user_id = int(user["id"]) if user else None
        joined = False
        try:
            if user_id is not None:
                await self.join_user(user_id, conn)
            await self.greet(room, conn, resume_from)
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

    async def greet(self, room: RoomChannel, conn: Connection, resume_from: int | None) -> None:
        if resume_from is not None and resume_from > 0:
            async with self.greeting_gate:
                missed = await history.read_since(self.redis, self.keys, room.id, resume_from)
            if missed is not None:
                conn.queue.append(protocol.encode(ServerEvent.RESUME, {
                    "from_offset": resume_from, "to_offset": missed.to_offset,
                    "viewers": room.viewers_now(), "likes": room.likes_total or 0}))
                conn.queue.extend(frame.decode() for frame in missed.frames)
                conn.go_ready(missed.to_offset)
                return
        await self.send_hello(room, conn)

    async def send_hello(self, room: RoomChannel, conn: Connection) -> None:
        user = conn.user
        user_id = int(user["id"]) if user else None
        async with self.greeting_gate:
            snapshot = await history.read_snapshot(self.redis, self.keys, room.id, user_id)
        if not snapshot.exists:
            if not await self.ensure_state(room):
                raise NoSuchRoom(room.id)
            async with self.greeting_gate:
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

    async def read_loop(self, room: RoomChannel, conn: Connection) -> None:
        config = self.config
        max_bytes = protocol.max_frame_bytes(config.chat_max_length)
        while not conn.closed:
            raw = await conn.socket.receive()
            if raw is None:
                return
            try:
                if not conn.take_frame_budget(config):
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
                await self.chat(room, conn, conn.user, frame.text)

    async def chat(self, room: RoomChannel, conn: Connection, user: User, text: str) -> None:
        moderator = user["role"] in MODERATOR_ROLES or user["id"] == room.room.get("host_id")
        try:
            await post_chat(self.redis, self.keys, room.id, user, text,
                            max_length=self.config.chat_max_length,
                            min_interval_ms=self.config.chat_min_interval_ms,
                            slow_mode_seconds=int(room.room.get("slow_mode_seconds") or 0),
                            moderator=moderator)
        except ChatRefused as refused:
            conn.offer(protocol.encode(ServerEvent.ERROR, refused.to_dict()))
            return
        self.observe("chat", room.id, int(user["id"]))

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
        rooms = [room for room in self.rooms.values() if room.opened.done() and not room.closing]
        reports = []
        for room in rooms:
            reports.append(presence.RoomReport(room.id, len(room.connections), room.likes_pending))
            room.likes_pending = 0
        try:
            totals = await presence.report(self.redis, self.keys, self.process_id, reports,
                                           ttl_ms=self.config.presence_ttl_ms)
        except Exception:
            for room, item in zip(rooms, reports, strict=True):
                room.likes_pending += item.likes_delta
            raise
        for room, item, total in zip(rooms, reports, totals, strict=True):
            room.on_totals(total, item.local_viewers)
