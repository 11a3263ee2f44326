"""Verbs of the orders package: run a flash sale, buy, pay, expire, cancel, refund, reconcile.

Rules every verb here keeps:
- PostgreSQL is the truth. A status move is a conditional `UPDATE … WHERE status = :from`
  checked by `transition()`, and is written to the append-only order event log in the same
  transaction.
- Redis is changed only by the Lua scripts in `orders/scripts/`; units go back to a sale
  through `release.lua`, whose holds hash lets each reservation's units go back once.
- Rooms and buyers hear of a change only after the commit that made it.
- Anything that finds a sale's Redis keys missing rebuilds them from PostgreSQL
  (`reconcile_sale`) instead of guessing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import httpx
import orjson
from sqlalchemy import BigInteger, bindparam, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import to_epoch_ms
from core.context import Services
from core.errors import Conflict, NotFound, ValidationError
from core.events import record, unit_of_work
from core.metrics import (
    BUY_ENDED,
    BUY_LIMIT_REACHED,
    BUY_NOT_STARTED,
    BUY_REPLAYED,
    BUY_RESERVED,
    BUY_SOLD_OUT,
    BUY_WRITE_FAILED,
)
from core.states import transition
from orders import commissions, stock
from orders.errors import (
    IdempotencyKeyRequired,
    LimitReached,
    NotEnoughStock,
    NotOrderOwner,
    NotSaleHost,
    OrderNotFound,
    RequestInProgress,
    SaleAlreadyRunning,
    SaleEnded,
    SaleNotFound,
    SaleNotStarted,
    SaleUnavailable,
    SoldOut,
)
from orders.events import SaleSettled
from orders.models import (
    HELD_STATUSES,
    ORDER_MOVES,
    SALE_MOVES,
    SOLD_STATUSES,
    Order,
    OrderEvent,
    OrderStatus,
    OutboxMessage,
    Payment,
    PaymentEvent,
    PaymentStatus,
    Sale,
    SaleEvent,
    SaleStatus,
    lineup_table,
    products_table,
    rooms_table,
)
from orders.payments import PaymentProvider, WebhookEvent, get_provider
from orders.payments.sandbox import SandboxProvider
from orders.runtime import publish_stock, runtime, stock_data
from orders.schemas import SaleIn
from orders.writer import NewOrder, WrittenOrder
from realtime.publish import publish_room, publish_user

log = logging.getLogger(__name__)

# A payment the buyer submitted is "in flight" until its webhook lands; the expiry sweep
# leaves such an order alone for this long, after which the hold expires like any other and a
# late success goes through the late-payment path (re-reserve or refund).
PAYMENT_IN_FLIGHT_GRACE_SECONDS = 30 * 60
# A sale's Redis keys outlive its end by a week: late payments and refunds still find them.
KEY_TTL_AFTER_END_MS = 7 * 24 * 3600 * 1000
# How long a rebuild may hold the sale's rebuild lock before another process may take over.
REBUILD_LOCK_MS = 30_000
# How long a buy waits for a rebuild by another process before answering 503.
REBUILD_WAIT_SECONDS = 5.0
# How long a repeat of an idempotency key waits for the first request's order to commit.
REPLAY_WAIT_SECONDS = 3.0
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_\-:.]{1,100}$")


class Actor(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def is_ops(self) -> bool: ...


Effect = Callable[[], Awaitable[None]]


def _provider(svc: Services) -> PaymentProvider:
    return get_provider(svc.settings)


# Event logs -------------------------------------------------------------------------------


def record_sale_event(session: AsyncSession, sale_id: int, event_type: str, actor_id: int | None,
                      data: dict[str, Any] | None = None) -> None:
    session.add(SaleEvent(sale_id=sale_id, type=event_type, actor_id=actor_id, data=data or {}))


def record_order_event(session: AsyncSession, order_id: int, event_type: str,
                       from_status: OrderStatus | None, to_status: OrderStatus,
                       actor_id: int | None, data: dict[str, Any] | None = None) -> None:
    session.add(OrderEvent(order_id=order_id, type=event_type,
                           from_status=from_status.value if from_status else None,
                           to_status=to_status.value, actor_id=actor_id, data=data or {}))


async def move_order(session: AsyncSession, order_id: int, current: OrderStatus,
                     target: OrderStatus, *, event_type: str, actor_id: int | None,
                     data: dict[str, Any] | None = None, **values: Any) -> bool:
    """One order status move: checked by transition(), applied as a conditional UPDATE,
    logged. Returns False (and changes nothing) when a concurrent move got there first."""
    transition(ORDER_MOVES, current, target, what="an order")
    result = await session.execute(
        update(Order).where(Order.id == order_id, Order.status == current.value)
        .values(status=target.value, updated_at=func.now(), **values).returning(Order.id))
    if result.scalar_one_or_none() is None:
        return False
    record_order_event(session, order_id, event_type, current, target, actor_id, data)
    return True


# Views ----------------------------------------------------------------------------------------


def order_view(order: Order, provider: PaymentProvider) -> dict[str, Any]:
    return {
        "id": order.id,
        "sale_id": order.sale_id,
        "room_id": order.room_id,
        "product_id": order.product_id,
        "status": order.status,
        "quantity": order.quantity,
        "amount_minor": order.amount_minor,
        "currency": order.currency,
        "hold_expires_at": order.hold_expires_at.isoformat(),
        "hold_expires_at_ms": to_epoch_ms(order.hold_expires_at),
        "payment_url": provider.checkout_url(order.id),
        "created_at": order.created_at.isoformat(),
    }


def first_reply(order: Order, provider: PaymentProvider) -> dict[str, Any]:
    """The buy reply exactly as the first request got it: an order awaiting payment. A repeat
    of the idempotency key returns this; the order's current status is at GET /api/orders/{id}."""
    return {"order": {**order_view(order, provider),
                      "status": OrderStatus.PENDING_PAYMENT.value}}


async def sale_view(svc: Services, sale: Sale) -> dict[str, Any]:
    counts = await stock.read_counts(svc.redis, stock.SaleKeys.of(svc.keys, sale.id))
    return {**sale.public(),
            "remaining": counts.available if counts else None,
            "reserved": counts.reserved if counts else None,
            "sold": counts.sold if counts else None,
            "server_time_ms": await stock.redis_time_ms(svc.redis)}


async def publish_sale(svc: Services, sale: Sale, action: str) -> None:
    """Tell the room a sale started, was scheduled, stopped or ended, with the server's clock so
    every viewer's countdown agrees, and the exact counters."""
    view = await sale_view(svc, sale)
    server_time_ms = view.pop("server_time_ms")
    counts = await stock.read_counts(svc.redis, stock.SaleKeys.of(svc.keys, sale.id))
    state: dict[str, Any] = {"sale": view}
    data: dict[str, Any] = {"action": action, "sale": view, "server_time_ms": server_time_ms}
    if counts is not None:
        # The event carries every state field it changes, so a client that applies it ends
        # where a fresh hello starts (the resume rule).
        state["stock"] = data["stock"] = stock_data(sale.id, counts)
    await publish_room(svc.redis, svc.keys, sale.room_id, "sale", data, state=state)


async def _notify_buyer(svc: Services, order: Order) -> None:
    await publish_user(svc.redis, svc.keys, order.user_id, "order",
                       order_view(order, _provider(svc)))


# Sale lifecycle -----------------------------------------------------------------------------


async def create_sale(svc: Services, actor: Actor, room_id: int, data: SaleIn) -> Sale:
    """Start (or schedule) a flash sale of a product of the room's lineup. Its quantity is taken
    from the product's stock now; unsold units go back when the sale is settled."""
    async with svc.db.transaction() as session:
        room = (await session.execute(
            select(rooms_table.c.id, rooms_table.c.host_id, rooms_table.c.status,
                   rooms_table.c.commission_rate_bp)
            .where(rooms_table.c.id == room_id).with_for_update())).first()
        if room is None:
            raise NotFound(f"room {room_id} does not exist", field="room_id",
                           code="room_not_found")
        if room.host_id != actor.id and not actor.is_ops:
            raise NotSaleHost("only the room's host can start a sale")
        if room.status == "ended":
            raise Conflict("the room has ended", field="room_id", code="room_ended")
        in_lineup = await session.scalar(select(lineup_table.c.product_id).where(
            lineup_table.c.room_id == room_id, lineup_table.c.product_id == data.product_id))
        if in_lineup is None:
            raise Conflict("the product is not in this room's lineup", field="product_id",
                           code="not_in_lineup")
        active = await session.scalar(select(Sale.id).where(
            Sale.room_id == room_id,
            Sale.status.in_([SaleStatus.SCHEDULED.value, SaleStatus.RUNNING.value])))
        if active is not None:
            raise SaleAlreadyRunning(f"sale {active} is still on in this room; stop it first",
                                     field="room_id")
        product = (await session.execute(
            update(products_table).where(products_table.c.id == data.product_id,
                                         products_table.c.stock >= data.quantity)
            .values(stock=products_table.c.stock - data.quantity)
            .returning(products_table.c.currency, products_table.c.stock,
                       products_table.c.commission_rate_bp))).first()
        if product is None:
            raise NotEnoughStock("the product has fewer units in stock than the sale's quantity",
                                 field="quantity")
        now = await session.scalar(select(func.now()))
        assert now is not None
        if data.starts_at is not None:
            starts_at = max(data.starts_at, now)
        else:
            starts_at = now + timedelta(seconds=data.start_in_seconds or 0)
        status = SaleStatus.RUNNING if starts_at <= now else SaleStatus.SCHEDULED
        sale = Sale(room_id=room_id, product_id=data.product_id, host_id=room.host_id,
                    price_minor=data.price_minor, currency=product.currency,
                    quantity=data.quantity, per_user_limit=data.per_user_limit,
                    starts_at=starts_at, ends_at=starts_at + timedelta(seconds=data.duration_seconds),
                    status=status.value,
                    # Snapshotted now: a later change of the product's or room's rate applies
                    # to later sales only.
                    commission_rate_bp=commissions.resolve_rate_bp(product.commission_rate_bp,
                                                                   room.commission_rate_bp))
        session.add(sale)
        await session.flush()
        record_sale_event(session, sale.id, "sale_created", actor.id,
                          {"quantity": data.quantity, "price_minor": data.price_minor,
                           "product_stock_left": product.stock})
        if status == SaleStatus.RUNNING:
            record_sale_event(session, sale.id, "sale_started", actor.id)
    await reconcile_sale(svc, sale.id)
    await publish_sale(svc, sale, "started" if status == SaleStatus.RUNNING else "scheduled")
    return sale


async def advance_sales(svc: Services) -> dict[str, list[int]]:
    """Start the scheduled sales whose time has come and end those whose time is up (the
    scheduler runs this every second). The buy window itself is enforced by Redis TIME in the
    buy script; this moves the status, tells the rooms and settles ended sales."""
    transition(SALE_MOVES, SaleStatus.SCHEDULED, SaleStatus.RUNNING, what="a sale")
    transition(SALE_MOVES, SaleStatus.RUNNING, SaleStatus.ENDED, what="a sale")
    async with svc.db.transaction() as session:
        started = list(await session.scalars(
            update(Sale).where(Sale.status == SaleStatus.SCHEDULED.value,
                               Sale.starts_at <= func.now(), Sale.ends_at > func.now())
            .values(status=SaleStatus.RUNNING.value).returning(Sale)))
        for sale in started:
            record_sale_event(session, sale.id, "sale_started", None)
    for sale in started:
        await reconcile_sale(svc, sale.id)
        await publish_sale(svc, sale, "started")
    async with svc.db.transaction() as session:
        ended = list(await session.scalars(
            update(Sale).where(Sale.status.in_([SaleStatus.SCHEDULED.value,
                                                SaleStatus.RUNNING.value]),
                               Sale.ends_at <= func.now())
            .values(status=SaleStatus.ENDED.value).returning(Sale)))
        for sale in ended:
            record_sale_event(session, sale.id, "sale_ended", None)
    stopped = await end_sales_of_ended_rooms(svc)
    for sale in ended:
        # Rebuilt once more at the end: the final counts the room hears are PostgreSQL's,
        # and a hold left by a process that died mid-buy is dropped.
        await reconcile_sale(svc, sale.id)
        await publish_sale(svc, sale, "ended")
        await settle_sale(svc, sale.id)
    return {"started": [s.id for s in started], "ended": [s.id for s in ended],
            "stopped_with_room": stopped}


async def stop_sale(svc: Services, actor: Actor, sale_id: int) -> Sale:
    """The host ends the sale now."""
    return await _end_sale_now(svc, sale_id, actor=actor, event_type="sale_stopped")


async def _end_sale_now(svc: Services, sale_id: int, *, actor: Actor | None,
                        event_type: str) -> Sale:
    """End a sale before its time. The buy window closes in Redis first (by its clock, the one
    the buy script checks), then the sale row records that end."""
    sk = stock.SaleKeys.of(svc.keys, sale_id)
    async with svc.db.transaction() as session:
        sale = await session.scalar(select(Sale).where(Sale.id == sale_id).with_for_update())
        if sale is None:
            raise SaleNotFound(f"sale {sale_id} does not exist", field="sale_id")
        if actor is not None and sale.host_id != actor.id and not actor.is_ops:
            raise NotSaleHost("only the sale's host can stop it")
        current = SaleStatus(sale.status)
        transition(SALE_MOVES, current, SaleStatus.ENDED, what="a sale")
        end_ms = await stock.end_now(svc.redis, sk)
        if end_ms == stock.MISSING:
            end_ms = await stock.redis_time_ms(svc.redis)
        end_at = func.to_timestamp(end_ms / 1000.0)
        result = await session.execute(
            update(Sale).where(Sale.id == sale_id, Sale.status == current.value)
            .values(status=SaleStatus.ENDED.value,
                    stopped_by=actor.id if actor is not None else None,
                    ends_at=func.least(Sale.ends_at, end_at),
                    starts_at=func.least(Sale.starts_at, end_at))
            .returning(Sale))
        if result.scalar_one_or_none() is None:
            transition(SALE_MOVES, SaleStatus.ENDED, SaleStatus.ENDED, what="a sale")
        record_sale_event(session, sale_id, event_type,
                          actor.id if actor is not None else None, {"from": current.value})
        await session.flush()
        await session.refresh(sale)
    await reconcile_sale(svc, sale_id)
    await publish_sale(svc, sale, "stopped")
    await settle_sale(svc, sale_id)
    return sale


async def end_sales_of_ended_rooms(svc: Services) -> list[int]:
    """A sale does not outlive its broadcast: when the room ends, its sale stops."""
    async with svc.db.session() as session:
        ids = list(await session.scalars(
            select(Sale.id).join(rooms_table, rooms_table.c.id == Sale.room_id)
            .where(rooms_table.c.status == "ended",
                   Sale.status.in_([SaleStatus.SCHEDULED.value, SaleStatus.RUNNING.value]))))
    ended = []
    for sale_id in ids:
        try:
            await _end_sale_now(svc, sale_id, actor=None, event_type="sale_stopped_room_ended")
            ended.append(sale_id)
        except Conflict:  # it ended by itself meanwhile
            continue
    return ended


async def settle_sale(svc: Services, sale_id: int) -> int | None:
    """Once an ended sale has no order awaiting payment, give its unsold units back to the
    product's stock, once. Returns the units returned, or None if it is not time yet (or it
    was done already)."""
    async with unit_of_work(svc) as session:
        sale = await session.scalar(
            select(Sale).where(Sale.id == sale_id, Sale.status == SaleStatus.ENDED.value,
                               Sale.settled_at.is_(None)).with_for_update())
        if sale is None:
            return None
        pending = await session.scalar(select(exists().where(
            Order.sale_id == sale_id, Order.status.in_(HELD_STATUSES))))
        if pending:
            return None
        sold = await session.scalar(
            select(func.coalesce(func.sum(Order.quantity), 0))
            .where(Order.sale_id == sale_id, Order.status.in_(SOLD_STATUSES))) or 0
        returned = sale.quantity - int(sold)
        await session.execute(update(products_table)
                              .where(products_table.c.id == sale.product_id)
                              .values(stock=products_table.c.stock + returned))
        await session.execute(update(Sale).where(Sale.id == sale_id)
                              .values(settled_at=func.now()))
        record_sale_event(session, sale_id, "sale_settled", None,
                          {"sold": int(sold), "returned_to_product": returned})
        record(session, SaleSettled(sale_id=sale_id, room_id=sale.room_id,
                                    product_id=sale.product_id, units_returned=returned))
    return returned


async def settle_ended_sales(svc: Services) -> list[int]:
    async with svc.db.session() as session:
        ids = list(await session.scalars(select(Sale.id).where(
            Sale.status == SaleStatus.ENDED.value, Sale.settled_at.is_(None)).limit(100)))
    return [sale_id for sale_id in ids if await settle_sale(svc, sale_id) is not None]


# Reconcile: Redis rebuilt from PostgreSQL --------------------------------------------------------


@dataclass(frozen=True)
class ReconcileReport:
    sale_id: int
    epoch: int
    initial: int
    available: int
    reserved: int
    sold: int


async def reconcile_sale(svc: Services, sale_id: int) -> ReconcileReport:
    """Rebuild a sale's Redis keys (counters, per-user counts, idempotency markers, holds) from
    PostgreSQL while the sale is paused. Used by the reconcile command, at sale start, and by
    any path that finds the keys missing.

    The sale row is held FOR UPDATE while Redis is rewritten, so order batches that were being
    written finish first (and are counted) and later ones see the new epoch and refuse
    reservations made before the rebuild."""
    sk = stock.SaleKeys.of(svc.keys, sale_id)
    token = secrets.token_hex(8)
    if not await svc.redis.set(sk.rebuild_lock, token, nx=True, px=REBUILD_LOCK_MS):
        await _wait_for_rebuild(svc, sk)
        return await _report(svc, sale_id)
    try:
        await stock.pause(svc.redis, sk)
        async with svc.db.transaction() as session:
            sale = await session.scalar(select(Sale).where(Sale.id == sale_id).with_for_update())
            if sale is None:
                raise SaleNotFound(f"sale {sale_id} does not exist", field="sale_id")
            epoch = sale.redis_epoch + 1
            # The new epoch refuses every reservation made before it, so the voided list (of
            # this epoch's reservations, see release_unwritten_holds) starts afresh.
            await session.execute(update(Sale).where(Sale.id == sale_id)
                                  .values(redis_epoch=epoch, voided_reservations=[]))
            rows = (await session.execute(
                select(Order.user_id, Order.quantity, Order.status, Order.reservation_no,
                       Order.idempotency_key).where(Order.sale_id == sale_id))).all()
            users: dict[int, int] = {}
            idem: dict[str, int] = {}
            holds: dict[int, str] = {}
            reserved = sold = 0
            for user_id, quantity, status, reservation_no, key in rows:
                idem[stock.idem_field(user_id, key)] = reservation_no
                if status in HELD_STATUSES or status in SOLD_STATUSES:
                    state = "r" if status in HELD_STATUSES else "s"
                    if state == "r":
                        reserved += quantity
                    else:
                        sold += quantity
                    users[user_id] = users.get(user_id, 0) + quantity
                    holds[reservation_no] = f"{user_id}:{quantity}:{state}"
            available = sale.quantity - reserved - sold
            now_ms = await stock.redis_time_ms(svc.redis)
            end_ms = to_epoch_ms(sale.ends_at)
            await stock.rebuild(svc.redis, sk, stock.Rebuild(
                start_ms=to_epoch_ms(sale.starts_at), end_ms=end_ms,
                per_user_limit=sale.per_user_limit, epoch=epoch, initial=sale.quantity,
                available=available, reserved=reserved, sold=sold,
                ttl_ms=max(end_ms - now_ms, 0) + KEY_TTL_AFTER_END_MS,
                terms=stock.SaleTerms(sale.room_id, sale.product_id, sale.price_minor,
                                      sale.currency),
                users=users, idem=idem, holds=holds))
            record_sale_event(session, sale_id, "sale_reconciled", None,
                              {"epoch": epoch, "available": available, "reserved": reserved,
                               "sold": sold})
        return ReconcileReport(sale_id, epoch, sale.quantity, available, reserved, sold)
    finally:
        await svc.redis.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
            "end return 0", 1, sk.rebuild_lock, token)


async def _wait_for_rebuild(svc: Services, sk: stock.SaleKeys) -> None:
    deadline = time.monotonic() + REBUILD_WAIT_SECONDS
    while await svc.redis.exists(sk.rebuild_lock):
        if time.monotonic() > deadline:
            raise SaleUnavailable("the sale is being rebuilt; try again shortly")
        await asyncio.sleep(0.02)


async def _report(svc: Services, sale_id: int) -> ReconcileReport:
    sk = stock.SaleKeys.of(svc.keys, sale_id)
    counts = await stock.read_counts(svc.redis, sk)
    meta = await svc.redis.hmget(sk.meta, ["epoch", "initial"])
    if counts is None or meta[0] is None:
        raise SaleUnavailable("the sale is being rebuilt; try again shortly")
    return ReconcileReport(sale_id, int(meta[0]), int(meta[1] or 0), counts.available,
                           counts.reserved, counts.sold)


# Buying ---------------------------------------------------------------------------------------


def check_idempotency_key(key: str | None) -> str:
    if not key:
        raise IdempotencyKeyRequired("send an Idempotency-Key header (e.g. a UUID) with each buy",
                                     field="Idempotency-Key")
    if not IDEMPOTENCY_KEY.match(key):
        raise ValidationError([{"field": "Idempotency-Key",
                                "message": "1-100 characters of letters, digits and _-:."}])
    return key


async def buy(svc: Services, user_id: int, sale_id: int, idempotency_key: str | None,
              quantity: int = 1) -> tuple[dict[str, Any], bool]:
    """Reserve in Redis, commit the order to PostgreSQL, and return the reply (and whether it
    is a replay of an earlier request with the same key)."""
    key = check_idempotency_key(idempotency_key)
    rt = runtime(svc)
    sk = stock.SaleKeys.of(svc.keys, sale_id)
    async with rt.redis_slots:
        result = await _reserve(svc, sk, sale_id, user_id, key, quantity)
    code = result.code
    if code == stock.ReserveCode.NOT_STARTED:
        BUY_NOT_STARTED.inc()
        raise SaleNotStarted("the sale has not started yet", field="sale_id")
    if code == stock.ReserveCode.ENDED:
        BUY_ENDED.inc()
        raise SaleEnded("the sale has ended", field="sale_id")
    if code == stock.ReserveCode.LIMIT_REACHED:
        BUY_LIMIT_REACHED.inc()
        raise LimitReached("you have reached this sale's per-person limit", field="quantity",
                           extra={"held": result.held})
    if code == stock.ReserveCode.SOLD_OUT:
        BUY_SOLD_OUT.inc()
        raise SoldOut("sold out" if result.available == 0
                      else f"only {result.available} left", field="quantity",
                      extra={"remaining": result.available})
    if code == stock.ReserveCode.DUPLICATE:
        BUY_REPLAYED.inc()
        return await _replay(svc, sale_id, user_id, key), True
    assert code == stock.ReserveCode.RESERVED and result.terms is not None
    BUY_RESERVED.inc()
    facts = result.terms
    new = NewOrder(sale_id=sale_id, room_id=facts.room_id, product_id=facts.product_id,
                   user_id=user_id, quantity=quantity,
                   amount_minor=facts.price_minor * quantity, currency=facts.currency,
                   idempotency_key=key, reservation_no=result.reservation_no,
                   epoch=result.epoch)
    forget = stock.idem_field(user_id, key)
    pending = rt.writer.submit(new)
    try:
        # Shielded: if this request is cancelled (the buyer went away) the order's write goes
        # on, and its fate decides whether the units go back.
        written = await asyncio.shield(pending)
    except asyncio.CancelledError:
        pending.add_done_callback(
            lambda done: _release_if_unwritten(svc, done, new.sale_id, new.reservation_no,
                                               forget))
        raise
    except Exception:
        BUY_WRITE_FAILED.inc()
        # The order is not in PostgreSQL: its units go back (once, guarded by the holds hash)
        # and the key is forgotten, so the buyer may retry with it.
        await release_reservation(svc, sale_id, result.reservation_no, forget_key=forget)
        rt.publisher.changed(sale_id, facts.room_id)
        raise
    rt.publisher.changed(sale_id, facts.room_id)
    return {"order": _new_order_view(new, written, _provider(svc))}, False


_background: set[asyncio.Task[None]] = set()


def _release_if_unwritten(svc: Services, done: asyncio.Future[WrittenOrder], sale_id: int,
                          reservation_no: int, forget_key: str) -> None:
    if not done.cancelled() and done.exception() is None:
        return
    task = asyncio.get_running_loop().create_task(
        release_reservation(svc, sale_id, reservation_no, forget_key=forget_key))
    _background.add(task)
    task.add_done_callback(_background.discard)


def _new_order_view(new: NewOrder, written: WrittenOrder,
                    provider: PaymentProvider) -> dict[str, Any]:
    return {
        "id": written.id, "sale_id": new.sale_id, "room_id": new.room_id,
        "product_id": new.product_id, "status": OrderStatus.PENDING_PAYMENT.value,
        "quantity": new.quantity, "amount_minor": new.amount_minor, "currency": new.currency,
        "hold_expires_at": written.hold_expires_at.isoformat(),
        "hold_expires_at_ms": to_epoch_ms(written.hold_expires_at),
        "payment_url": provider.checkout_url(written.id),
        "created_at": written.created_at.isoformat(),
    }


async def _reserve(svc: Services, sk: stock.SaleKeys, sale_id: int, user_id: int, key: str,
                   quantity: int) -> stock.ReserveResult:
    deadline = time.monotonic() + REBUILD_WAIT_SECONDS
    while True:
        result = await stock.reserve(svc.redis, sk, user_id, key, quantity)
        if result.code == stock.ReserveCode.MISSING:
            # Fail closed: never guess the stock. Rebuild it from PostgreSQL, then try again.
            log.warning("sale %s keys missing in Redis; rebuilding from PostgreSQL", sale_id)
            await reconcile_sale(svc, sale_id)
        elif result.code == stock.ReserveCode.PAUSED:
            await asyncio.sleep(0.02)
        else:
            return result
        if time.monotonic() > deadline:
            raise SaleUnavailable("the sale is being rebuilt; try again shortly")


async def _replay(svc: Services, sale_id: int, user_id: int, key: str) -> dict[str, Any]:
    deadline = time.monotonic() + REPLAY_WAIT_SECONDS
    while True:
        async with svc.db.session() as session:
            order = await session.scalar(select(Order).where(
                Order.sale_id == sale_id, Order.user_id == user_id,
                Order.idempotency_key == key))
        if order is not None:
            return first_reply(order, _provider(svc))
        if time.monotonic() > deadline:
            raise RequestInProgress("a request with this Idempotency-Key is still being handled",
                                    field="Idempotency-Key")
        await asyncio.sleep(0.02)


async def release_reservation(svc: Services, sale_id: int, reservation_no: int, *,
                              sold: bool = False, forget_key: str = "") -> None:
    """Give units back to the sale's available count through the once-only path. If the keys
    are gone, the rebuild from PostgreSQL (where the order has already moved) does it."""
    result = await stock.release(svc.redis, stock.SaleKeys.of(svc.keys, sale_id), reservation_no,
                                 sold=sold, forget_key=forget_key)
    if result == stock.MISSING:
        await reconcile_sale(svc, sale_id)


# Reservations whose order was never written ----------------------------------------------------

# Overdue reservations of one sale that one sweep looks at. A sale's reservations number about
# its quantity (plus what expiry gives back) and each is looked at once, so this only paces the
# sweep right after a very large rush.
UNWRITTEN_SWEEP_BATCH = 1000
# Every order batch scans its sale's voided list once per row; past this many entries a rebuild
# (whose new epoch refuses them all) empties it. Only repeated crashes mid-rush get there.
VOIDED_REBUILD_THRESHOLD = 1000


async def release_unwritten_holds(svc: Services) -> dict[int, list[int]]:
    """Give back the units of reservations whose order never reached PostgreSQL (the process
    that made them died between the reserve script and the order's commit), and free their
    idempotency keys so the buyers can buy again. The scheduler runs this every few seconds.
    Returns the released reservation numbers by sale. See docs/decisions/0013."""
    async with svc.db.session() as session:
        sale_ids = list(await session.scalars(select(Sale.id).where(
            (Sale.status == SaleStatus.RUNNING.value)
            | ((Sale.status == SaleStatus.ENDED.value) & Sale.settled_at.is_(None)))))
    released: dict[int, list[int]] = {}
    for sale_id in sale_ids:
        done = await release_unwritten_of_sale(svc, sale_id)
        if done:
            released[sale_id] = done
    return released


async def release_unwritten_of_sale(svc: Services, sale_id: int) -> list[int]:
    """One sale's part of `release_unwritten_holds`.

    Each reservation is in the sale's unwritten zset, dated by the reserve script with the time
    its order is due (`stock.WRITE_DEADLINE_MS`). An overdue one whose order is in PostgreSQL is
    simply dropped from the zset. One without an order is voided on the sale row first, under
    `FOR UPDATE`: that waits for the order batches writing now (they hold the row `FOR SHARE`),
    so an order committing at this instant is seen and its units kept; and every later batch
    reads the voided list and refuses the reservation, so no order can commit for units that
    went back. Only after that commit are the units released, once, by release.lua, which also
    forgets the buyer's idempotency key while it still names this reservation."""
    sk = stock.SaleKeys.of(svc.keys, sale_id)
    overdue = {u.reservation_no: u for u in await stock.overdue_unwritten(
        svc.redis, sk, limit=UNWRITTEN_SWEEP_BATCH)}
    if not overdue:
        return []
    # No lock needed here: a committed order is final, whatever happens next.
    written = await _written_reservations(svc, sale_id, list(overdue))
    missing = [no for no in overdue if no not in written]
    voided: list[int] = []
    room_id = 0
    voided_total = 0
    if missing:
        async with svc.db.transaction() as session:
            sale = (await session.execute(
                select(Sale.room_id, Sale.voided_reservations).where(Sale.id == sale_id)
                .with_for_update())).one()
            room_id = sale.room_id
            # Read after the lock: batches that were writing have committed by now.
            late = set(await session.scalars(select(Order.reservation_no).where(
                Order.sale_id == sale_id, Order.reservation_no.in_(missing))))
            voided = [no for no in missing if no not in late]
            known = set(sale.voided_reservations)
            new = [no for no in voided if no not in known]
            voided_total = len(known) + len(new)
            if new:
                await session.execute(update(Sale).where(Sale.id == sale_id).values(
                    voided_reservations=func.array_cat(
                        Sale.voided_reservations,
                        bindparam("new_voided", new, type_=ARRAY(BigInteger)))))
                record_sale_event(session, sale_id, "reservations_voided", None,
                                  {"reservations": new})
    released: list[int] = []
    for no in voided:
        result = await stock.release(svc.redis, sk, no, forget_key=overdue[no].idem_field)
        if result == stock.MISSING:
            # The keys are gone: the rebuild from PostgreSQL (which has no such order) drops
            # every such hold at once, and its zset with it.
            await reconcile_sale(svc, sale_id)
            return released
        if result == 1:
            released.append(no)
    # A crash before this line leaves the entries for the next sweep, which finds the orders
    # still absent (they can no longer be written) and releases nothing twice.
    await stock.forget_unwritten(svc.redis, sk, [u.member for u in overdue.values()])
    if released:
        log.warning("sale %s: released %d reservations whose orders were never written: %s",
                    sale_id, len(released), released)
        await publish_stock(svc, sale_id, room_id)
    if voided_total > VOIDED_REBUILD_THRESHOLD:
        await reconcile_sale(svc, sale_id)
    return released


async def _written_reservations(svc: Services, sale_id: int, numbers: list[int]) -> set[int]:
    async with svc.db.session() as session:
        return set(await session.scalars(select(Order.reservation_no).where(
            Order.sale_id == sale_id, Order.reservation_no.in_(numbers))))


# Cancel, expire ------------------------------------------------------------------------------


def _in_flight_payment(order_id: Any) -> Any:
    return exists().where(
        Payment.order_id == order_id, Payment.status == PaymentStatus.PROCESSING.value,
        Payment.created_at > func.now() - timedelta(seconds=PAYMENT_IN_FLIGHT_GRACE_SECONDS))


async def cancel_order(svc: Services, actor: Actor, order_id: int) -> Order:
    """The buyer gives up an unpaid order; its units go back to the sale."""
    async with svc.db.transaction() as session:
        order = await session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
        if order.user_id != actor.id and not actor.is_ops:
            raise NotOrderOwner("only the buyer can cancel this order")
        if await session.scalar(select(_in_flight_payment(order_id))):
            raise Conflict("a payment for this order is being processed", code="payment_in_flight")
        current = OrderStatus(order.status)
        if not await move_order(session, order_id, current, OrderStatus.CANCELLED,
                                event_type="order_cancelled", actor_id=actor.id):
            raise Conflict("the order changed meanwhile; reload it", code="conflict")
        await session.flush()
        await session.refresh(order)
    await release_reservation(svc, order.sale_id, order.reservation_no)
    await _notify_buyer(svc, order)
    await publish_stock(svc, order.sale_id, order.room_id)
    return order


async def expire_due_orders(svc: Services, *, limit: int = 500) -> list[int]:
    """Expire unpaid orders whose hold is over (the scheduler runs this every few seconds).

    Rows are picked `FOR UPDATE SKIP LOCKED`, so several sweepers, or a sweeper and a payment
    holding an order's row, never wait on each other; the move is a conditional UPDATE, so an
    order a payment got to first stays paid. An order whose payment is in flight is skipped."""
    transition(ORDER_MOVES, OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED, what="an order")
    async with svc.db.transaction() as session:
        due = (select(Order.id).where(Order.status == OrderStatus.PENDING_PAYMENT.value,
                                      Order.hold_expires_at <= func.now(),
                                      ~_in_flight_payment(Order.id))
               .order_by(Order.hold_expires_at).limit(limit)
               .with_for_update(skip_locked=True).cte("due"))
        expired = list(await session.scalars(
            update(Order).where(Order.id == due.c.id,
                                Order.status == OrderStatus.PENDING_PAYMENT.value)
            .values(status=OrderStatus.EXPIRED.value, updated_at=func.now())
            .returning(Order)))
        if expired:
            await session.execute(insert(OrderEvent).values([{
                "order_id": o.id, "type": "order_expired",
                "from_status": OrderStatus.PENDING_PAYMENT.value,
                "to_status": OrderStatus.EXPIRED.value, "actor_id": None, "data": {},
            } for o in expired]))
    rooms: dict[int, int] = {}
    for order in expired:
        await release_reservation(svc, order.sale_id, order.reservation_no)
        await _notify_buyer(svc, order)
        rooms[order.sale_id] = order.room_id
    for sale_id, room_id in rooms.items():
        await publish_stock(svc, sale_id, room_id)
        await settle_sale(svc, sale_id)
    return [o.id for o in expired]


# Payments -------------------------------------------------------------------------------------


async def submit_sandbox_payment(svc: Services, order_id: int, *, pay: bool) -> int:
    """The buyer pressed Pay (or Decline) on the sandbox gateway's page. The gateway records the
    payment as processing and queues its webhook in the outbox, in one transaction; the caller
    enqueues the delivery after the commit. Returns the outbox message id.

    The webhook goes to the provider's configured URL (`INTERNAL_BASE_URL`), recorded with the
    message so that every retry goes to the same place; nothing of the request chooses it."""
    provider = SandboxProvider.from_settings(svc.settings)
    async with svc.db.transaction() as session:
        order = await session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
        if order.status != OrderStatus.PENDING_PAYMENT.value:
            raise Conflict(f"this order is {order.status.replace('_', ' ')}; there is nothing "
                           "to pay", code="order_not_payable")
        if await session.scalar(select(_in_flight_payment(order_id))):
            raise Conflict("a payment for this order is already being processed",
                           code="payment_in_flight")
        ref = provider.new_payment_ref()
        session.add(Payment(order_id=order_id, provider=provider.name, provider_ref=ref,
                            amount_minor=order.amount_minor, currency=order.currency,
                            status=PaymentStatus.PROCESSING.value))
        event = provider.build_event("payment.succeeded" if pay else "payment.failed",
                                     provider_ref=ref, order_id=order_id,
                                     amount_minor=order.amount_minor, currency=order.currency)
        message = OutboxMessage(kind="sandbox_webhook",
                                payload={"url": provider.webhook_url, "event": event})
        session.add(message)
        await session.flush()
        return message.id


class WebhookDeliveryFailed(Exception):
    """The receiving endpoint did not answer 2xx; the delivery is retried."""


async def deliver_webhook(svc: Services, outbox_id: int, *, timeout_seconds: float = 10.0) -> str:
    """Send one queued sandbox webhook, signed at send time (so a retry carries a fresh
    timestamp). Raises WebhookDeliveryFailed for the task to retry."""
    async with svc.db.session() as session:
        message = await session.get(OutboxMessage, outbox_id)
    if message is None:
        return "unknown"
    if message.delivered_at is not None:
        return "already_delivered"
    provider = SandboxProvider.from_settings(svc.settings)
    body = orjson.dumps(message.payload["event"])
    error: str | None = None
    try:
        async with httpx.AsyncClient(timeout=timeout_seconds) as http:
            response = await http.post(message.payload["url"], content=body,
                                       headers=provider.signed_headers(body))
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    async with svc.db.transaction() as session:
        values: dict[str, Any] = {"attempts": OutboxMessage.attempts + 1, "last_error": error}
        if error is None:
            values["delivered_at"] = func.now()
        await session.execute(update(OutboxMessage).where(
            OutboxMessage.id == outbox_id, OutboxMessage.delivered_at.is_(None)).values(**values))
    if error is not None:
        raise WebhookDeliveryFailed(error)
    return "delivered"


async def undelivered_outbox(svc: Services, *, older_than_seconds: int = 30,
                             limit: int = 100) -> list[int]:
    """Messages committed but never handed to a worker (the process died between its commit
    and the enqueue). Retries of attempted ones are the task's own business."""
    async with svc.db.session() as session:
        return list(await session.scalars(select(OutboxMessage.id).where(
            OutboxMessage.delivered_at.is_(None), OutboxMessage.attempts == 0,
            OutboxMessage.created_at < func.now() - timedelta(seconds=older_than_seconds))
            .order_by(OutboxMessage.id).limit(limit)))


async def handle_webhook(svc: Services, headers: Any, body: bytes,
                         provider: PaymentProvider | None = None) -> str:
    """Verify a provider webhook and apply it once. Returns the outcome."""
    provider = provider or _provider(svc)
    event = provider.verify_webhook(headers, body)
    try:
        return await apply_payment_event(svc, provider, event)
    except SaleUnavailable:
        # The sale's keys were missing mid-payment: rebuild them and apply again (nothing of
        # the first attempt was committed).
        async with svc.db.session() as session:
            order = await session.get(Order, event.order_id)
        if order is None:
            raise
        await reconcile_sale(svc, order.sale_id)
        return await apply_payment_event(svc, provider, event)


async def apply_payment_event(svc: Services, provider: PaymentProvider,
                              event: WebhookEvent) -> str:
    """Apply a verified provider event exactly once. The unique (provider, event id) row makes a
    duplicate delivery a no-op; payment and order statuses make out-of-order events harmless."""
    effects: list[Effect] = []
    async with svc.db.transaction() as session:
        inserted = await session.scalar(
            pg_insert(PaymentEvent).values(provider=provider.name, event_id=event.id,
                                           type=event.type, order_id=None, outcome="received",
                                           payload=event.raw)
            .on_conflict_do_nothing(constraint="uq_payment_events_provider_event")
            .returning(PaymentEvent.id))
        if inserted is None:
            return "duplicate"
        order = await session.scalar(
            select(Order).where(Order.id == event.order_id).with_for_update())
        if order is None:
            outcome = "unknown_order"
        elif (event.amount_minor, event.currency) != (order.amount_minor, order.currency):
            outcome = "amount_mismatch"
        else:
            payment = await session.scalar(select(Payment).where(
                Payment.provider == provider.name, Payment.provider_ref == event.provider_ref)
                .with_for_update())
            if payment is None:
                payment = Payment(order_id=order.id, provider=provider.name,
                                  provider_ref=event.provider_ref,
                                  amount_minor=event.amount_minor, currency=event.currency,
                                  status=PaymentStatus.PROCESSING.value)
                session.add(payment)
                await session.flush()
            if event.type == "payment.succeeded":
                outcome = await _payment_succeeded(svc, session, provider, order, payment,
                                                   effects)
            elif event.type == "payment.failed":
                if payment.status == PaymentStatus.PROCESSING.value:
                    payment.status = PaymentStatus.FAILED.value
                    outcome = "payment_failed"
                else:
                    outcome = "ignored_out_of_order"
            elif event.type == "refund.succeeded":
                outcome = "refund_confirmed"
            else:
                outcome = "ignored_type"
        await session.execute(update(PaymentEvent).where(PaymentEvent.id == inserted)
                              .values(outcome=outcome,
                                      order_id=order.id if order is not None else None))
    for effect in effects:
        await effect()
    return outcome


async def _payment_succeeded(svc: Services, session: AsyncSession, provider: PaymentProvider,
                             order: Order, payment: Payment, effects: list[Effect]) -> str:
    if payment.status in (PaymentStatus.SUCCEEDED.value, PaymentStatus.REFUNDED.value):
        return "already_applied"
    payment.status = PaymentStatus.SUCCEEDED.value
    current = OrderStatus(order.status)
    sk = stock.SaleKeys.of(svc.keys, order.sale_id)
    idem = stock.idem_field(order.user_id, order.idempotency_key)

    async def after_paid() -> None:
        refreshed = await _load_order(svc, order.id)
        await _notify_buyer(svc, refreshed)
        await publish_stock(svc, order.sale_id, order.room_id)

    if current == OrderStatus.PENDING_PAYMENT:
        if await move_order(session, order.id, current, OrderStatus.PAID,
                            event_type="order_paid", actor_id=None,
                            data={"payment": payment.provider_ref}, paid_at=func.now()):
            # Same transaction: a paid order is never committed without its commission entry.
            await commissions.accrue(session, order, paid_minor=payment.amount_minor)

        async def settle_units() -> None:
            code = await stock.settle(svc.redis, sk, order.reservation_no, user_id=order.user_id,
                                      quantity=order.quantity, idem=idem)
            if code == stock.SettleCode.MISSING:
                await reconcile_sale(svc, order.sale_id)

        effects.extend([settle_units, after_paid])
        return "paid"
    if current == OrderStatus.EXPIRED:
        # A payment after the hold expired: keep the sale if a unit is still there for it.
        sale = await session.scalar(
            select(Sale).where(Sale.id == order.sale_id).with_for_update(read=True))
        assert sale is not None
        if sale.settled_at is None:
            code = await stock.settle(svc.redis, sk, order.reservation_no,
                                      user_id=order.user_id, quantity=order.quantity, idem=idem)
            if code == stock.SettleCode.MISSING:
                raise SaleUnavailable("the sale's keys are missing")
            if code in (stock.SettleCode.RERESERVED, stock.SettleCode.SETTLED,
                        stock.SettleCode.ALREADY_SOLD):
                if await move_order(session, order.id, current, OrderStatus.PAID,
                                    event_type="order_paid", actor_id=None,
                                    data={"payment": payment.provider_ref,
                                          "after_expiry": True},
                                    paid_at=func.now()):
                    await commissions.accrue(session, order, paid_minor=payment.amount_minor)
                effects.append(after_paid)
                return "paid_after_expiry"
        await _refund_payment(provider, payment)
        return "refunded_after_expiry"
    # Cancelled, already paid by another payment, or refunded: this money goes back.
    await _refund_payment(provider, payment)
    return f"refunded_order_{current.value}"


async def _refund_payment(provider: PaymentProvider, payment: Payment) -> None:
    await provider.refund(payment.provider_ref, payment.amount_minor, payment.currency)
    payment.status = PaymentStatus.REFUNDED.value


async def _load_order(svc: Services, order_id: int) -> Order:
    async with svc.db.session() as session:
        order = await session.get(Order, order_id)
    if order is None:
        raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
    return order


async def complete_order(svc: Services, actor: Actor, order_id: int) -> Order:
    """The sale's host (or ops) marks a paid order fulfilled: paid -> completed."""
    async with svc.db.transaction() as session:
        order = await session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
        host_id = await session.scalar(select(Sale.host_id).where(Sale.id == order.sale_id))
        if host_id != actor.id and not actor.is_ops:
            raise NotSaleHost("only the sale's host can complete its orders")
        if not await move_order(session, order_id, OrderStatus(order.status),
                                OrderStatus.COMPLETED, event_type="order_completed",
                                actor_id=actor.id):
            raise Conflict("the order changed meanwhile; reload it", code="conflict")
        # The host's commission is frozen for the return window, in the same transaction.
        await commissions.freeze(session, order_id,
                                 window_days=svc.settings.commission_return_window_days)
        await session.flush()
        await session.refresh(order)
    await _notify_buyer(svc, order)
    return order


async def refund_order(svc: Services, actor: Actor, order_id: int) -> Order:
    """Ops refund a paid (or completed: a return) order in full; its units go back through the
    once-only path (to the sale while it is unsettled, to the product's stock after). The
    host's commission is voided, or reversed once it has settled, in the same transaction."""
    provider = _provider(svc)
    async with svc.db.transaction() as session:
        order = await session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
        current = OrderStatus(order.status)
        transition(ORDER_MOVES, current, OrderStatus.REFUNDED, what="an order")
        sale = await session.scalar(
            select(Sale).where(Sale.id == order.sale_id).with_for_update(read=True))
        assert sale is not None
        payment = await session.scalar(select(Payment).where(
            Payment.order_id == order_id, Payment.status == PaymentStatus.SUCCEEDED.value)
            .with_for_update())
        if payment is not None:
            await _refund_payment(provider, payment)
        if not await move_order(session, order_id, current, OrderStatus.REFUNDED,
                                event_type="order_refunded", actor_id=actor.id,
                                data={"payment": payment.provider_ref if payment else None}):
            raise Conflict("the order changed meanwhile; reload it", code="conflict")
        await commissions.void_or_reverse(session, order_id)
        settled = sale.settled_at is not None
        if settled:
            await session.execute(update(products_table)
                                  .where(products_table.c.id == sale.product_id)
                                  .values(stock=products_table.c.stock + order.quantity))
        await session.flush()
        await session.refresh(order)
    if not settled:
        await release_reservation(svc, order.sale_id, order.reservation_no, sold=True)
    await _notify_buyer(svc, order)
    await publish_stock(svc, order.sale_id, order.room_id)
    return order

