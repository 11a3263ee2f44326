"""Commit orders to PostgreSQL in batches, before the buyer's reply.

Each buy reserves in Redis and then hands its order to the process's `OrderWriter`, which
groups the orders that arrive while the previous batch is being written into one
transaction: one `SELECT … FOR SHARE` of the sales rows, one multi-row INSERT of the orders,
their `order_placed` events in the same statement. Batching costs no added wait when traffic is light (a
lone order is written at once) and turns hundreds of commits a second into a few dozen
under load. Each buyer's reply waits for its own batch's commit.

The `FOR SHARE` lock and the epoch check make a reconcile safe: a rebuild of the sale's Redis
keys takes the sale row `FOR UPDATE`, so it waits for batches already writing and the
batches after it see the new epoch and refuse reservations made before the rebuild (which
the rebuilt counters do not include).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from core.db import Database
from orders.errors import SaleUnavailable
from orders.models import Order, Sale

log = logging.getLogger(__name__)

# 500 orders x 12 columns stays far below PostgreSQL's 32767 bind parameters per statement.
MAX_BATCH = 500
# Concurrent batches: one being committed while the next fills, plus headroom for a slow one.
WRITERS = 3


# One statement, the same text for every batch size (so it is parsed and planned once):
# the batch arrives as one array per column, is unnested into rows, inserted into orders, and
# each new order's `order_placed` event is inserted from the RETURNING rows.
INSERT_ORDERS = text("""
WITH batch AS (
    SELECT * FROM unnest(
        CAST(:sale_ids AS bigint[]), CAST(:room_ids AS bigint[]),
        CAST(:product_ids AS bigint[]), CAST(:user_ids AS bigint[]),
        CAST(:quantities AS bigint[]), CAST(:amounts AS bigint[]),
        CAST(:currencies AS text[]), CAST(:keys AS text[]), CAST(:reservations AS bigint[])
    ) AS b(sale_id, room_id, product_id, user_id, quantity, amount_minor, currency,
           idempotency_key, reservation_no)
), inserted AS (
    INSERT INTO orders (sale_id, room_id, product_id, user_id, quantity, amount_minor,
                        currency, status, idempotency_key, reservation_no, hold_expires_at)
    SELECT sale_id, room_id, product_id, user_id, quantity, amount_minor, currency,
           'pending_payment', idempotency_key, reservation_no,
           now() + make_interval(secs => CAST(:hold_seconds AS integer))
    FROM batch
    RETURNING id, sale_id, reservation_no, hold_expires_at, created_at, user_id, quantity,
              amount_minor
), events AS (
    INSERT INTO order_events (order_id, type, from_status, to_status, actor_id, data)
    SELECT id, 'order_placed', NULL, 'pending_payment', user_id,
           jsonb_build_object('quantity', quantity, 'amount_minor', amount_minor)
    FROM inserted
)
SELECT id, sale_id, reservation_no, hold_expires_at, created_at FROM inserted
""")


@dataclass
class NewOrder:
    sale_id: int
    room_id: int
    product_id: int
    user_id: int
    quantity: int
    amount_minor: int
    currency: str
    idempotency_key: str
    reservation_no: int
    epoch: int


@dataclass(frozen=True)
class WrittenOrder:
    id: int
    hold_expires_at: datetime
    created_at: datetime


@dataclass
class _Item:
    order: NewOrder
    future: asyncio.Future[WrittenOrder] = field(repr=False)


class OrderWriter:
    def __init__(self, db: Database, hold_seconds: int) -> None:
        self.db = db
        self.hold_seconds = hold_seconds
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []
        self.batches = 0

    def _ensure_started(self) -> None:
        self.tasks = [t for t in self.tasks if not t.done()]
        loop = asyncio.get_running_loop()
        while len(self.tasks) < WRITERS:
            self.tasks.append(loop.create_task(self._run(), name="order-writer"))

    async def write(self, order: NewOrder) -> WrittenOrder:
        """Commit one order; returns when it is in PostgreSQL, raises if it is not."""
        self._ensure_started()
        future: asyncio.Future[WrittenOrder] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Item(order, future))
        # Shielded: a buyer who disconnects must not cancel the write of an order already
        # reserved; the writer settles the future either way.
        return await asyncio.shield(future)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            batch = [first]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self._write_batch(batch)
            except asyncio.CancelledError:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(SaleUnavailable("the server is shutting down"))
                raise
            except Exception:  # one bad row must not fail the others: retry each alone
                log.warning("order batch of %d failed; writing one by one", len(batch),
                            exc_info=True)
                for item in batch:
                    if item.future.done():
                        continue
                    try:
                        await self._write_batch([item])
                    except Exception as exc:
                        await self._fail_or_confirm(item, exc)

    async def _fail_or_confirm(self, item: _Item, exc: Exception) -> None:
        # A commit whose acknowledgement was lost may have landed: never report as failed an
        # order that exists, or its reservation would be released twice over.
        try:
            async with self.db.session() as session:
                row = (await session.execute(
                    select(Order.id, Order.hold_expires_at, Order.created_at).where(
                        Order.sale_id == item.order.sale_id,
                        Order.reservation_no == item.order.reservation_no))).first()
        except SQLAlchemyError:
            row = None
        if row is not None:
            item.future.set_result(WrittenOrder(row[0], row[1], row[2]))
        else:
            item.future.set_exception(exc)

    async def _write_batch(self, batch: list[_Item]) -> None:
        self.batches += 1
        sale_ids = sorted({item.order.sale_id for item in batch})
        async with self.db.transaction() as session:
            epochs = dict((await session.execute(
                select(Sale.id, Sale.redis_epoch).where(Sale.id.in_(sale_ids))
                .order_by(Sale.id).with_for_update(read=True))).all())
            accepted: list[_Item] = []
            for item in batch:
                if epochs.get(item.order.sale_id) != item.order.epoch:
                    item.future.set_exception(SaleUnavailable(
                        "the sale was being rebuilt; try again"))
                else:
                    accepted.append(item)
            if not accepted:
                return
            orders = [item.order for item in accepted]
            result = await session.execute(INSERT_ORDERS, {
                "sale_ids": [o.sale_id for o in orders],
                "room_ids": [o.room_id for o in orders],
                "product_ids": [o.product_id for o in orders],
                "user_ids": [o.user_id for o in orders],
                "quantities": [o.quantity for o in orders],
                "amounts": [o.amount_minor for o in orders],
                "currencies": [o.currency for o in orders],
                "keys": [o.idempotency_key for o in orders],
                "reservations": [o.reservation_no for o in orders],
                "hold_seconds": self.hold_seconds,
            })
            written = {(r.sale_id, r.reservation_no): WrittenOrder(r.id, r.hold_expires_at,
                                                                   r.created_at)
                       for r in result}
        # Committed: only now may the buyers hear of it.
        for item in accepted:
            if not item.future.done():
                item.future.set_result(written[(item.order.sale_id, item.order.reservation_no)])

