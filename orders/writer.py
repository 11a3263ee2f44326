"""Commit orders to PostgreSQL in batches, before the buyer's reply.

Each buy reserves in Redis and then hands its order to the process's `OrderWriter`, which
groups the orders that arrive while the previous batch is being written into one
statement, its own transaction: the sales rows share-locked, the orders inserted, their
`order_placed` events inserted. Batching costs no added wait when traffic is light (a lone
order is written at once) and turns hundreds of commits a second into a few dozen under
load. Each buyer's reply waits for its own batch's commit. The loop that collects, writes,
retries alone and shuts down is `core.batch_writer.BatchWriter`'s (the grab writer's too);
this module is the statement and what each buyer hears.

The `FOR SHARE` lock and the epoch check make a reconcile safe: a rebuild of the sale's Redis
keys takes the sale row `FOR UPDATE`, so it waits for batches already writing and the
batches after it see the new epoch and refuse reservations made before the rebuild (which
the rebuilt counters do not include). The unwritten-hold sweep uses the same lock the same
way: the reservations it voids (and whose units it releases) are listed on the sale row, and
a batch refuses them (docs/decisions/0013).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.batch_writer import BatchWriter, Pending, discard
from core.db import Database
from core.metrics import WRITER_BATCH_SIZE, WRITER_COMMIT_SECONDS
from orders.errors import SaleUnavailable
from orders.models import Order

log = logging.getLogger(__name__)

# 500 orders x 14 columns stays far below PostgreSQL's 32767 bind parameters per statement.
MAX_BATCH = 500
# Concurrent batches: one being committed while the next fills, plus headroom for a slow one.
WRITERS = 3


# One statement, the same text for every batch size (so it is parsed and planned once, and
# asyncpg keeps it prepared per connection), run as its own transaction (one round trip): the
# batch arrives as one array per column, is unnested into rows, checked against the sales'
# current epochs, inserted into orders, and each new order's `order_placed` event is inserted
# from the RETURNING rows. A row whose epoch is stale (a rebuild happened after its
# reservation) or whose reservation was voided (the sweep released it when its order was
# overdue) is simply not inserted.
INSERT_ORDERS = """
WITH current AS (
    -- The sales' rows, share-locked for this statement: a reconcile or the unwritten-hold
    -- sweep holding one FOR UPDATE makes this wait, then read the new epoch and voided list
    -- (a locked row is re-read at its newest version, whatever this statement's snapshot).
    SELECT id, redis_epoch, commission_rate_bp, voided_reservations FROM sales
    WHERE id = ANY(CAST($1 AS bigint[])) ORDER BY id FOR SHARE
), batch AS (
    SELECT * FROM unnest(
        CAST($2 AS bigint[]), CAST($3 AS bigint[]), CAST($4 AS bigint[]),
        CAST($5 AS bigint[]), CAST($6 AS bigint[]),
        CAST($7 AS bigint[]), CAST($8 AS bigint[]),
        CAST($9 AS text[]), CAST($10 AS text[]), CAST($11 AS bigint[]),
        CAST($13 AS text[]), CAST($14 AS bigint[])
    ) AS b(sale_id, epoch, room_id, product_id, user_id, quantity, amount_minor, currency,
           idempotency_key, reservation_no, source_kind, source_id)
), inserted AS (
    INSERT INTO orders (sale_id, room_id, product_id, user_id, quantity, amount_minor,
                        currency, status, idempotency_key, reservation_no, hold_expires_at,
                        commission_rate_bp, source_kind, source_id)
    SELECT b.sale_id, b.room_id, b.product_id, b.user_id, b.quantity, b.amount_minor,
           b.currency, 'pending_payment', b.idempotency_key, b.reservation_no,
           now() + make_interval(secs => CAST($12 AS integer)),
           -- the sale's rate, snapshotted when the sale was created
           c.commission_rate_bp,
           -- bought in the live room unless the page said a replay or a video
           b.source_kind, b.source_id
    FROM batch b JOIN current c ON c.id = b.sale_id AND c.redis_epoch = b.epoch
                                AND b.reservation_no <> ALL(c.voided_reservations)
    RETURNING id, sale_id, reservation_no, hold_expires_at, created_at, user_id, quantity,
              amount_minor
), events AS (
    INSERT INTO order_events (order_id, type, from_status, to_status, actor_id, data)
    SELECT id, 'order_placed', NULL, 'pending_payment', user_id,
           jsonb_build_object('quantity', quantity, 'amount_minor', amount_minor)
    FROM inserted
)
SELECT id, sale_id, reservation_no, hold_expires_at, created_at FROM inserted
"""



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
    # Where it was bought (orders/sources.py); the live room (the sale's room) by default.
    source_kind: str = "live"
    source_id: int | None = None


@dataclass(frozen=True, slots=True)
class WrittenOrder:
    id: int
    hold_expires_at: datetime
    created_at: datetime
    # The buyer's reply (JSON), rendered once by the writer's `render_reply`: the buy path sends
    # it and `keep_replies` stores it for repeats of the idempotency key.
    reply: bytes = b""


# How the writer's owner turns a committed order into the buyer's reply, and keeps the replies
# of a committed batch (called after the batch's futures are settled; must not block).
RenderReply = Callable[[NewOrder, int, datetime, datetime], bytes]
KeepReplies = Callable[[list[tuple[NewOrder, WrittenOrder]]], None]


# The queued orders, as the base writer holds them (`core/batch_writer.py`).
_Item = Pending[NewOrder, WrittenOrder]


class OrderWriter(BatchWriter[NewOrder, WrittenOrder]):
    def __init__(self, db: Database, hold_seconds: int, *,
                 render_reply: RenderReply | None = None,
                 keep_replies: KeepReplies | None = None) -> None:
        super().__init__(db, name="order", max_batch=MAX_BATCH, writers=WRITERS)
        self.hold_seconds = hold_seconds
        self.render_reply = render_reply
        self.keep_replies = keep_replies

    def _shutdown_error(self) -> Exception:
        return SaleUnavailable("the server is shutting down")

    async def _settle_failed(self, conn: AsyncConnection | None, item: _Item,
                             exc: Exception) -> AsyncConnection | None:
        await discard(conn)
        await self._fail_or_confirm(item, exc)
        return None

    async def _fail_or_confirm(self, item: _Item, exc: Exception) -> None:
        # A commit whose acknowledgement was lost may have landed: never report as failed an
        # order that exists, or its reservation would be released twice over.
        try:
            async with self.db.session() as session:
                row = (await session.execute(
                    select(Order.id, Order.hold_expires_at, Order.created_at).where(
                        Order.sale_id == item.value.sale_id,
                        Order.reservation_no == item.value.reservation_no))).first()
        except SQLAlchemyError:
            row = None
        if row is not None:
            written = self._written(item.value, row[0], row[1], row[2])
            item.future.set_result(written)
            self._keep([(item.value, written)])
        else:
            item.future.set_exception(exc)

    async def _write_batch(self, conn: asyncpg.Connection, batch: list[_Item]) -> None:
        WRITER_BATCH_SIZE.observe(len(batch))
        orders = [item.value for item in batch]
        started = time.perf_counter()
        result = await conn.fetch(
            INSERT_ORDERS,
            sorted({o.sale_id for o in orders}),
            [o.sale_id for o in orders],
            [o.epoch for o in orders],
            [o.room_id for o in orders],
            [o.product_id for o in orders],
            [o.user_id for o in orders],
            [o.quantity for o in orders],
            [o.amount_minor for o in orders],
            [o.currency for o in orders],
            [o.idempotency_key for o in orders],
            [o.reservation_no for o in orders],
            self.hold_seconds,
            [o.source_kind for o in orders],
            [o.source_id for o in orders])
        WRITER_COMMIT_SECONDS.observe(time.perf_counter() - started)
        rows = {(r["sale_id"], r["reservation_no"]): r for r in result}
        # Committed: only now may the buyers hear of it.
        kept: list[tuple[NewOrder, WrittenOrder]] = []
        for item, order in zip(batch, orders, strict=True):
            row = rows.get((order.sale_id, order.reservation_no))
            if row is None:
                if not item.future.done():
                    item.future.set_exception(SaleUnavailable(
                        "the sale was being rebuilt or the order took too long; try again"))
                continue
            # Kept even when the buyer went away: a retry with the key gets this reply.
            done = self._written(order, row["id"], row["hold_expires_at"], row["created_at"])
            kept.append((order, done))
            if not item.future.done():
                item.future.set_result(done)
        self._keep(kept)

    def _written(self, order: NewOrder, order_id: int, hold_expires_at: datetime,
                 created_at: datetime) -> WrittenOrder:
        reply = (self.render_reply(order, order_id, hold_expires_at, created_at)
                 if self.render_reply is not None else b"")
        return WrittenOrder(order_id, hold_expires_at, created_at, reply)

    def _keep(self, written: list[tuple[NewOrder, WrittenOrder]]) -> None:
        if written and self.keep_replies is not None:
            try:
                self.keep_replies(written)
            except Exception:  # a cache: a repeat is answered from PostgreSQL instead
                log.warning("keeping %d first replies failed", len(written), exc_info=True)

