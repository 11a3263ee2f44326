"""The flash-sale lifecycle: create (or schedule), start, stop, end with the room, settle.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import exists, func, select, update

from core.context import Services
from core.errors import Conflict, NotFound
from core.events import record, unit_of_work
from core.states import transition
from orders import commissions, stock
from orders.errors import (
    NotEnoughStock,
    NotSaleHost,
    SaleAlreadyRunning,
    SaleNotFound,
)
from orders.events import SaleSettled
from orders.logs import record_sale_event
from orders.models import (
    HELD_STATUSES,
    SALE_MOVES,
    SOLD_STATUSES,
    Order,
    Sale,
    SaleStatus,
    lineup_table,
    products_table,
    rooms_table,
)
from orders.reconcile import reconcile_sale
from orders.schemas import Actor, SaleIn
from orders.views import publish_sale

log = logging.getLogger(__name__)


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
        if now is None:
            raise RuntimeError("PostgreSQL answered no time to SELECT now()")
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

