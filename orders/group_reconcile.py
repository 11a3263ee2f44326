"""A group deal's Redis keys rebuilt from PostgreSQL, and the invariant check
(`livesell check-groups`).

What PostgreSQL says (the groups and their orders are the truth):

- a group's slots `taken` = its orders awaiting payment (held) + its paid ones; `paid` = its
  row's `paid_count`; its members are those orders' buyers (`h:`/`p:` marks);
- the deal's `sold` = the paid (or completed) orders of its open and formed groups, `held` =
  the slots of its open groups not yet paid for (`size - paid_count` each: the group's units
  were set aside when it opened), `available = units - returned_units - held - sold`.

The rebuild takes the deal's advisory lock exclusive, which waits for every open or join in
flight (they hold it shared from before their script to their commit), so it counts each one
committed or not at all. A move made after a commit (a payment's sale of its slot, an expiry's
release, a failure's close) finds the member's mark or the group's state already as the
rebuild wrote it and does nothing: each happens once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import to_epoch_ms
from core.context import Services
from core.db import lock_advisory
from orders import group_stock
from orders.group_errors import GroupDealNotFound
from orders.group_models import Group, GroupDeal, GroupStatus
from orders.models import Order, OrderStatus

# An order of these statuses is a member's: held while awaiting payment, then paid.
MEMBER_STATUSES = (OrderStatus.PENDING_PAYMENT.value, OrderStatus.PAID.value,
                   OrderStatus.COMPLETED.value)
PAID_STATUSES = (OrderStatus.PAID.value, OrderStatus.COMPLETED.value)


async def lock_deal(session: AsyncSession, deal_id: int, *, shared: bool) -> None:
    await lock_advisory(session, group_stock.ADVISORY_NAMESPACE, [deal_id], shared=shared)


@dataclass(frozen=True)
class DealTruth:
    """The deal's counters and groups as PostgreSQL has them."""

    deal: GroupDeal
    counts: group_stock.DealCounts
    groups: list[group_stock.GroupState]


async def _truth(session: AsyncSession, deal_id: int) -> DealTruth:
    deal = await session.get(GroupDeal, deal_id)
    if deal is None:
        raise GroupDealNotFound(f"group deal {deal_id} does not exist", field="deal_id")
    groups = list(await session.scalars(
        select(Group).where(Group.deal_id == deal_id).order_by(Group.id)))
    members: dict[int, dict[int, str]] = {}
    if groups:
        for group_id, user_id, order_id, status in await session.execute(
                select(Order.group_id, Order.user_id, Order.id, Order.status)
                .where(Order.group_id.in_([g.id for g in groups]),
                       Order.status.in_(MEMBER_STATUSES))):
            state = "h" if status == OrderStatus.PENDING_PAYMENT.value else "p"
            members.setdefault(int(group_id or 0), {})[user_id] = group_stock.mark(state, order_id)
    states: list[group_stock.GroupState] = []
    held = sold = 0
    for group in groups:
        marks = members.get(group.id, {})
        paid_members = sum(1 for m in marks.values() if m.startswith("p:"))
        sold += paid_members
        if group.status == GroupStatus.OPEN.value:
            held += group.size - group.paid_count
        # A formed group's slots are taken for good (a member refunded after it formed does
        # not reopen one).
        taken = group.size if group.status == GroupStatus.FORMED.value else len(marks)
        states.append(group_stock.GroupState(
            group_id=group.id, state=group.status, size=group.size, taken=taken,
            paid=group.paid_count, deadline_ms=to_epoch_ms(group.deadline), members=marks))
    available = deal.units - deal.returned_units - held - sold
    return DealTruth(deal, group_stock.DealCounts(available, held, sold), states)


async def rebuild_deal(svc: Services, deal_id: int) -> group_stock.DealCounts:
    """Write the deal's keys again from PostgreSQL; returns the counters written."""
    async with svc.db.transaction() as session:
        await lock_deal(session, deal_id, shared=False)
        truth = await _truth(session, deal_id)
        await group_stock.write_deal(svc.redis, group_stock.DealKeys.of(svc.keys, deal_id),
                                     truth.counts, truth.groups)
    return truth.counts


@dataclass
class DealCheck:
    deal_id: int
    units: int
    returned_units: int
    redis: group_stock.DealCounts | None
    postgres: group_stock.DealCounts
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def check_deal(svc: Services, deal_id: int) -> DealCheck:
    """`units = returned_units + available + held + sold` in Redis, its counters and every
    group's slots as PostgreSQL has them, and no group with more paid members than its size.
    Run it when no join or payment is in flight (a move between its commit and its script
    shows as a difference until it lands)."""
    async with svc.db.transaction() as session:
        # Exclusive: no join is between its script and its commit while we read.
        await lock_deal(session, deal_id, shared=False)
        truth = await _truth(session, deal_id)
        dk = group_stock.DealKeys.of(svc.keys, deal_id)
        redis_counts = await group_stock.read_counts(svc.redis, dk)
        over = list(await session.scalars(
            select(Order.group_id).where(
                Order.group_id.in_(select(Group.id).where(Group.deal_id == deal_id)),
                Order.status.in_((*PAID_STATUSES, OrderStatus.REFUNDED.value)))
            .group_by(Order.group_id)
            .having(func.count() > select(Group.size).where(Group.id == Order.group_id)
                    .scalar_subquery())))
        slots = {g.group_id: await group_stock.read_slots(svc.redis, dk, g.group_id)
                 for g in truth.groups}
    deal = truth.deal
    check = DealCheck(deal_id, deal.units, deal.returned_units, redis_counts, truth.counts)
    if deal.returned_units + truth.counts.total != deal.units:
        check.problems.append(f"deal {deal_id}: PostgreSQL counts {truth.counts} and "
                              f"{deal.returned_units} returned do not make {deal.units}")
    if redis_counts is None:
        check.problems.append(f"deal {deal_id}: Redis keys missing")
    else:
        if deal.returned_units + redis_counts.total != deal.units:
            check.problems.append(
                f"deal {deal_id}: units {deal.units} != returned {deal.returned_units} + "
                f"available {redis_counts.available} + held {redis_counts.held} + sold "
                f"{redis_counts.sold}")
        if redis_counts != truth.counts:
            check.problems.append(f"deal {deal_id}: Redis {redis_counts} != PostgreSQL "
                                  f"{truth.counts}")
    for group in truth.groups:
        got = slots[group.group_id]
        want = (group.state, group.size, group.taken, group.paid)
        if group.state == GroupStatus.FAILED.value:
            # A failed group's slots are not read again: only its state must say so.
            if got is not None and got.state != group.state:
                check.problems.append(f"group {group.group_id}: Redis says {got.state}, "
                                      "PostgreSQL failed")
            continue
        if got is None or (got.state, got.size, got.taken, got.paid) != want:
            check.problems.append(f"group {group.group_id}: Redis {got} != PostgreSQL {want}")
    for group_id in over:
        check.problems.append(f"group {group_id}: more paid members than its size")
    return check


async def all_deal_ids(svc: Services) -> list[int]:
    async with svc.db.session() as session:
        return list(await session.scalars(select(GroupDeal.id).order_by(GroupDeal.id)))
