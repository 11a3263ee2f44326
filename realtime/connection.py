"""One viewer's connection: its bounded send queue, the direct writer, its frame budget.

A connection never makes the room wait: `offer` queues a frame (or writes it to the
transport, see `DirectWriter`) without awaiting, and a connection that falls too far
behind is dropped with close code 4408. A writer task per connection drains the queue on
the ASGI path; on the direct path the transport's buffer is the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from core.metrics import WS_SLOW_CONSUMERS
from realtime import protocol
from realtime.likes import LikeBudget

if TYPE_CHECKING:
    from realtime.hub import HubConfig
    from realtime.room import RoomChannel

log = logging.getLogger(__name__)

User = dict[str, Any]


class Socket(Protocol):
    """What the hub needs of a websocket (the web edge adapts ASGI to it)."""

    async def send(self, frame: str) -> None: ...

    async def receive(self) -> str | bytes | None:
        """The next client frame, or None once the client has gone."""
        ...

    async def close(self, code: int, reason: str = "") -> None: ...


class DirectWriter(Protocol):
    """The connection's transport, taking whole pre-framed websocket frames without waiting
    (these are asyncio's WriteTransport methods).

    The web edge offers one when the server lets it write to the connection's
    transport (no extension negotiated); the transport's buffer is then the
    connection's bounded queue, and the fan-out costs one write per viewer: the
    fan-out calls these on the transport itself, with no wrapper in between.
    """

    def write(self, data: bytes) -> None: ...

    def is_closing(self) -> bool: ...

    def get_write_buffer_size(self) -> int: ...

    def abort(self) -> None: ...


class Connection:
    """One websocket: its bounded send queue and the state the hub keeps about it."""

    __slots__ = ("bad_frames", "budget_at", "budget_tokens", "closed", "config", "direct",
                 "drop_code", "epoch", "likes", "pending", "queue", "ready", "room", "serve_task",
                 "skip_until", "snapshot_offset", "socket", "user", "user_offset",
                 "user_pending", "user_ready", "waiter", "writer")

    def __init__(self, socket: Socket, room: RoomChannel, user: User | None, config: HubConfig,
                 direct: DirectWriter | None = None) -> None:
        self.socket = socket
        self.direct = direct
        self.room = room
        self.user = user
        self.config = config
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
        # The user's events (any room's connection of a signed-in user): the last
        # `user_offset` sent, and until its user greeting is queued (after the room's), the
        # user events that arrived, held with their offsets (realtime.greeting.greet_user).
        self.user_offset = 0
        self.user_ready = False
        self.user_pending: list[tuple[int | None, str]] = []
        self.closed = False
        self.drop_code: int | None = None
        self.writer: asyncio.Task[None] | None = None
        self.serve_task: asyncio.Task[Any] | None = None
        self.bad_frames = 0
        self.budget_tokens = 0.0
        self.budget_at = 0.0
        self.likes = LikeBudget()

    def offer(self, frame: str) -> None:
        """Queue a frame without waiting; a full queue drops the connection.

        The fan-out writes to direct connections itself (Hub.fanout), framing once for all.
        """
        if self.closed:
            return
        if self.direct is not None:
            self.write_direct(protocol.ws_text_frame(frame))
            return
        if len(self.queue) >= self.config.send_queue_frames:
            self.drop(protocol.CLOSE_SLOW_CONSUMER)
            return
        self.queue.append(frame)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def write_direct(self, framed: bytes) -> None:
        """Write a pre-framed frame to the transport; more than `send_queue_bytes` already
        waiting for the client drops the connection. Hub.fanout has the same lines inlined
        (they run once per viewer per frame there)."""
        direct = self.direct
        if direct is None or direct.is_closing():
            self.closed = True
        elif direct.get_write_buffer_size() > self.config.send_queue_bytes:
            self.drop(protocol.CLOSE_SLOW_CONSUMER)
        else:
            direct.write(framed)

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

    def offer_user(self, offset: int | None, frame: str) -> None:
        """Offer a user event unless this connection was sent it already (replay and live
        delivery may both carry it around the user greeting)."""
        if offset is None:
            self.offer(frame)
        elif offset > self.user_offset:
            self.user_offset = offset
            self.offer(frame)

    def offer_after_snapshot(self, items: list[tuple[int | None, str]]) -> None:
        """Offer the events its snapshot does not hold yet (see `skip_until`)."""
        for offset, frame in items:
            if offset is None:
                self.offer(frame)
            elif offset > self.skip_until:
                self.skip_until = 0
                self.offer(frame)

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

    def take_frame_budget(self) -> bool:
        """One client frame from a token bucket: a steady rate and a burst (HubConfig)."""
        config = self.config
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
