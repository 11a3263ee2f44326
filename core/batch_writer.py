"""A write to PostgreSQL batched across concurrent callers, committed before each caller's reply.

The hot write paths (a flash-sale buy: `orders.writer.OrderWriter`; a red envelope grab:
`engagement.grab_writer.GrabWriter`) hand their row to the process's writer and wait for its
future. A few writer tasks each take whatever is queued (up to `max_batch`) and write it with
one statement that is its own transaction, so what arrives while one batch is being committed
goes into the next: no added wait when traffic is light (a lone item is written at once), and
hundreds of commits a second become a few dozen under load.

This class is the loop and nothing else: collecting a batch, one connection per writer task in
autocommit, a failed batch retried item by item (one bad row must not fail the others), and
shutdown. A subclass writes a batch and settles its futures (`_write_batch`), and says what a
caller hears when the server shuts down (`_shutdown_error`) or when its item failed alone
(`_settle_failed`). The loop adds nothing per item: the subclass's `_write_batch` sees the
batch as it was queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class Pending(Generic[T, R]):
    """One queued item and the future its caller waits on."""

    value: T
    future: asyncio.Future[R] = field(repr=False)


async def driver_of(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy one (which keeps the pooling and invalidation).

    The writers run asyncpg itself, not SQLAlchemy's execute: measured on the buy path, that
    costs about 110 us of CPU per statement, as much as the rest of a small batch's write."""
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


async def discard(conn: AsyncConnection | None) -> None:
    """Drop a connection that failed (it may be broken); the next batch opens a new one."""
    if conn is not None:
        with contextlib.suppress(Exception):
            await conn.invalidate()
            await conn.close()


class BatchWriter(ABC, Generic[T, R]):
    def __init__(self, db: Database, *, name: str, max_batch: int, writers: int) -> None:
        self.db = db
        # names the tasks ("order-writer") and the log lines ("order batch of 3 failed")
        self.name = name
        self.max_batch = max_batch
        self.writers = writers
        self.queue: asyncio.Queue[Pending[T, R]] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []
        self.batches = 0

    @abstractmethod
    async def _write_batch(self, conn: asyncpg.Connection, batch: list[Pending[T, R]]) -> None:
        """Write the batch in one statement (its own transaction) and settle the futures of the
        items it committed or refused. Raising fails nothing yet: the loop retries each item
        whose future is not done alone, and hands a failure to `_settle_failed`."""

    @abstractmethod
    def _shutdown_error(self) -> Exception:
        """What a caller whose item was not written hears when the server shuts down."""

    async def _settle_failed(self, conn: AsyncConnection | None, item: Pending[T, R],
                             exc: Exception) -> AsyncConnection | None:
        """An item written alone failed with `exc`: settle its future. Answers the connection
        the writer goes on with (None: the next write opens a new one). By default the
        connection is dropped, as it may be broken, and the caller hears the error."""
        await discard(conn)
        if not item.future.done():
            item.future.set_exception(exc)
        return None

    def submit(self, value: T) -> asyncio.Future[R]:
        """Queue one item; the future resolves once it is committed, or fails if it is not.
        The writer settles it whatever happens to the caller."""
        self.tasks = [t for t in self.tasks if not t.done()]
        loop = asyncio.get_running_loop()
        while len(self.tasks) < self.writers:
            self.tasks.append(loop.create_task(self._run(), name=f"{self.name}-writer"))
        future: asyncio.Future[R] = loop.create_future()
        self.queue.put_nowait(Pending(value, future))
        return future

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(self._shutdown_error())

    async def _run(self) -> None:
        # Each writer keeps one connection in autocommit: a batch is one statement, one round
        # trip, with no pool checkout, ping, BEGIN or COMMIT around it.
        conn: AsyncConnection | None = None
        try:
            while True:
                batch = [await self.queue.get()]
                while len(batch) < self.max_batch and not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                try:
                    conn = conn or await self._connect()
                    self.batches += 1
                    await self._write_batch(await driver_of(conn), batch)
                except asyncio.CancelledError:
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(self._shutdown_error())
                    raise
                except Exception:  # one bad row must not fail the others: retry each alone
                    log.warning("%s batch of %d failed; writing one by one", self.name,
                                len(batch), exc_info=True)
                    await discard(conn)
                    conn = None
                    for item in batch:
                        if item.future.done():
                            continue
                        try:
                            conn = conn or await self._connect()
                            self.batches += 1
                            await self._write_batch(await driver_of(conn), [item])
                        except Exception as exc:
                            conn = await self._settle_failed(conn, item, exc)
        finally:
            # Cancelled while idle (the usual shutdown) or mid-batch: the connection goes back
            # either way, never left for the garbage collector after the loop is gone.
            if conn is not None:
                await asyncio.shield(conn.close())

    async def _connect(self) -> AsyncConnection:
        conn = await self.db.engine.connect()
        return await conn.execution_options(isolation_level="AUTOCOMMIT")
