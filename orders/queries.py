"""Reads of the orders package."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from orders.errors import OrderNotFound, SaleNotFound
from orders.models import Order, OrderEvent, OrderStatus, Sale, SaleStatus


async def get_sale(session: AsyncSession, sale_id: int) -> Sale:
    sale = await session.get(Sale, sale_id)
    if sale is None:
        raise SaleNotFound(f"sale {sale_id} does not exist", field="sale_id")
    return sale


async def room_sales(session: AsyncSession, room_id: int, *, limit: int = 50) -> list[Sale]:
    return list(await session.scalars(
        select(Sale).where(Sale.room_id == room_id).order_by(Sale.id.desc()).limit(limit)))


async def open_sale(session: AsyncSession, room_id: int) -> Sale | None:
    """The room's sale that is on or still to come (its time not up), if any. The database's
    clock decides, as it does for the sale's window."""
    return await session.scalar(
        select(Sale).where(Sale.room_id == room_id,
                           Sale.status.in_([SaleStatus.SCHEDULED.value, SaleStatus.RUNNING.value]),
                           Sale.ends_at > func.now())
        .order_by(Sale.id.desc()).limit(1))


async def running_sales_of(session: AsyncSession, product_ids: list[int]) -> list[Sale]:
    """Sales on now (started, time not up) of any of the products, newest first: a short
    video's or a replay's page offers them to its viewers."""
    if not product_ids:
        return []
    return list(await session.scalars(
        select(Sale).where(Sale.product_id.in_(product_ids),
                           Sale.status == SaleStatus.RUNNING.value,
                           Sale.starts_at <= func.now(), Sale.ends_at > func.now())
        .order_by(Sale.id.desc())))


async def get_order(session: AsyncSession, order_id: int) -> Order:
    order = await session.get(Order, order_id)
    if order is None:
        raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
    return order


async def user_orders(session: AsyncSession, user_id: int, *, status: str | None = None,
                      limit: int = 100) -> list[Order]:
    query = select(Order).where(Order.user_id == user_id)
    if status is not None:
        query = query.where(Order.status == status)
    return list(await session.scalars(query.order_by(Order.id.desc()).limit(limit)))


async def sale_orders(session: AsyncSession, sale_id: int, *, limit: int = 500) -> list[Order]:
    return list(await session.scalars(
        select(Order).where(Order.sale_id == sale_id).order_by(Order.id.desc()).limit(limit)))


async def order_events(session: AsyncSession, order_id: int) -> list[OrderEvent]:
    return list(await session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)))


async def load_order(svc: Services, order_id: int) -> Order:
    """The order as committed now (for a notification after the commit that moved it)."""
    async with svc.db.session() as session:
        return await get_order(session, order_id)


async def room_buyers(session: AsyncSession, room_id: int) -> int:
    """How many people have a paid (or completed) order in the room."""
    count = await session.scalar(
        select(func.count(func.distinct(Order.user_id))).where(
            Order.room_id == room_id,
            Order.status.in_([OrderStatus.PAID.value, OrderStatus.COMPLETED.value])))
    return int(count or 0)
