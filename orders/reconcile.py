"""A sale's Redis keys rebuilt from PostgreSQL, and the invariant check between the two.

Anything that finds a sale's Redis keys missing rebuilds them from PostgreSQL
(`reconcile_sale`) instead of guessing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select, update

from core.clock import to_epoch_ms
from core.context import Services
from orders import stock
from orders.errors import (
    SaleNotFound,
    SaleUnavailable,
)
from orders.logs import record_sale_event
from orders.models import (
    HELD_STATUSES,
    SOLD_STATUSES,
    Order,
    Sale,
    SaleEventType,
)
from orders.queries import get_sale

log = logging.getLogger(__name__)


# A sale's Redis keys outlive its end by a week: late payments and refunds still find them.
KEY_TTL_AFTER_END_MS = 7 * 24 * 3600 * 1000
# How long a rebuild may hold the sale's rebuild lock before another process may take over.
REBUILD_LOCK_MS = 30_000
# How long a buy waits for a rebuild by another process before answering 503.
REBUILD_WAIT_SECONDS = 5.0


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
            record_sale_event(session, sale_id, SaleEventType.SALE_RECONCILED, None,
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


# The invariant -------------------------------------------------------------------------------


class RedisCounts(Protocol):
    """A stock hash's counters as read (a sale's `stock.Counts`, a variant's)."""

    @property
    def available(self) -> int: ...
    @property
    def sold(self) -> int: ...


def counter_problems(initial: int, counts: RedisCounts, held: int, *, held_word: str,
                     holds: tuple[int, int], postgres: tuple[int, int],
                     unbacked_holds: Sequence[int]) -> list[str]:
    """What breaks `initial = available + held + sold` in Redis's `counts` (`held`: its units
    set aside for unpaid orders, called `held_word`), or the agreement of those counters with
    the holds that back them and with PostgreSQL's orders (`holds` and `postgres`: their held
    and sold units), or leaves a hold with no order behind it. A flash sale's invariant and a
    variant's (orders/variants.py) are this one."""
    available, sold = counts.available, counts.sold
    found = []
    if min(available, held, sold) < 0:
        found.append(f"a negative counter: {counts}")
    if initial != available + held + sold:
        found.append(f"redis: {initial} != {available} + {held} + {sold}")
    if holds != (held, sold):
        found.append(f"holds ({holds[0]} {held_word}, {holds[1]} sold) disagree with counters "
                     f"({held}, {sold})")
    if postgres != (held, sold):
        found.append(f"postgres ({postgres[0]} {held_word}, {postgres[1]} sold) disagrees with "
                     f"redis ({held}, {sold})")
    if unbacked_holds:
        shown = ", ".join(str(n) for n in unbacked_holds[:10])
        found.append(f"{len(unbacked_holds)} holds have no order behind them: {shown}"
                     + (" …" if len(unbacked_holds) > 10 else ""))
    if sum(postgres) > initial:
        found.append(f"oversold: {postgres[0]} + {postgres[1]} > {initial}")
    return found


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
        if self.redis is None:
            return ["the sale's Redis counters are missing"]
        r = self.redis
        found = counter_problems(
            self.initial, r, r.reserved, held_word="reserved",
            holds=(self.holds_reserved, self.holds_sold), postgres=(self.pg_reserved, self.pg_sold),
            unbacked_holds=self.unbacked_holds)
        if self.users_total != r.reserved + r.sold:
            found.append(f"per-user counts sum to {self.users_total}, "
                         f"not {r.reserved + r.sold}")
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
