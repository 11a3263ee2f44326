"""A room this process serves: its local viewers, its offsets, presence and likes, chat batching.

Events reach a `RoomChannel` once per process from pub/sub (`on_message`), in offset order:
a gap is repaired from the room's history before anything after it is delivered. Chat in a
room with many local viewers is batched (docs/decisions/0011); every other event flushes the
pending chat first and goes at once. The frame itself goes out through the hub's fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from realtime import history, presence, protocol
from realtime.chat import MODERATOR_ROLES
from realtime.protocol import ServerEvent
from realtime.publish import room_channel

if TYPE_CHECKING:
    from realtime.connection import Connection
    from realtime.hub import Hub

log = logging.getLogger(__name__)


class RoomChannel:
    """A room this process serves: its subscription, local connections and counters."""

    def __init__(self, hub: Hub, room_id: int) -> None:
        self.hub = hub
        self.id = room_id
        self.channel = room_channel(hub.keys, room_id)
        self.connections: dict[Connection, None] = {}
        # The room's own staff watching it (its host's panel, ops): served like everyone, but
        # not counted in "Watching now", which tells the host about the audience.
        self.staff: set[Connection] = set()
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
        # Chat batching (huge rooms): the viewers in groups that take turns (`hold`), each
        # group's held events, how many events are held at all, and the turns' timer.
        groups = max(1, hub.config.batch_groups)
        self.groups: list[dict[Connection, None]] = [{} for _ in range(groups)]
        self.pending: list[list[tuple[int | None, str]]] = [[] for _ in range(groups)]
        self.held = 0
        self.next_group = 0
        self.idle_ticks = 0
        self.tick_handle: asyncio.TimerHandle | None = None
        self.tick_due = 0.0

    # Subscription ---------------------------------------------------------------

    async def open(self) -> None:
        """Subscribe, then take the room's counts: both before any viewer is greeted."""
        hub = self.hub
        await hub.backend.subscribe(self.channel)
        totals = await presence.report(hub.redis, hub.keys, hub.process_id,
                                       [presence.RoomReport(self.id, 0, 0)],
                                       ttl_ms=hub.config.presence_ttl_ms)
        self.on_totals(totals[0], 0)

    async def close(self) -> None:
        """Unsubscribe and leave the room's presence; best effort, the keys expire anyway."""
        hub = self.hub
        if self.tick_handle is not None:
            self.tick_handle.cancel()
            self.tick_handle = None
        with contextlib.suppress(Exception):
            await hub.backend.unsubscribe(self.channel)
        with contextlib.suppress(Exception):
            await presence.leave(hub.redis, hub.keys, hub.process_id, [self.id])

    # Counts -------------------------------------------------------------------

    def mark_staff(self, conn: Connection) -> None:
        """Leave the connection out of the viewer count if it is the room's host or ops."""
        user = conn.user
        if user is not None and (user["role"] in MODERATOR_ROLES
                                 or user["id"] == self.room.get("host_id")):
            self.staff.add(conn)

    def local_viewers(self) -> int:
        return len(self.connections) - len(self.staff)

    def viewers_now(self) -> int:
        return max(0, self.viewers_total - self.viewers_reported_local) + self.local_viewers()

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

    def batching(self) -> bool:
        """Whether this room is big enough here for chat to go in batches (docs/decisions/0011)."""
        return len(self.connections) >= self.hub.config.batch_min_connections

    def join(self, conn: Connection) -> None:
        self.connections[conn] = None
        min(self.groups, key=len)[conn] = None

    def leave(self, conn: Connection) -> None:
        self.connections.pop(conn, None)
        for group in self.groups:
            group.pop(conn, None)

    def deliver(self, frame: str, offset: int | None, kind: str) -> None:
        if kind == ServerEvent.CHAT and self.batching():
            self.hold(offset, frame)
            return
        if self.held:
            # The pending chat and this event in one message, the event last: one frame to
            # each viewer instead of two (frames are what cost), order kept, and the event
            # goes at once all the same.
            self.flush_all((offset, frame))
            return
        self.hub.fanout(self, self.connections, frame, [(offset, frame)])

    def batch_interval(self) -> float:
        """How often a viewer of this room gets a batch, in seconds (HubSettings)."""
        config = self.hub.config
        return max(config.batch_interval_ms / 1000,
                   len(self.connections) / config.room_frames_per_second)

    def hold(self, offset: int | None, frame: str) -> None:
        """Keep a frame for each group's next batch, which leaves within the batch interval.

        The room's viewers are split into `batch_groups` groups whose batches leave in turn,
        one group every interval / groups: each viewer still gets one frame an interval, but
        a chat line waits for its group's turn plus the fan-out to that group only, not to
        the whole room (at 5,000 viewers the fan-out of one frame to all is 40-80 ms).
        """
        item = (offset, frame)
        for pending in self.pending:
            pending.append(item)
        self.held += 1
        if self.tick_handle is None:
            # No batch has left for a whole interval: nobody is owed a wait. This one goes to
            # everyone now, and the groups take turns from here.
            self.flush_all(None)
            self.schedule_tick()

    def schedule_tick(self, after: float | None = None) -> None:
        """The next group's turn, interval / groups after the last turn was due (`after`;
        now if None). Timed from when turns were due, not from the end of a fan-out, so a
        viewer's wait stays within the interval; a turn already late is taken at once, and
        turns never bunch up to catch up more than one."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = (now if after is None else after) + self.batch_interval() / len(self.groups)
        self.tick_due = max(due, now)
        self.tick_handle = loop.call_at(self.tick_due, self.tick)

    def tick(self) -> None:
        """One group's turn: its batch leaves, if it has one."""
        self.tick_handle = None
        turn = self.next_group
        self.next_group = (turn + 1) % len(self.groups)
        if self.pending[turn]:
            self.idle_ticks = 0
            self.flush_group(turn, None)
        else:
            self.idle_ticks += 1
        # A whole round of empty turns: no group has had a batch for an interval, so the
        # next line may go to all at once (`hold`).
        if self.idle_ticks < len(self.groups):
            self.schedule_tick(self.tick_due)
        else:
            self.idle_ticks = 0

    def flush_group(self, index: int, extra: tuple[int | None, str] | None) -> None:
        items, self.pending[index] = self.pending[index], []
        if extra is not None:
            items.append(extra)
        if all(not pending for pending in self.pending):
            self.held = 0
        if not items:
            return
        frame = items[0][1] if len(items) == 1 else protocol.batch_frame([f for _, f in items])
        self.hub.fanout(self, self.groups[index], frame, items)

    def flush_all(self, extra: tuple[int | None, str] | None) -> None:
        """Every group's pending batch now (with `extra` last in each)."""
        for index in range(len(self.groups)):
            self.flush_group(index, extra)
        self.held = 0

    def send_ephemeral(self, frame: str) -> None:
        """Viewer counts and likes: in a batched room they wait for the next batch (at most
        the interval) instead of costing every viewer a message of their own."""
        if self.batching():
            self.hold(None, frame)
            return
        self.hub.fanout(self, self.connections, frame, [(None, frame)])

    # Void snapshots -------------------------------------------------------------

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
                    await self.hub.greeter.hello(self, conn)
                except Exception:
                    log.exception("realtime: fresh hello for room %s failed", self.id)
                    conn.drop(protocol.CLOSE_GOING_AWAY)


async def report_presence(hub: Hub, rooms: list[RoomChannel]) -> None:
    """One presence report for `rooms`: each one's local viewers and the likes taken since the
    last report; every room hears its totals back (and tells its viewers of a change)."""
    reports = []
    for room in rooms:
        reports.append(presence.RoomReport(room.id, room.local_viewers(), room.likes_pending))
        room.likes_pending = 0
    try:
        totals = await presence.report(hub.redis, hub.keys, hub.process_id, reports,
                                       ttl_ms=hub.config.presence_ttl_ms)
    except Exception:
        # The likes are counted on the next report rather than lost.
        for room, item in zip(rooms, reports, strict=True):
            room.likes_pending += item.likes_delta
        raise
    for room, item, total in zip(rooms, reports, totals, strict=True):
        room.on_totals(total, item.local_viewers)
