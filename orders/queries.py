"""Reads of the orders package, and the invariant check."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from orders import stock
from orders.errors import OrderNotFound, SaleNotFound
from orders.models import HELD_STATUSES, SOLD_STATUSES, Order, OrderEvent, Sale


async def get_sale(session: AsyncSession, sale_id: int) -> Sale:
    sale = await session.get(Sale, sale_id)
    if sale is None:
        raise SaleNotFound(f"sale {sale_id} does not exist", field="sale_id")
    return sale


async def room_sales(session: AsyncSession, room_id: int, *, limit: int = 50) -> list[Sale]:
    return list(await session.scalars(
        select(Sale).where(Sale.room_id == room_id).order_by(Sale.id.desc()).limit(limit)))


async def get_order(session: AsyncSession, order_id: int) -> Order:
    order = await session.get(Order, order_id)
    if order is None:
        raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
    return order


async def user_orders(session: AsyncSession, user_id: int, *, limit: int = 100) -> list[Order]:
    return list(await session.scalars(
        select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()).limit(limit)))


async def sale_orders(session: AsyncSession, sale_id: int, *, limit: int = 500) -> list[Order]:
    return list(await session.scalars(
        select(Order).where(Order.sale_id == sale_id).order_by(Order.id.desc()).limit(limit)))


async def order_events(session: AsyncSession, order_id: int) -> list[OrderEvent]:
    return list(await session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)))


@dataclass(frozen=True)
class InvariantReport:
    """`initial = available + reserved + sold`, on both sides, and the two sides agree.

    Redis: the stock hash's three counters, and the holds and per-user hashes that back them.
    PostgreSQL: units of orders awaiting payment (reserved) and paid or completed (sold).
    Between a reservation and its order's commit Redis is ahead of PostgreSQL by the orders in
    flight, so compare the two when no buy is in progress."""

    sale_id: int
    initial: int
    redis: stock.Counts | None
    holds_reserved: int
    holds_sold: int
    users_total: int
    pg_reserved: int
    pg_sold: int
    # Holds (reservation numbers) with no order behind them in the matching status: reserved
    # with no order awaiting payment, or sold with no paid or completed order.
    unbacked_holds: tuple[int, ...] = ()

    @property
    def problems(self) -> list[str]:
        found = []
        if self.redis is None:
            return ["the sale's Redis counters are missing"]
        r = self.redis
        if r.available < 0 or r.reserved < 0 or r.sold < 0:
            found.append(f"a negative counter: {r}")
        if self.initial != r.available + r.reserved + r.sold:
            found.append(f"redis: {self.initial} != {r.available} + {r.reserved} + {r.sold}")
        if (self.holds_reserved, self.holds_sold) != (r.reserved, r.sold):
            found.append(f"holds ({self.holds_reserved} reserved, {self.holds_sold} sold) "
                         f"disagree with counters ({r.reserved}, {r.sold})")
        if self.users_total != r.reserved + r.sold:
            found.append(f"per-user counts sum to {self.users_total}, "
                         f"not {r.reserved + r.sold}")
        if (self.pg_reserved, self.pg_sold) != (r.reserved, r.sold):
            found.append(f"postgres ({self.pg_reserved} reserved, {self.pg_sold} sold) "
                         f"disagrees with redis ({r.reserved}, {r.sold})")
        if self.unbacked_holds:
            shown = ", ".join(str(n) for n in self.unbacked_holds[:10])
            found.append(f"{len(self.unbacked_holds)} holds have no order behind them: {shown}"
                         + (" …" if len(self.unbacked_holds) > 10 else ""))
        if self.pg_reserved + self.pg_sold > self.initial:
            found.append(f"oversold: {self.pg_reserved} + {self.pg_sold} > {self.initial}")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems


async def check_invariant(svc: Services, sale_id: int) -> InvariantReport:
    sk = stock.SaleKeys.of(svc.keys, sale_id)
    counts = await stock.read_counts(svc.redis, sk)
    holds = await svc.redis.hgetall(sk.holds)
    users = await svc.redis.hvals(sk.users)
    async with svc.db.session() as session:
        sale = await get_sale(session, sale_id)
        rows = dict((await session.execute(
            select(Order.status, func.sum(Order.quantity)).where(Order.sale_id == sale_id)
            .group_by(Order.status))).all())
        statuses = dict((await session.execute(
            select(Order.reservation_no, Order.status).where(Order.sale_id == sale_id))).all())
    holds_reserved = holds_sold = 0
    unbacked = []
    for raw_no, value in holds.items():
        text = value.decode() if isinstance(value, bytes) else value
        _, quantity, state = text.split(":")
        if state == "r":
            holds_reserved += int(quantity)
        else:
            holds_sold += int(quantity)
        backing = HELD_STATUSES if state == "r" else SOLD_STATUSES
        if statuses.get(int(raw_no)) not in backing:
            unbacked.append(int(raw_no))
    pg_reserved = sum(int(rows.get(s, 0)) for s in HELD_STATUSES)
    pg_sold = sum(int(rows.get(s, 0)) for s in SOLD_STATUSES)
    return InvariantReport(sale_id, sale.quantity, counts, holds_reserved, holds_sold,
                           sum(int(v) for v in users), pg_reserved, pg_sold,
                           tuple(sorted(unbacked)))
