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
- Sharers (docs/social.md) earn through the same table: `accrue` adds their entries beside the
  host's, and every rule of theirs (depth, own purchase, cycles, purchases only, the caps) is
  decided in `plan_sharers` and `share_rates_bp`, then held again by the table's constraints
  and `check_order_sums`.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import column, func, select, table, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from core.errors import DomainError
from core.settings import ShareSettings
from core.states import transition
from orders.errors import SaleNotFound
from orders.logs import move_order
from orders.models import (
    COMMISSION_MOVES,
    CommissionEntry,
    CommissionKind,
    CommissionParty,
    CommissionStatus,
    Order,
    OrderEventType,
    OrderLine,
    OrderStatus,
    Payment,
    Sale,
    products_share_table,
    rooms_table,
    share_attributions_table,
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


def share_amount(base_minor: int, rate_bp: int) -> int:
    """A sharer's amount: base x rate rounded down, so that the host's (rounded half up) and
    the sharers' never add up to more than was paid (docs/social.md)."""
    return base_minor * rate_bp // BP_PER_WHOLE


class LedgerRuleBroken(DomainError):
    """An order's entries would break a rule of the ledger: the payment's transaction rolls
    back rather than commit it. Never expected: the rules are applied before the insert."""

    status_code = 500
    code = "ledger_rule_broken"


@dataclass(frozen=True, slots=True)
class SharerPlan:
    """Who earns on an order besides its host: (level, sharer id, via id) per sharer."""

    attribution_id: int | None
    sharers: tuple[tuple[int, int, int | None], ...] = ()


def plan_sharers(buyer_id: int, level1_id: int | None, level2_id: int | None,
                 max_depth: int) -> tuple[tuple[int, int, int | None], ...]:
    """The one place the chain rules are decided, from the buyer, the sharer whose attribution
    stood (level 1) and the one who brought that sharer (level 2):
    - depth: never more than `max_depth`, itself never more than 2;
    - no commission on one's own purchase: a sharer who is the buyer earns nothing;
    - no cycle: the level-2 sharer is neither the buyer nor the level-1 sharer.
    Returns (level, earner, via) triples; empty when nobody earns."""
    depth = min(max_depth, 2)
    if level1_id is None or level1_id == buyer_id or depth < 1:
        return ()
    chain: list[tuple[int, int, int | None]] = [(1, level1_id, None)]
    if depth >= 2 and level2_id is not None and level2_id not in (buyer_id, level1_id):
        chain.append((2, level2_id, level1_id))
    return tuple(chain)


def share_rates_bp(host_rate_bp: int, product_rate_bp: int | None, rules: ShareSettings,
                   levels: int) -> list[int]:
    """The sharers' rates, level 1 first: the product's rate (or the platform default), never
    above the platform cap; level 2 the platform's level-2 rate within what the cap leaves;
    and all of them within what the host's rate leaves of the whole (docs/social.md)."""
    room_bp = BP_PER_WHOLE - host_rate_bp
    level1 = product_rate_bp if product_rate_bp is not None else rules.default_rate_bp
    level1 = max(0, min(level1, rules.rate_cap_bp, room_bp))
    rates = [level1]
    if levels >= 2:
        rates.append(max(0, min(rules.level2_rate_bp, rules.rate_cap_bp - level1,
                                room_bp - level1)))
    return rates[:levels]


@dataclass(frozen=True, slots=True)
class ShareLine:
    """What a sharer's rate depends on, for one line of an order (a flash-sale order is one)."""

    amount_minor: int
    host_rate_bp: int
    product_share_rate_bp: int | None


def weighted_share_rates_bp(lines: Sequence[ShareLine], rules: ShareSettings,
                            levels: int) -> list[int]:
    """The sharers' rates of an order, level 1 first: each line's own rates (its product's share
    rate within its host rate, `share_rates_bp`) weighted by the line's amount, rounded down, so
    that one rounding of the order's rate on the amount paid gives each line's product its rate
    on that line's share of it (as the host's entry does: decision 0017). Rounded down, each
    level stays within the cap and what the host's half-up weighted rate leaves of the whole,
    since every line's rates do (docs/social.md)."""
    per_line = [share_rates_bp(line.host_rate_bp, line.product_share_rate_bp, rules, levels)
                for line in lines]
    if len({tuple(rates) for rates in per_line}) == 1:
        return per_line[0]
    base = sum(line.amount_minor for line in lines)
    if base == 0:  # nothing paid: the lowest rate of each level keeps every sum within bounds
        return [min(rates[level] for rates in per_line) for level in range(levels)]
    return [sum(line.amount_minor * rates[level] for line, rates in zip(lines, per_line,
                                                                         strict=True)) // base
            for level in range(levels)]


async def share_lines(session: AsyncSession, order: Order) -> list[ShareLine]:
    """The order's lines as a sharer's rate reads them: a regular-price order's own lines (each
    with its product's share rate read now, docs/social.md), or a flash-sale order's product."""
    p = products_share_table
    rows = (await session.execute(
        select(OrderLine.amount_minor, OrderLine.commission_rate_bp, p.c.share_rate_bp)
        .join(p, p.c.id == OrderLine.product_id)
        .where(OrderLine.order_id == order.id).order_by(OrderLine.id))).all()
    if rows:
        return [ShareLine(int(amount), int(rate), share_rate) for amount, rate, share_rate in rows]
    product_rate_bp = await session.scalar(
        select(p.c.share_rate_bp).where(p.c.id == order.product_id))
    return [ShareLine(order.amount_minor, order.commission_rate_bp, product_rate_bp)]


async def standing_attribution(session: AsyncSession, user_id: int,
                               at: datetime) -> tuple[int, int] | None:
    """(attribution id, sharer id) of the attribution that stood for `user_id` at `at`: the
    last click before it whose window had not closed (last click wins)."""
    a = share_attributions_table
    row = (await session.execute(
        select(a.c.id, a.c.sharer_id)
        .where(a.c.user_id == user_id, a.c.clicked_at <= at, a.c.expires_at > at)
        .order_by(a.c.clicked_at.desc(), a.c.id.desc()).limit(1))).first()
    return (int(row[0]), int(row[1])) if row is not None else None


async def recruiter_of(session: AsyncSession, user_id: int, before: datetime) -> int | None:
    """Who brought `user_id`: the sharer of their first attribution ever (if it came before
    `before`). Fixed once made: attributions are never edited, so a later click changes who
    a buyer's purchases credit, never who brought the sharer."""
    a = share_attributions_table
    sharer: int | None = await session.scalar(
        select(a.c.sharer_id).where(a.c.user_id == user_id, a.c.clicked_at <= before)
        .order_by(a.c.clicked_at, a.c.id).limit(1))
    return sharer


async def plan_for_order(session: AsyncSession, order: Order, max_depth: int) -> SharerPlan:
    standing = await standing_attribution(session, order.user_id, order.created_at)
    if standing is None:
        return SharerPlan(None)
    attribution_id, level1_id = standing
    level2_id = (await recruiter_of(session, level1_id, order.created_at)
                 if max_depth >= 2 else None)
    return SharerPlan(attribution_id,
                      plan_sharers(order.user_id, level1_id, level2_id, max_depth))


async def check_order_sums(session: AsyncSession, order_id: int, paid_minor: int,
                           rules: ShareSettings) -> None:
    """Sums per order never exceed what was configured: the sharers' rates within the cap,
    the host's and the sharers' rates within the whole, and the amounts within what was
    paid. Run after the order's accruals are in, in their transaction."""
    rows = (await session.execute(
        select(CommissionEntry.party, CommissionEntry.rate_bp, CommissionEntry.amount_minor)
        .where(CommissionEntry.order_id == order_id,
               CommissionEntry.kind == CommissionKind.ACCRUAL.value))).all()
    sharer_bp = sum(r.rate_bp for r in rows if r.party == CommissionParty.SHARER.value)
    total_bp = sum(r.rate_bp for r in rows)
    total_minor = sum(r.amount_minor for r in rows)
    if sharer_bp > rules.rate_cap_bp or total_bp > BP_PER_WHOLE or total_minor > paid_minor:
        raise LedgerRuleBroken(
            f"order {order_id}: sharers {sharer_bp} bp (cap {rules.rate_cap_bp}), all "
            f"{total_bp} bp, {total_minor} of {paid_minor} paid")


# Hooks: called inside the order move's transaction -------------------------------------------


async def move_to_paid(session: AsyncSession, order: Order, current: OrderStatus,
                       payment: Payment, *, shares: ShareSettings, **facts: Any) -> None:
    """Move the order to paid by `payment` (its log entry names the payment, and `facts`) and
    accrue its commissions in the same transaction: a paid order is never committed without
    its entry. A concurrent move that got there first accrued them itself."""
    if await move_order(session, order.id, current, OrderStatus.PAID,
                        event_type=OrderEventType.ORDER_PAID, actor_id=None,
                        data={"payment": payment.provider_ref, **facts}, paid_at=func.now()):
        await accrue(session, order, paid_minor=payment.amount_minor, shares=shares)


async def accrue(session: AsyncSession, order: Order, *, paid_minor: int,
                 shares: ShareSettings | None = None) -> int | None:
    """The order was paid: a pending entry for its host and, when `shares` (the platform's
    share rules) are given and an attribution stood when the order was created, one for each
    sharer it credits. Idempotent: one accrual per order and earner's place. Returns the
    host's new entry id, or None if it existed already."""
    rate_bp = order.commission_rate_bp
    # One rounding, on what was paid: a regular-price order's rate is its lines' amount-weighted
    # rate (orders.regular.order_rate_bp). Summing each line's rounded commission instead could
    # come to more than the order's rate allows, and with a sharer's floor-rounded share to
    # more than was paid (docs/social.md), which the ledger's sum check refuses.
    amount = commission_amount(paid_minor, rate_bp)
    if order.sale_id is None:
        host_id = order.host_id  # a regular-price order names its host
    else:
        host_id = await session.scalar(select(Sale.host_id).where(Sale.id == order.sale_id))
    if host_id is None:
        raise SaleNotFound(f"sale {order.sale_id} of order {order.id} does not exist",
                           field="sale_id")
    inserted: int | None = await session.scalar(
        pg_insert(CommissionEntry).values(
            host_id=host_id, order_id=order.id, room_id=order.room_id,
            kind=CommissionKind.ACCRUAL.value, party=CommissionParty.HOST.value, level=0,
            base_minor=paid_minor, rate_bp=rate_bp,
            amount_minor=amount, currency=order.currency,
            status=CommissionStatus.PENDING.value)
        .on_conflict_do_nothing(constraint="uq_commission_entries_order_kind")
        .returning(CommissionEntry.id))
    if shares is not None:
        await accrue_sharers(session, order, paid_minor=paid_minor, rules=shares)
    return inserted


async def accrue_sharers(session: AsyncSession, order: Order, *, paid_minor: int,
                         rules: ShareSettings) -> list[int]:
    """The sharers' pending entries of a paid order (only ever from a purchase: no other
    path writes a sharer's entry), and the order's attribution recorded on it."""
    plan = await plan_for_order(session, order, rules.max_depth)
    if plan.attribution_id is None:
        return []
    await session.execute(
        update(Order).where(Order.id == order.id, Order.share_attribution_id.is_(None))
        .values(share_attribution_id=plan.attribution_id))
    order.share_attribution_id = plan.attribution_id
    if not plan.sharers:
        return []
    rates = weighted_share_rates_bp(await share_lines(session, order), rules,
                                    len(plan.sharers))
    created: list[int] = []
    for (level, sharer_id, via_id), share_bp in zip(plan.sharers, rates, strict=True):
        if share_bp == 0:
            continue  # nothing to earn (a rate of 0, or nothing left under the cap)
        entry_id = await session.scalar(
            pg_insert(CommissionEntry).values(
                host_id=sharer_id, order_id=order.id, room_id=order.room_id,
                kind=CommissionKind.ACCRUAL.value, party=CommissionParty.SHARER.value,
                level=level, buyer_id=order.user_id, via_id=via_id,
                base_minor=paid_minor, rate_bp=share_bp,
                amount_minor=share_amount(paid_minor, share_bp), currency=order.currency,
                status=CommissionStatus.PENDING.value)
            .on_conflict_do_nothing(constraint="uq_commission_entries_order_kind")
            .returning(CommissionEntry.id))
        if entry_id is not None:
            created.append(entry_id)
    await check_order_sums(session, order.id, paid_minor, rules)
    return created


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
    """The order was refunded. Each of its accruals (the host's, the sharers') not yet settled
    becomes void; each settled one stays as it was and gets a negative reversal entry.
    Returns what happened: "voided", "reversed", "already_reversed" or "none"."""
    voided = False
    for current in (CommissionStatus.PENDING, CommissionStatus.FROZEN):
        if await _move(session, order_id, current, CommissionStatus.VOID,
                       voided_at=func.now()) is not None:
            voided = True
    # A fresh statement: under READ COMMITTED it sees a settle that committed while the UPDATEs
    # above waited for its row lock.
    settled = list(await session.scalars(select(CommissionEntry).where(
        CommissionEntry.order_id == order_id,
        CommissionEntry.kind == CommissionKind.ACCRUAL.value,
        CommissionEntry.status == CommissionStatus.SETTLED.value)
        .order_by(CommissionEntry.level)))
    if not settled:
        return "voided" if voided else "none"
    reversed_any = False
    for entry in settled:
        inserted = await session.scalar(
            pg_insert(CommissionEntry).values(
                host_id=entry.host_id, order_id=order_id, room_id=entry.room_id,
                kind=CommissionKind.REVERSAL.value, party=entry.party, level=entry.level,
                buyer_id=entry.buyer_id, via_id=entry.via_id, base_minor=-entry.base_minor,
                rate_bp=entry.rate_bp, amount_minor=-entry.amount_minor,
                currency=entry.currency, status=CommissionStatus.SETTLED.value,
                settled_at=func.now())
            .on_conflict_do_nothing(constraint="uq_commission_entries_order_kind")
            .returning(CommissionEntry.id))
        reversed_any = reversed_any or inserted is not None
    return "reversed" if reversed_any else "already_reversed"


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
    # Host statements: the sharers' entries have their own page (/me/shares).
    conditions: list[Any] = [CommissionEntry.party == CommissionParty.HOST.value]
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
    condition = [CommissionEntry.party == CommissionParty.HOST.value]
    if host_id is not None:
        condition.append(CommissionEntry.host_id == host_id)
    rows = (await session.execute(
        select(rooms_table.c.id, rooms_table.c.title)
        .where(rooms_table.c.id.in_(select(CommissionEntry.room_id).where(*condition)))
        .order_by(rooms_table.c.id.desc()))).all()
    return [{"id": room_id, "title": title} for room_id, title in rows]


async def statement_hosts(session: AsyncSession) -> list[dict[str, Any]]:
    """The hosts that have entries, by name: for the ops filter."""
    rows = (await session.execute(
        select(users_table.c.id, users_table.c.display_name)
        .where(users_table.c.id.in_(select(CommissionEntry.host_id).where(
            CommissionEntry.party == CommissionParty.HOST.value)))
        .order_by(users_table.c.display_name))).all()
    return [{"id": user_id, "display_name": name} for user_id, name in rows]


async def order_share_credit(session: AsyncSession, order_id: int) -> dict[str, Any]:
    """What the order's buyer (and its host, and ops) see of the sharers it credited: whether
    any was, who, at which rate, how much and in which state (reversals included)."""
    rows = (await session.execute(
        select(CommissionEntry, users_table.c.display_name)
        .join(users_table, users_table.c.id == CommissionEntry.host_id)
        .where(CommissionEntry.order_id == order_id,
               CommissionEntry.party == CommissionParty.SHARER.value)
        .order_by(CommissionEntry.level, CommissionEntry.id))).all()
    sharers = [{"level": entry.level, "sharer_id": entry.host_id, "sharer_name": name,
                "kind": entry.kind, "rate_bp": entry.rate_bp,
                "amount_minor": entry.amount_minor, "currency": entry.currency,
                "status": entry.status} for entry, name in rows]
    return {"credited": any(s["kind"] == CommissionKind.ACCRUAL.value for s in sharers),
            "total_minor": sum(s["amount_minor"] for s in sharers
                               if s["status"] != CommissionStatus.VOID.value),
            "entries": sharers}
