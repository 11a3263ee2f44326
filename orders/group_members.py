"""A group order's moves inside the orders package's own paths: its payment (decided here, in
the payment's transaction), and its slot or unit given back when it expires, is cancelled or
is refunded (orders/order_moves.py). Kept apart from orders/groups.py, which refunds failed
groups through `orders.paying`: this module is what `orders.paying` itself calls.

**A payment is counted or refunded, atomically.** `payment_succeeded` runs one conditional
UPDATE of the group's row: `paid_count + 1` only while the group is open, before its deadline
(PostgreSQL's clock) and below its size; reaching the size forms the group in the same
statement. Two payments racing for the last slot are decided one after the other on that row:
one member, and one payment refunded (its order cancelled, its slot freed). Never N+1 members,
whatever Redis says.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from core.errors import present
from core.events import DomainEvent, record
from orders import commissions, coupons, group_stock
from orders.events import OrderCancelled, OrderPaid
from orders.group_errors import GroupStillOpen
from orders.group_events import (
    GroupFormed,
    GroupMemberPaid,
    GroupSlotFreed,
    GroupUnitsReleased,
)
from orders.group_models import Group, GroupDeal, GroupStatus
from orders.group_reconcile import rebuild_deal
from orders.logs import move_order
from orders.models import Order, OrderEventType, OrderStatus, Payment

log = logging.getLogger(__name__)

Effect = Callable[[], Awaitable[None]]


async def _deal_of(session: AsyncSession, group_id: int) -> tuple[int, int]:
    """The group's deal and room."""
    row = (await session.execute(
        select(GroupDeal.id, GroupDeal.room_id).join(Group, Group.deal_id == GroupDeal.id)
        .where(Group.id == group_id))).one()
    return int(row.id), int(row.room_id)


def group_of(order: Order) -> int:
    """The group of an order these functions are only ever given for a group's member."""
    return present(order.group_id, f"order {order.id}'s group_id")


async def payment_succeeded(svc: Services, session: AsyncSession, order: Order,
                            payment: Payment, effects: list[Effect]) -> tuple[str, bool]:
    """A captured payment of a group order, inside the payment's transaction (the order row is
    held). Returns the outcome and whether the payment must be refunded (the caller queues
    it): an order no longer awaiting payment (expired: its slot went to someone else, or
    cancelled by the group's failure), or a group that is no longer open to it."""
    group_id = group_of(order)
    current = OrderStatus(order.status)
    if current != OrderStatus.PENDING_PAYMENT:
        return f"refunded_order_{current.value}", True
    full = Group.paid_count + 1 == Group.size
    counted = (await session.execute(
        update(Group).where(Group.id == group_id, Group.status == GroupStatus.OPEN.value,
                            Group.deadline > func.now(), Group.paid_count < Group.size)
        .values(paid_count=Group.paid_count + 1,
                status=case((full, GroupStatus.FORMED.value), else_=Group.status),
                formed_at=case((full, func.now()), else_=Group.formed_at))
        .returning(Group.status, Group.deal_id))).first()
    deal_id, room_id = await _deal_of(session, group_id)
    dk = group_stock.DealKeys.of(svc.keys, deal_id)
    if counted is None:
        # Closed to it (failed, or the deadline passed and the sweep has not come yet): the
        # order is cancelled, its slot freed, and the caller refunds the money.
        if await move_order(session, order.id, current, OrderStatus.CANCELLED,
                            event_type=OrderEventType.ORDER_CANCELLED, actor_id=None,
                            data={"payment": payment.provider_ref, "group_closed": True}):
            if order.coupon_claim_id is not None:
                await coupons.release_claims_of(session, [order.id])
            record(session, OrderCancelled(order_id=order.id, sale_id=None,
                                           user_id=order.user_id),
                   GroupSlotFreed(group_id=group_id, deal_id=deal_id, room_id=room_id))

        async def free_slot() -> None:
            await _release_slot(svc, dk, deal_id, group_id, order.user_id, order.id)

        effects.append(free_slot)
        return "refunded_group_closed", True
    formed = counted.status == GroupStatus.FORMED.value
    await commissions.move_to_paid(session, order, current, payment,
                                   shares=svc.settings.shares, group_id=group_id)

    async def sell_slot() -> None:
        code = await group_stock.sell_slot(svc.redis, dk, group_id, user_id=order.user_id,
                                           order_id=order.id, formed=formed)
        if code == group_stock.MISSING:
            await rebuild_deal(svc, deal_id)

    effects.append(sell_slot)
    news: DomainEvent = (GroupFormed if formed else GroupMemberPaid)(
        group_id=group_id, deal_id=deal_id, room_id=room_id)
    record(session, OrderPaid(order_id=order.id, sale_id=None, user_id=order.user_id), news)
    return "paid", False


async def _release_slot(svc: Services, dk: group_stock.DealKeys, deal_id: int, group_id: int,
                        user_id: int, order_id: int) -> None:
    code = await group_stock.release_slot(svc.redis, dk, group_id, user_id=user_id,
                                          order_id=order_id)
    if code == group_stock.MISSING:
        await rebuild_deal(svc, deal_id)


async def slot_freed_events(session: AsyncSession, orders: list[Order]) -> list[DomainEvent]:
    """The rooms' news of group orders that expired or were cancelled unpaid (one per group)."""
    group_ids = sorted({o.group_id for o in orders if o.group_id is not None})
    if not group_ids:
        return []
    rows = await session.execute(
        select(Group.id, GroupDeal.id, GroupDeal.room_id).join(GroupDeal,
                                                               GroupDeal.id == Group.deal_id)
        .where(Group.id.in_(group_ids)))
    return [GroupSlotFreed(group_id=g, deal_id=d, room_id=r) for g, d, r in rows]


async def release_slot_of(svc: Services, order: Order) -> None:
    """An unpaid group order expired or was cancelled (committed): its slot is free, once."""
    group_id = group_of(order)
    async with svc.db.session() as session:
        deal_id, _ = await _deal_of(session, group_id)
    await _release_slot(svc, group_stock.DealKeys.of(svc.keys, deal_id), deal_id,
                        group_id, order.user_id, order.id)


async def before_refund(svc: Services, session: AsyncSession, order: Order) -> bool:
    """Inside a refund's transaction (ops refunding a paid group order): only a formed group's
    member is refunded by hand (an open group's are refunded when it fails, all of them).
    When the deal has settled, the unit goes back to the product here, in this transaction,
    and True is returned (else it goes back to the deal's available units after the commit)."""
    row = (await session.execute(
        select(Group.status, GroupDeal).join(GroupDeal, GroupDeal.id == Group.deal_id)
        .where(Group.id == group_of(order)).with_for_update(of=GroupDeal))).one()
    status, deal = row
    if status == GroupStatus.OPEN.value:
        raise GroupStillOpen("this group is still open: its members are refunded if it fails",
                             field="order_id")
    if deal.settled_at is None:
        return False
    await svc.events.run_in_transaction(session, GroupUnitsReleased(
        product_id=deal.product_id, units=order.quantity, deal_id=deal.id, order_id=order.id))
    await session.execute(update(GroupDeal).where(GroupDeal.id == deal.id)
                          .values(returned_units=GroupDeal.returned_units + order.quantity))
    return True


async def refund_unit_of(svc: Services, order: Order, *, to_product: bool) -> None:
    """A formed group's member was refunded (committed): their unit leaves the sold count,
    once, back to the deal (or, settled, already to the product)."""
    group_id = group_of(order)
    async with svc.db.session() as session:
        deal_id, _ = await _deal_of(session, group_id)
    code = await group_stock.refund_unit(
        svc.redis, group_stock.DealKeys.of(svc.keys, deal_id), group_id,
        user_id=order.user_id, order_id=order.id, to_product=to_product)
    if code == group_stock.MISSING:
        await rebuild_deal(svc, deal_id)
