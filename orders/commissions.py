"""The host commission ledger: verbs that add and move entries, and the reads behind statements.

Rules (docs/commissions.md):
- The rate is resolved when a sale is created (product rate, else room rate, else
  DEFAULT_COMMISSION_RATE_BP), stored on the sale, and copied onto each order by the order
  writer. The base is the amount actually paid.
- An entry is never edited: only its status moves, each move checked by `transition()` and
  applied as a conditional `UPDATE … WHERE status = :from RETURNING`, so a concurrent
  duplicate does nothing. A refund after settlement adds a negative `reversal` entry.
- The hooks (`accrue`, `freeze`, `void_or_reverse`) run inside the order move's own
  transaction: a paid order is never committed without its entry.
- Balances are sums of entries.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import column, func, select, table, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from core.states import transition
from orders.errors import SaleNotFound
from orders.models import (
    COMMISSION_MOVES,
    CommissionEntry,
    CommissionKind,
    CommissionStatus,
    Order,
    OrderLine,
    Sale,
    rooms_table,
)

# The accounts table, named here for the hosts' display names in the ops filter.
users_table = table("users", column("id"), column("display_name"))

# The platform's default host commission when neither the product nor the room sets one:
# 10.00%. A constant rather than a setting: a change to it is a business decision that belongs
# in review, and it only ever applies to sales created after the change.
DEFAULT_COMMISSION_RATE_BP = 1000
BP_PER_WHOLE = 10_000
# Settle sweep batch: one UPDATE of this many rows stays well under a second.
SETTLE_BATCH = 500


def resolve_rate_bp(product_rate_bp: int | None, room_rate_bp: int | None) -> int:
    """Product rate overrides the room rate, which overrides the default."""
    if product_rate_bp is not None:
        return product_rate_bp
    if room_rate_bp is not None:
        return room_rate_bp
    return DEFAULT_COMMISSION_RATE_BP


def commission_amount(base_minor: int, rate_bp: int) -> int:
    """base x rate, in integer minor units, rounded half up (never a float)."""
    return (base_minor * rate_bp + BP_PER_WHOLE // 2) // BP_PER_WHOLE


# Hooks: called inside the order move's transaction -------------------------------------------


async def accrue(session: AsyncSession, order: Order, *, paid_minor: int) -> int | None:
    """The order was paid: a pending entry for its host. Idempotent: one accrual per order.
    Returns the new entry's id, or None if it existed already."""
    rate_bp = order.commission_rate_bp
    amount = commission_amount(paid_minor, rate_bp)
    if order.sale_id is None:
        # A regular-price order names its host; each line has its product's rate, and the
        # entry is the sum of the lines' commissions (the order's rate is their weighted rate).
        host_id = order.host_id
        lines = (await session.execute(select(OrderLine.amount_minor, OrderLine.commission_rate_bp)
                                       .where(OrderLine.order_id == order.id))).all()
        if lines and paid_minor == order.amount_minor:
            amount = sum(commission_amount(line_amount, line_rate)
                         for line_amount, line_rate in lines)
    else:
        host_id = await session.scalar(select(Sale.host_id).where(Sale.id == order.sale_id))
    if host_id is None:
        raise SaleNotFound(f"sale {order.sale_id} of order {order.id} does not exist",
                           field="sale_id")
    inserted: int | None = await session.scalar(
        pg_insert(CommissionEntry).values(
            host_id=host_id, order_id=order.id, room_id=order.room_id,
            kind=CommissionKind.ACCRUAL.value, base_minor=paid_minor, rate_bp=rate_bp,
            amount_minor=amount, currency=order.currency,
            status=CommissionStatus.PENDING.value)
        .on_conflict_do_nothing(constraint="uq_commission_entries_order_kind")
        .returning(CommissionEntry.id))
    return inserted


async def _move(session: AsyncSession, order_id: int, current: CommissionStatus,
                target: CommissionStatus, **values: Any) -> int | None:
    """One status move of an order's accrual: checked, then a conditional UPDATE."""
    transition(COMMISSION_MOVES, current, target, what="a commission entry")
    moved: int | None = await session.scalar(
        update(CommissionEntry)
        .where(CommissionEntry.order_id == order_id,
               CommissionEntry.kind == CommissionKind.ACCRUAL.value,
               CommissionEntry.status == current.value)
        .values(status=target.value, **values).returning(CommissionEntry.id))
    return moved


async def freeze(session: AsyncSession, order_id: int, *, window_days: int) -> int | None:
    """The order was completed (delivered): the entry is frozen for the return window."""
    return await _move(session, order_id, CommissionStatus.PENDING, CommissionStatus.FROZEN,
                       frozen_at=func.now(),
                       frozen_until=func.now() + timedelta(days=window_days))


async def void_or_reverse(session: AsyncSession, order_id: int) -> str:
    """The order was refunded. Before settlement its entry becomes void; after, a negative
    reversal entry is added and the original stays as it was. Returns what happened."""
    for current in (CommissionStatus.PENDING, CommissionStatus.FROZEN):
        if await _move(session, order_id, current, CommissionStatus.VOID,
                       voided_at=func.now()) is not None:
            return "voided"
    # A fresh statement: under READ COMMITTED it sees a settle that committed while the UPDATEs
    # above waited for its row lock.
    settled = await session.scalar(select(CommissionEntry).where(
        CommissionEntry.order_id == order_id,
        CommissionEntry.kind == CommissionKind.ACCRUAL.value,
        CommissionEntry.status == CommissionStatus.SETTLED.value))
    if settled is None:
        return "none"
    inserted = await session.scalar(
        pg_insert(CommissionEntry).values(
            host_id=settled.host_id, order_id=order_id, room_id=settled.room_id,
            kind=CommissionKind.REVERSAL.value, base_minor=-settled.base_minor,
            rate_bp=settled.rate_bp, amount_minor=-settled.amount_minor,
            currency=settled.currency, status=CommissionStatus.SETTLED.value,
            settled_at=func.now())
        .on_conflict_do_nothing(constraint="uq_commission_entries_order_kind")
        .returning(CommissionEntry.id))
    return "reversed" if inserted is not None else "already_reversed"


# The scheduled settle ---------------------------------------------------------------------------


async def settle_due(svc: Services, *, now: datetime | None = None,
                     limit: int = SETTLE_BATCH) -> list[int]:
    """Settle the frozen entries whose return window is over. Rows are picked `FOR UPDATE SKIP
    LOCKED`, so two sweeps (or a sweep and a refund holding a row) never wait on each other,
    and the move is conditional, so a second run settles nothing twice. `now` defaults to the
    database's clock; tests pass a later moment instead of waiting a week."""
    transition(COMMISSION_MOVES, CommissionStatus.FROZEN, CommissionStatus.SETTLED,
               what="a commission entry")
    moment: Any = now if now is not None else func.now()
    async with svc.db.transaction() as session:
        due = (select(CommissionEntry.id)
               .where(CommissionEntry.status == CommissionStatus.FROZEN.value,
                      CommissionEntry.frozen_until <= moment)
               .order_by(CommissionEntry.frozen_until).limit(limit)
               .with_for_update(skip_locked=True).cte("due"))
        settled = list(await session.scalars(
            update(CommissionEntry)
            .where(CommissionEntry.id == due.c.id,
                   CommissionEntry.status == CommissionStatus.FROZEN.value)
            .values(status=CommissionStatus.SETTLED.value, settled_at=func.now())
            .returning(CommissionEntry.id)))
    return sorted(settled)


# Statements -------------------------------------------------------------------------------------


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """"2026-11" -> [2026-11-01 00:00 UTC, 2026-12-01 00:00 UTC). Raises ValueError."""
    year_text, _, month_text = month.partition("-")
    if len(year_text) != 4 or len(month_text) != 2:
        raise ValueError("use YYYY-MM, e.g. 2026-11")
    first = date(int(year_text), int(month_text), 1)
    if first.year >= 9999:
        raise ValueError("use a year before 9999")  # the month's end would overflow datetime
    days = calendar.monthrange(first.year, first.month)[1]
    start = datetime(first.year, first.month, 1, tzinfo=UTC)
    return start, start + timedelta(days=days)


@dataclass
class Totals:
    """Sums of entries of one currency, by status. `available_to_pay` is what is settled (net of
    reversals): no payout is recorded yet, so all of it is still owed to the host."""

    pending_minor: int = 0
    frozen_minor: int = 0
    settled_minor: int = 0
    void_minor: int = 0
    entries: int = 0

    @property
    def available_to_pay_minor(self) -> int:
        return self.settled_minor

    @property
    def expected_minor(self) -> int:
        """What the host earns if nothing else is refunded: pending + frozen + settled."""
        return self.pending_minor + self.frozen_minor + self.settled_minor

    def add(self, status: str, amount_minor: int, count: int = 1) -> None:
        name = f"{status}_minor"
        setattr(self, name, getattr(self, name) + amount_minor)
        self.entries += count

    def public(self) -> dict[str, int]:
        return {"pending_minor": self.pending_minor, "frozen_minor": self.frozen_minor,
                "settled_minor": self.settled_minor, "void_minor": self.void_minor,
                "available_to_pay_minor": self.available_to_pay_minor,
                "expected_minor": self.expected_minor, "entries": self.entries}


@dataclass
class Statement:
    entries: list[dict[str, Any]]
    totals: dict[str, Totals] = field(default_factory=dict)


def _filters(host_id: int | None, room_id: int | None,
             month: str | None) -> list[Any]:
    conditions: list[Any] = []
    if host_id is not None:
        conditions.append(CommissionEntry.host_id == host_id)
    if room_id is not None:
        conditions.append(CommissionEntry.room_id == room_id)
    if month is not None:
        start, end = month_bounds(month)
        conditions.append(CommissionEntry.created_at >= start)
        conditions.append(CommissionEntry.created_at < end)
    return conditions


async def statement(session: AsyncSession, *, host_id: int | None = None,
                    room_id: int | None = None, month: str | None = None,
                    limit: int = 5000) -> Statement:
    """Entries (newest first) and totals by status of a host (None: every host), optionally
    of one broadcast and/or one calendar month (UTC, by the entry's creation)."""
    conditions = _filters(host_id, room_id, month)
    rows = (await session.execute(
        select(CommissionEntry, rooms_table.c.title, users_table.c.display_name)
        .join(rooms_table, rooms_table.c.id == CommissionEntry.room_id)
        .join(users_table, users_table.c.id == CommissionEntry.host_id)
        .where(*conditions).order_by(CommissionEntry.id.desc()).limit(limit))).all()
    result = Statement([{**entry.public(), "room_title": title, "host_name": host_name}
                        for entry, title, host_name in rows])
    # Totals come from the database's sums, not the (limited) list.
    sums = (await session.execute(
        select(CommissionEntry.currency, CommissionEntry.status,
               func.sum(CommissionEntry.amount_minor), func.count())
        .where(*conditions).group_by(CommissionEntry.currency, CommissionEntry.status))).all()
    for currency, status, amount, count in sums:
        result.totals.setdefault(currency, Totals()).add(status, int(amount), int(count))
    return result


async def balances(session: AsyncSession, host_id: int | None) -> dict[str, Totals]:
    """A host's all-time balances (None: all hosts), per currency: sums of entries."""
    return (await statement(session, host_id=host_id, limit=0)).totals


STATEMENT_CSV_COLUMNS = ("entry_id", "created_at", "host_id", "room_id", "room_title",
                         "order_id", "kind", "status", "base_minor", "rate_bp", "amount_minor",
                         "currency", "frozen_until", "settled_at", "voided_at")


def statement_csv_rows(result: Statement) -> list[list[Any]]:
    return [[e["id"], e["created_at"], e["host_id"], e["room_id"], e["room_title"],
             e["order_id"], e["kind"], e["status"], e["base_minor"], e["rate_bp"],
             e["amount_minor"], e["currency"], e["frozen_until"] or "", e["settled_at"] or "",
             e["voided_at"] or ""] for e in result.entries]


async def statement_rooms(session: AsyncSession, host_id: int | None) -> list[dict[str, Any]]:
    """The broadcasts that have entries (of one host, or all), newest first: for a filter."""
    condition = [CommissionEntry.host_id == host_id] if host_id is not None else []
    rows = (await session.execute(
        select(rooms_table.c.id, rooms_table.c.title)
        .where(rooms_table.c.id.in_(select(CommissionEntry.room_id).where(*condition)))
        .order_by(rooms_table.c.id.desc()))).all()
    return [{"id": room_id, "title": title} for room_id, title in rows]


async def statement_hosts(session: AsyncSession) -> list[dict[str, Any]]:
    """The hosts that have entries, by name: for the ops filter."""
    rows = (await session.execute(
        select(users_table.c.id, users_table.c.display_name)
        .where(users_table.c.id.in_(select(CommissionEntry.host_id)))
        .order_by(users_table.c.display_name))).all()
    return [{"id": user_id, "display_name": name} for user_id, name in rows]
