"""The in-process recorder: buffers what happens in live rooms and writes it in batches.

The hub and the track endpoint call its methods, which only append to a list in memory and
never wait: recording must not slow the hub or the buy path. A background task flushes the
buffer every `flush_interval` seconds, or as soon as `batch_size` events are waiting, with one
multi-row INSERT (of column arrays, unnested) per 10,000 rows. A failed flush is logged and
its rows go back to the buffer (up to `max_buffered`; beyond that the oldest are dropped and
counted), so a database hiccup loses nothing and a long outage costs memory that is bounded.

What the hub must call (see docs/decisions/0010-analytics-raw-events.md):

    recorder.viewer_joined(room_id, viewer_key, user_id)   # each accepted websocket connection
    recorder.viewer_left(room_id, viewer_key, user_id)     # each closed one, whatever the reason
    recorder.chat(room_id, user_id)                        # each chat line accepted and published
    recorder.likes(room_id, count)                         # each batch of likes accepted

`viewer_key` is `viewer_key_for(user_id, guest_cookie)`: "u:<id>" for a logged-in user, else
"g:<cookie value>" from the `livesell_vk` cookie, else a key made up per connection. `at`
defaults to now. Start it in the app's lifespan (`await recorder.start()`), stop it there too
(`await recorder.stop()` flushes what is left).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import text

from analytics.models import EventKind
from core.clock import utcnow
from core.db import Database

log = logging.getLogger(__name__)

# The cookie that gives a guest a stable viewer key across page loads and websocket connections.
VIEWER_COOKIE = "livesell_vk"

COLUMNS = ("room_id", "video_id", "kind", "at", "viewer_key", "user_id", "product_id", "count")

# One INSERT per flush: the rows travel as one array per column and `unnest` turns them back
# into rows, so the statement has 8 parameters whatever the row count (a VALUES list would
# have 8 per row and hit PostgreSQL's 32,767-parameter limit) and is prepared once. 10,000
# rows of ~100 bytes is a ~1 MB message.
ROWS_PER_STATEMENT = 10_000
INSERT_ROWS = text(
    "insert into analytics_events (room_id, video_id, kind, at, viewer_key, user_id, "
    "product_id, count) "
    "select * from unnest(cast(:room_id as bigint[]), cast(:video_id as bigint[]), "
    "cast(:kind as varchar[]), "
    "cast(:at as timestamptz[]), cast(:viewer_key as varchar[]), cast(:user_id as bigint[]), "
    "cast(:product_id as bigint[]), cast(:count as bigint[]))")

# How long shutdown waits for a flush in progress (a hung database must not hold it forever).
STOP_TIMEOUT_SECONDS = 10.0

# Five failed flushes in a row (five seconds at the default interval) and the waiting rows go.
MAX_FLUSH_ATTEMPTS = 5


def viewer_key_for(user_id: int | None, guest_cookie: str | None = None) -> str:
    """The key that identifies one viewer in the recorded events and the report."""
    if user_id is not None:
        return f"u:{user_id}"
    if guest_cookie and 8 <= len(guest_cookie) <= 64 and guest_cookie.isascii() \
            and guest_cookie.replace("-", "").replace("_", "").isalnum():
        return f"g:{guest_cookie}"
    # No cookie (a non-browser client): one key per connection. Such a viewer counts once per
    # connection, which over-counts unique viewers only for clients that keep no cookie.
    return f"c:{secrets.token_urlsafe(12)}"


def new_guest_cookie() -> str:
    return secrets.token_urlsafe(16)


# Counted events of one (room, video, kind, viewer, user, product, minute) fold into one row per
# flush; a row has a room or a video, never both.
_CounterKey = tuple[int | None, int | None, str, str | None, int | None, int | None, datetime]


class Recorder:
    def __init__(self, db: Database, *, flush_interval: float = 1.0, batch_size: int = 1000,
                 max_buffered: int = 200_000, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_buffered = max_buffered
        self.clock = clock
        # Joins and leaves keep their exact order and time: watch time is made of them.
        self._sessions: list[dict[str, Any]] = []
        # Chat, likes, views and clicks: count and first time per key.
        self._counters: dict[_CounterKey, list[Any]] = {}
        self._pending = 0
        self._retry: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._retry_failures = 0
        self.written = 0
        self.dropped = 0
        self.failed_flushes = 0

    # What the hub and the track endpoint call --------------------------------------------

    def viewer_joined(self, room_id: int, viewer_key: str, user_id: int | None = None,
                      at: datetime | None = None) -> None:
        self._session(EventKind.VIEWER_JOINED, room_id, viewer_key, user_id, at)

    def viewer_left(self, room_id: int, viewer_key: str, user_id: int | None = None,
                    at: datetime | None = None) -> None:
        self._session(EventKind.VIEWER_LEFT, room_id, viewer_key, user_id, at)

    def chat(self, room_id: int, user_id: int | None, at: datetime | None = None) -> None:
        key = f"u:{user_id}" if user_id is not None else None
        self._count(EventKind.CHAT, room_id, key, user_id, None, 1, at)

    def likes(self, room_id: int, count: int, at: datetime | None = None) -> None:
        if count > 0:
            self._count(EventKind.LIKES, room_id, None, None, None, count, at)

    def product_view(self, room_id: int, product_id: int, viewer_key: str,
                     user_id: int | None = None, at: datetime | None = None) -> None:
        self._count(EventKind.PRODUCT_VIEW, room_id, viewer_key, user_id, product_id, 1, at)

    def product_click(self, room_id: int, product_id: int, viewer_key: str,
                      user_id: int | None = None, at: datetime | None = None) -> None:
        self._count(EventKind.PRODUCT_CLICK, room_id, viewer_key, user_id, product_id, 1, at)

    # A short video's or a replay's page (through the video track endpoint) -----------------

    def video_view(self, video_id: int, viewer_key: str, user_id: int | None = None,
                   at: datetime | None = None) -> None:
        self._count(EventKind.VIDEO_VIEW, None, viewer_key, user_id, None, 1, at,
                    video_id=video_id)

    def video_watch(self, video_id: int, viewer_key: str, user_id: int | None, seconds: int,
                    at: datetime | None = None) -> None:
        # count = seconds watched; a viewer's heartbeats of one minute fold into one row.
        if seconds > 0:
            self._count(EventKind.VIDEO_WATCH, None, viewer_key, user_id, None, seconds, at,
                        video_id=video_id)

    def video_product_click(self, video_id: int, product_id: int, viewer_key: str,
                            user_id: int | None = None, at: datetime | None = None) -> None:
        self._count(EventKind.PRODUCT_CLICK, None, viewer_key, user_id, product_id, 1, at,
                    video_id=video_id)

    # Buffering -----------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        return len(self._sessions) + len(self._counters) + len(self._retry)

    def _session(self, kind: EventKind, room_id: int, viewer_key: str, user_id: int | None,
                 at: datetime | None) -> None:
        self._sessions.append({"room_id": room_id, "video_id": None, "kind": kind.value, "at": at or self.clock(),
                               "viewer_key": viewer_key, "user_id": user_id, "product_id": None,
                               "count": 1})
        self._added()

    def _count(self, kind: EventKind, room_id: int | None, viewer_key: str | None,
               user_id: int | None, product_id: int | None, count: int, at: datetime | None,
               *, video_id: int | None = None) -> None:
        moment = at or self.clock()
        minute = moment.replace(second=0, microsecond=0)
        key = (room_id, video_id, kind.value, viewer_key, user_id, product_id, minute)
        slot = self._counters.get(key)
        if slot is None:
            self._counters[key] = [moment, count]
            self._added()
        else:
            slot[1] += count

    def _added(self) -> None:
        self._pending += 1
        if self._pending >= self.batch_size:
            self._wake.set()

    def _take(self) -> list[dict[str, Any]]:
        rows = self._retry + self._sessions
        for (room_id, video_id, kind, viewer_key, user_id, product_id, _minute), (
                first_at, count) in self._counters.items():
            rows.append({"room_id": room_id, "video_id": video_id, "kind": kind, "at": first_at,
                         "viewer_key": viewer_key, "user_id": user_id, "product_id": product_id,
                         "count": count})
        self._retry, self._sessions, self._counters, self._pending = [], [], {}, 0
        return rows

    # Flushing ------------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write everything buffered; returns the rows written. Never raises on a database
        error: the rows are kept for the next flush (bounded by `max_buffered`)."""
        async with self._lock:
            rows = self._take()
            if not rows:
                return 0
            try:
                async with self.db.transaction() as session:
                    for first in range(0, len(rows), ROWS_PER_STATEMENT):
                        chunk = rows[first:first + ROWS_PER_STATEMENT]
                        await session.execute(INSERT_ROWS, {
                            column: [row[column] for row in chunk] for column in COLUMNS})
            except asyncio.CancelledError:
                # Cancelled mid-write (the process is going down): keep the rows for stop().
                self._retry = rows + self._retry
                raise
            except Exception:
                self.failed_flushes += 1
                log.exception("analytics flush of %d rows failed; keeping them for a retry",
                              len(rows))
                self._retry_failures += 1
                # A batch that failed this often holds a row the database refuses: drop it
                # rather than block recording for good.
                keep = [] if self._retry_failures >= MAX_FLUSH_ATTEMPTS else \
                    rows[-self.max_buffered:]
                self.dropped += len(rows) - len(keep)
                if not keep:
                    self._retry_failures = 0
                self._retry = keep + self._retry
                return 0
            self._retry_failures = 0
            self.written += len(rows)
            return len(rows)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # the loop must outlive any one bad flush
                log.exception("analytics flush loop error")

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="analytics-recorder")

    async def stop(self) -> None:
        """Stop the loop after its current flush and write what is left."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(task, STOP_TIMEOUT_SECONDS)
            except (TimeoutError, asyncio.CancelledError):
                log.warning("analytics recorder did not stop in %s s", STOP_TIMEOUT_SECONDS)
        self._stopping = False
        await self.flush()
