"""What one process keeps for the buy path: the order writer and the coalescing stock
publisher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from core.context import Services
from orders import stock, variants
from orders.payments import get_provider
from orders.views import PlacedOrder, first_reply
from orders.writer import NewOrder, OrderWriter, WrittenOrder
from realtime.publish import ServerEvent, publish_room

log = logging.getLogger(__name__)

# A room hears the stock count at most this often per sale and per process: a few updates a
# second reads as live to a viewer, where one per buy would flood a large room.
STOCK_PUBLISH_INTERVAL_SECONDS = 0.25


class StockPublisher:
    """Coalesces stock changes: the first change of a quiet sale is published after at most one
    interval, further changes ride along with the next publish."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        # sale id -> room id
        self.dirty: dict[int, int] = {}
        self.task: asyncio.Task[None] | None = None
        # One flush at a time: a flush called while the interval's own is publishing waits for
        # it, so when it returns, every change made before the call is out.
        self.flushing = asyncio.Lock()

    def changed(self, sale_id: int, room_id: int) -> None:
        self.dirty[sale_id] = room_id
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="stock-publisher")

    async def _run(self) -> None:
        while self.dirty:
            await asyncio.sleep(STOCK_PUBLISH_INTERVAL_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        """Publish what is pending now (when a sale ends, at shutdown, and in tests)."""
        async with self.flushing:
            dirty, self.dirty = self.dirty, {}
            for sale_id, room_id in dirty.items():
                try:
                    await publish_stock(self.svc, sale_id, room_id)
                except Exception:  # a lost stock tick is repaired by the next one
                    log.warning("stock publish for sale %s failed", sale_id, exc_info=True)


async def publish_stock(svc: Services, sale_id: int, room_id: int) -> None:
    """Tell the room the sale's counters. The room state keeps them under `stock`, next to the
    sale's terms under `sale`, so a viewer's hello carries both."""
    counts = await stock.read_counts(svc.redis, stock.SaleKeys.of(svc.keys, sale_id))
    if counts is None:
        return
    data = stock.stock_data(sale_id, counts)
    await publish_room(svc.redis, svc.keys, room_id, ServerEvent.STOCK, data, state={"stock": data})


class VariantStockPublisher:
    """Coalesces the regular-price stock news of each product of a room, as `StockPublisher`
    does a sale's: the first change of a quiet product is published after at most one
    interval, later ones ride along, so a burst of buys is one `variant_stock` event per
    product per interval, carrying the units left as Redis has them then."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.dirty: set[tuple[int, int]] = set()  # (room id, product id)
        self.task: asyncio.Task[None] | None = None
        self.flushing = asyncio.Lock()  # as StockPublisher's

    def changed(self, room_id: int, product_ids: Iterable[int]) -> None:
        self.dirty.update((room_id, product_id) for product_id in product_ids)
        if self.dirty and (self.task is None or self.task.done()):
            self.task = asyncio.get_running_loop().create_task(self._run(),
                                                               name="variant-stock-publisher")

    async def _run(self) -> None:
        while self.dirty:
            await asyncio.sleep(STOCK_PUBLISH_INTERVAL_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        """Publish what is pending now (a worker's task before it returns, shutdown, tests)."""
        async with self.flushing:
            dirty, self.dirty = self.dirty, set()
            for room_id, product_id in sorted(dirty):
                try:
                    await publish_units_left(self.svc, room_id, product_id)
                except Exception:  # a lost tick is repaired by the next one
                    log.warning("variant stock publish for product %s failed", product_id,
                                exc_info=True)


async def publish_units_left(svc: Services, room_id: int, product_id: int) -> None:
    """Tell the room a product's units left at the regular price. The room state keeps the
    last one per product (`variant_stock:<product id>`), so a viewer's hello carries it."""
    data = await variants.units_left(svc, product_id)
    await publish_room(svc.redis, svc.keys, room_id, ServerEvent.VARIANT_STOCK, data,
                       state={f"variant_stock:{product_id}": data})


# Buy scripts in flight per process. redis-py's asyncio pool raises (not waits) once all its
# connections are busy, and a burst of buyers must queue here rather than fail; 64 in flight
# keeps Redis busy (each script runs in microseconds) and leaves connections for the hub.
BUY_REDIS_CONCURRENCY = 64


@dataclass
class OrdersRuntime:
    writer: OrderWriter
    publisher: StockPublisher
    replies: ReplyKeeper
    units: VariantStockPublisher
    loop: asyncio.AbstractEventLoop | None = None
    redis_slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(BUY_REDIS_CONCURRENCY))


_runtimes: dict[int, OrdersRuntime] = {}


def reply_renderer(svc: Services) -> Callable[[NewOrder, int, datetime, datetime], bytes]:
    """The buy reply of a committed order, as JSON: rendered once, sent to the buyer and kept in
    Redis for repeats of the key."""
    provider = get_provider(svc.settings)

    def render(order: NewOrder, order_id: int, hold_expires_at: datetime,
               created_at: datetime) -> bytes:
        placed = PlacedOrder(id=order_id, sale_id=order.sale_id, room_id=order.room_id,
                             product_id=order.product_id, quantity=order.quantity,
                             amount_minor=order.amount_minor, currency=order.currency,
                             hold_expires_at=hold_expires_at, created_at=created_at,
                             source_kind=order.source_kind,
                             source_id=order.source_id)
        return orjson.dumps(first_reply(placed, provider))

    return render


# The replies of committed orders reach Redis at most this late: one script call per sale
# carries every batch committed meanwhile (at 1,500 buys/s, some 75 replies), where one call
# per batch would cost a round trip per order at low rates. A repeat within this time is
# answered from PostgreSQL instead, as one before the commit is.
REPLY_FLUSH_SECONDS = 0.05


class ReplyKeeper:
    """Stores committed orders' first replies in Redis, where the reserve script answers a
    repeat of the key from: coalesced, off the writer's path."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        # sale id -> idempotency field -> reply
        self.pending: dict[int, dict[str, bytes]] = defaultdict(dict)
        self.task: asyncio.Task[None] | None = None

    def __call__(self, written: list[tuple[NewOrder, WrittenOrder]]) -> None:
        for order, done in written:
            self.pending[order.sale_id][stock.idem_field(order.user_id,
                                                         order.idempotency_key)] = done.reply
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="reply-keeper")

    async def _run(self) -> None:
        while self.pending:
            await asyncio.sleep(REPLY_FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        pending, self.pending = self.pending, defaultdict(dict)
        for sale_id, replies in pending.items():
            try:
                await stock.remember_replies(self.svc.redis,
                                             stock.SaleKeys.of(self.svc.keys, sale_id), replies)
            except Exception:  # a cache: a repeat is answered from PostgreSQL instead
                log.warning("keeping first replies of sale %s failed", sale_id, exc_info=True)

    async def drain(self) -> None:
        """Store what is pending (at shutdown: at most one interval and one call per sale)."""
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.flush()


def runtime(svc: Services) -> OrdersRuntime:
    """The runtime of these services in the running event loop (one per process and loop)."""
    loop = asyncio.get_running_loop()
    current = _runtimes.get(id(svc))
    if current is None or current.loop is not loop:
        replies = ReplyKeeper(svc)
        writer = OrderWriter(svc.db, svc.settings.order_hold_seconds,
                             render_reply=reply_renderer(svc), keep_replies=replies)
        current = OrdersRuntime(writer, StockPublisher(svc), replies, VariantStockPublisher(svc),
                                loop=loop)
        _runtimes[id(svc)] = current
    return current


async def close_runtime(svc: Services) -> None:
    """Stop this process's order writers and stock publisher (call at shutdown, after the
    server stopped taking requests): queued orders are failed and their units released."""
    current = _runtimes.pop(id(svc), None)
    if current is None:
        return
    await current.writer.close()
    await current.replies.drain()
    await current.publisher.flush()
    await current.units.flush()
    for task in (current.publisher.task, current.units.task):
        if task is not None:
            task.cancel()
