"""The flash-sale lifecycle: create (or schedule), start, stop, end with the room, settle.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import Actor, owns_or_ops
from core.context import Services
from core.db import database_now
from core.errors import Conflict
from core.events import dispatch_committed, record, unit_of_work
from core.states import transition
from orders import commissions, stock
from orders.errors import (
    NotSaleHost,
    SaleAlreadyRunning,
    SaleNotFound,
)
from orders.events import (
    SaleAction,
    SaleCreated,
    SaleEnded,
    SaleSettled,
    SaleStarted,
    SaleStopped,
    UnitsReleased,
)
from orders.logs import record_sale_event
from orders.models import (
    HELD_STATUSES,
    SALE_MOVES,
    SOLD_STATUSES,
    Order,
    Sale,
    SaleEventType,
    SaleStatus,
)
from orders.reconcile import reconcile_sale
from orders.schemas import SaleIn

log = logging.getLogger(__name__)


class StockTaken(Protocol):
    """What the product's owner answers when it hands over a sale's units: the facts the sale
    snapshots. (`live.actions.take_stock_for_sale` returns one.)"""

    @property
    def host_id(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def product_commission_rate_bp(self) -> int | None: ...
    @property
    def room_commission_rate_bp(self) -> int | None: ...
    @property
    def stock_left(self) -> int: ...
    @property
    def variant_id(self) -> int: ...


# Takes the sale's units out of the product's pool (its default variant's, or the variant
# named) inside the sale's transaction (it is given the session), having checked the room, its
# host, the lineup and the stock; raises if any fails. The units are gone from regular-price
# buying the moment it returns (docs/decisions/0021).
TakeStock = Callable[[AsyncSession], Awaitable[StockTaken]]
# Which of these rooms have ended (the room's owner answers; orders does not read rooms).
EndedRooms = Callable[[list[int]], Awaitable[set[int]]]


async def create_sale(svc: Services, actor: Actor, room_id: int, data: SaleIn,
                      take_stock: TakeStock) -> Sale:
    """Start (or schedule) a flash sale of a product of the room's lineup. Its quantity is taken
    from the variant's pool now, in this same transaction (`take_stock`); unsold units go back
    there when the sale is settled."""
    async with svc.db.transaction() as session:
        taken = await take_stock(session)
        active = await session.scalar(select(Sale.id).where(
            Sale.room_id == room_id,
            Sale.status.in_([SaleStatus.SCHEDULED.value, SaleStatus.RUNNING.value])))
        if active is not None:
            raise SaleAlreadyRunning(f"sale {active} is still on in this room; stop it first",
                                     field="room_id")
        now = await database_now(session)
        if data.starts_at is not None:
            starts_at = max(data.starts_at, now)
        else:
            starts_at = now + timedelta(seconds=data.start_in_seconds or 0)
        status = SaleStatus.RUNNING if starts_at <= now else SaleStatus.SCHEDULED
        sale = Sale(room_id=room_id, product_id=data.product_id, variant_id=taken.variant_id,
                    host_id=taken.host_id,
                    price_minor=data.price_minor, currency=taken.currency,
                    quantity=data.quantity, per_user_limit=data.per_user_limit,
                    starts_at=starts_at, ends_at=starts_at + timedelta(seconds=data.duration_seconds),
                    status=status.value,
                    # Snapshotted now: a later change of the product's or room's rate applies
                    # to later sales only.
                    commission_rate_bp=commissions.resolve_rate_bp(
                        taken.product_commission_rate_bp, taken.room_commission_rate_bp))
        session.add(sale)
        await session.flush()
        record_sale_event(session, sale.id, SaleEventType.SALE_CREATED, actor.id,
                          {"quantity": data.quantity, "price_minor": data.price_minor,
                           "variant_id": taken.variant_id,
                           "product_stock_left": taken.stock_left})
        if status == SaleStatus.RUNNING:
            record_sale_event(session, sale.id, SaleEventType.SALE_STARTED, actor.id)
        record(session, SaleCreated(
            sale_id=sale.id, room_id=room_id, product_id=data.product_id,
            quantity=data.quantity,
            action=SaleAction.STARTED if status == SaleStatus.RUNNING else SaleAction.SCHEDULED))
    # The counters exist before anyone hears of the sale (the handlers publish them).
    await reconcile_sale(svc, sale.id)
    await dispatch_committed(svc, session)
    return sale


async def advance_sales(svc: Services, *, ended_rooms: EndedRooms | None = None,
                        ) -> dict[str, list[int]]:
    """Start the scheduled sales whose time has come and end those whose time is up (the
    scheduler runs this every second). The buy window itself is enforced by Redis TIME in the
    buy script; this moves the status, tells the rooms and settles ended sales. With
    `ended_rooms`, the sales of rooms that have ended stop too."""
    transition(SALE_MOVES, SaleStatus.SCHEDULED, SaleStatus.RUNNING, what="a sale")
    transition(SALE_MOVES, SaleStatus.RUNNING, SaleStatus.ENDED, what="a sale")
    async with svc.db.transaction() as started_session:
        started = list(await started_session.scalars(
            update(Sale).where(Sale.status == SaleStatus.SCHEDULED.value,
                               Sale.starts_at <= func.now(), Sale.ends_at > func.now())
            .values(status=SaleStatus.RUNNING.value).returning(Sale)))
        for sale in started:
            record_sale_event(started_session, sale.id, SaleEventType.SALE_STARTED, None)
            record(started_session, SaleStarted(sale_id=sale.id, room_id=sale.room_id))
    for sale in started:
        await reconcile_sale(svc, sale.id)
    await dispatch_committed(svc, started_session)
    async with svc.db.transaction() as ended_session:
        ended = list(await ended_session.scalars(
            update(Sale).where(Sale.status.in_([SaleStatus.SCHEDULED.value,
                                                SaleStatus.RUNNING.value]),
                               Sale.ends_at <= func.now())
            .values(status=SaleStatus.ENDED.value).returning(Sale)))
        for sale in ended:
            record_sale_event(ended_session, sale.id, SaleEventType.SALE_ENDED, None)
            record(ended_session, SaleEnded(sale_id=sale.id, room_id=sale.room_id))
    stopped = await end_sales_of_ended_rooms(svc, ended_rooms) if ended_rooms else []
    for sale in ended:
        # Rebuilt once more at the end: the final counts the room hears are PostgreSQL's,
        # and a hold left by a process that died mid-buy is dropped.
        await reconcile_sale(svc, sale.id)
    await dispatch_committed(svc, ended_session)
    for sale in ended:
        await settle_sale(svc, sale.id)
    return {"started": [s.id for s in started], "ended": [s.id for s in ended],
            "stopped_with_room": stopped}


async def stop_sale(svc: Services, actor: Actor, sale_id: int) -> Sale:
    """The host ends the sale now."""
    return await _end_sale_now(svc, sale_id, actor=actor, event_type=SaleEventType.SALE_STOPPED)


async def _end_sale_now(svc: Services, sale_id: int, *, actor: Actor | None,
                        event_type: SaleEventType) -> Sale:
    """End a sale before its time. The buy window closes in Redis first (by its clock, the one
    the buy script checks), then the sale row records that end."""
    sk = stock.SaleKeys.of(svc.keys, sale_id)
    async with svc.db.transaction() as session:
        sale = await session.scalar(select(Sale).where(Sale.id == sale_id).with_for_update())
        if sale is None:
            raise SaleNotFound(f"sale {sale_id} does not exist", field="sale_id")
        if actor is not None and not owns_or_ops(actor, sale.host_id):
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
        record(session, SaleStopped(sale_id=sale_id, room_id=sale.room_id,
                                    stopped_by=actor.id if actor is not None else None))
        await session.flush()
        await session.refresh(sale)
    await reconcile_sale(svc, sale_id)
    await dispatch_committed(svc, session)
    await settle_sale(svc, sale_id)
    return sale


async def end_sales_of_ended_rooms(svc: Services, ended_rooms: EndedRooms) -> list[int]:
    """A sale does not outlive its broadcast: when the room ends, its sale stops. Which rooms
    have ended is the rooms' owner's answer (`ended_rooms`)."""
    async with svc.db.session() as session:
        open_sales = (await session.execute(select(Sale.id, Sale.room_id).where(
            Sale.status.in_([SaleStatus.SCHEDULED.value, SaleStatus.RUNNING.value])))).all()
    if not open_sales:
        return []
    over = await ended_rooms(sorted({room_id for _, room_id in open_sales}))
    ended = []
    for sale_id, room_id in open_sales:
        if room_id not in over:
            continue
        try:
            await _end_sale_now(svc, sale_id, actor=None, event_type=SaleEventType.SALE_STOPPED_ROOM_ENDED)
            ended.append(sale_id)
        except Conflict:  # it ended by itself meanwhile
            continue
    return ended


async def settle_sale(svc: Services, sale_id: int) -> int | None:
    """Once an ended sale has no order awaiting payment, give its unsold units back to the
    variant's pool they came from, once. Returns the units returned, or None if it is not time
    yet (or it was done already).

    The units go back inside this transaction (`UnitsReleased`, an in-transaction event): the
    sale's `settled_at` and the variant's stock change together or not at all, so nothing is
    lost or returned twice."""
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
        await svc.events.run_in_transaction(session, UnitsReleased(
            product_id=sale.product_id, units=returned, sale_id=sale_id,
            variant_id=sale.variant_id))
        await session.execute(update(Sale).where(Sale.id == sale_id)
                              .values(settled_at=func.now()))
        record_sale_event(session, sale_id, SaleEventType.SALE_SETTLED, None,
                          {"sold": int(sold), "returned_to_product": returned})
        record(session, SaleSettled(sale_id=sale_id, room_id=sale.room_id,
                                    product_id=sale.product_id, units_returned=returned))
    return returned


async def settle_ended_sales(svc: Services) -> list[int]:
    async with svc.db.session() as session:
        ids = list(await session.scalars(select(Sale.id).where(
            Sale.status == SaleStatus.ENDED.value, Sale.settled_at.is_(None)).limit(100)))
    return [sale_id for sale_id in ids if await settle_sale(svc, sale_id) is not None]
