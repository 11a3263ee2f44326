"""Group buys (拼团): a host's group deal on a lineup product; buyers open groups and join
them; a group forms when `size` members have paid before its deadline, else it fails and every
paid member is refunded (docs/social.md, "Group buys"; docs/decisions/0019-group-buys.md).

- **Deal** (`create_deal`): its `units` are taken from the product's stock by the product's
  owner in the deal's transaction, through the same callback a flash sale uses
  (`orders.sales.TakeStock`, `live.actions.take_stock_for_sale`). Unsold units go back once the
  deal has ended and no group of it is open or awaiting a payment (`settle_deal`).
- **Open** (`open_group`): one Lua script sets the group's `size` units aside from the deal's
  available ones (refused with `deal_sold_out` when fewer are left) and holds the opener's
  slot; the group row and the opener's order (awaiting payment) are committed before the reply.
  An open group therefore never runs out of units: it fails only by its deadline.
- **Join** (`join_group`): one Lua script holds a slot (open, before the deadline, not a
  member already, a slot free); the order is committed before the reply. Both hold the deal's
  advisory lock shared from before the script to the commit, as a coupon's claim does.
- **Pay**: orders/group_members.py decides each payment on the group's row.
- **Fail** (`fail_expired_groups`, on the beat): a group past its deadline is failed by a
  conditional UPDATE, and in the same transaction every paid member's order is refunded (the
  provider asked through the outbox, by the payment's refund key) and every unpaid one
  cancelled; after the commit its units go back to the deal. Once, whatever crashes: the
  transaction is all or nothing and the outbox retries the provider.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Integer, cast, exists, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import Actor, User, owns_or_ops
from core.clock import to_epoch_ms
from core.context import Services
from core.errors import Conflict, present
from core.events import dispatch_committed, record, unit_of_work
from core.states import transition
from orders import commissions, coupons, group_stock
from orders.events import OrderCancelled, OrderRefunded
from orders.group_errors import (
    AlreadyInGroup,
    DealEnded,
    DealSoldOut,
    GroupAlreadyFailed,
    GroupDealNotFound,
    GroupExpired,
    GroupFull,
    GroupNotFound,
    HostCannotJoin,
    NotDealHost,
)
from orders.group_events import (
    GroupChanged,
    GroupDealChanged,
    GroupDealCreated,
    GroupDealEnded,
    GroupDealSettled,
    GroupFailed,
    GroupJoined,
    GroupOpened,
    GroupUnitsReleased,
)
from orders.group_models import (
    DEAL_MOVES,
    GROUP_MOVES,
    DealStatus,
    FailReason,
    Group,
    GroupDeal,
    GroupStatus,
)
from orders.group_reconcile import MEMBER_STATUSES, PAID_STATUSES, lock_deal, rebuild_deal
from orders.group_schemas import GroupDealIn
from orders.logs import move_order
from orders.models import Order, OrderEventType, OrderStatus, Payment, PaymentStatus
from orders.paying import queue_refund
from orders.payments import get_provider
from orders.sales import EndedRooms, TakeStock
from orders.views import order_view
from realtime.publish import ServerEvent, publish_room, publish_user

log = logging.getLogger(__name__)


# Deals -----------------------------------------------------------------------------------------


async def create_deal(svc: Services, actor: Actor, room_id: int, data: GroupDealIn,
                      take_stock: TakeStock) -> GroupDeal:
    """Offer a group deal on a product of the room's lineup. Its units are taken from the
    product's stock now, by the product's owner, in this transaction (`take_stock`)."""
    async with svc.db.transaction() as session:
        taken = await take_stock(session)
        deal = GroupDeal(room_id=room_id, product_id=data.product_id, host_id=taken.host_id,
                         price_minor=data.price_minor, currency=taken.currency,
                         group_size=data.group_size, open_seconds=data.open_seconds,
                         units=data.units,
                         commission_rate_bp=commissions.resolve_rate_bp(
                             taken.product_commission_rate_bp, taken.room_commission_rate_bp))
        session.add(deal)
        await session.flush()
        record(session, GroupDealCreated(deal_id=deal.id, room_id=room_id,
                                         product_id=data.product_id))
    # The counters exist before anyone hears of the deal.
    await rebuild_deal(svc, deal.id)
    await dispatch_committed(svc, session)
    return deal


async def end_deal(svc: Services, actor: Actor | None, deal_id: int) -> GroupDeal:
    """No new group opens (the host's button, or the deal's room ended). Open groups run to
    their deadline; the deal settles once none is open. The deal's advisory lock, taken
    exclusive, waits for every open in flight: none can set units aside after this."""
    transition(DEAL_MOVES, DealStatus.OPEN, DealStatus.ENDED, what="a group deal")
    async with unit_of_work(svc) as session:
        await lock_deal(session, deal_id, shared=False)
        deal = await session.get(GroupDeal, deal_id)
        if deal is None:
            raise GroupDealNotFound(f"group deal {deal_id} does not exist", field="deal_id")
        if actor is not None and not owns_or_ops(actor, deal.host_id):
            raise NotDealHost("only the deal's host can end it", field="deal_id")
        ended = await session.scalar(
            update(GroupDeal).where(GroupDeal.id == deal_id,
                                    GroupDeal.status == DealStatus.OPEN.value)
            .values(status=DealStatus.ENDED.value, ended_at=func.now())
            .returning(GroupDeal.id))
        if ended is None:
            raise DealEnded("the deal has ended already", field="deal_id")
        record(session, GroupDealEnded(deal_id=deal_id, room_id=deal.room_id))
    await settle_deal(svc, deal_id)
    return await get_deal(svc, deal_id)


async def settle_deal(svc: Services, deal_id: int) -> int | None:
    """Once an ended deal has no open group and no group order awaiting payment, give its
    unsold units back to the product's stock, once, in this transaction (the product's owner
    does it: `GroupUnitsReleased`). Returns the units returned, or None (not yet, or done)."""
    async with unit_of_work(svc) as session:
        deal = await session.scalar(
            select(GroupDeal).where(GroupDeal.id == deal_id,
                                    GroupDeal.status == DealStatus.ENDED.value,
                                    GroupDeal.settled_at.is_(None)).with_for_update())
        if deal is None:
            return None
        groups = select(Group.id).where(Group.deal_id == deal_id)
        busy = await session.scalar(select(
            exists().where(Group.deal_id == deal_id, Group.status == GroupStatus.OPEN.value)
            | exists().where(Order.group_id.in_(groups),
                             Order.status == OrderStatus.PENDING_PAYMENT.value)))
        if busy:
            return None
        sold = int(await session.scalar(select(func.count()).where(
            Order.group_id.in_(groups), Order.status.in_(PAID_STATUSES))) or 0)
        returned = deal.units - deal.returned_units - sold
        await svc.events.run_in_transaction(session, GroupUnitsReleased(
            product_id=deal.product_id, units=returned, deal_id=deal_id))
        await session.execute(update(GroupDeal).where(GroupDeal.id == deal_id).values(
            settled_at=func.now(), returned_units=GroupDeal.returned_units + returned))
        record(session, GroupDealSettled(deal_id=deal_id, room_id=deal.room_id,
                                         product_id=deal.product_id, units_returned=returned))
    # Redis says what PostgreSQL now does: nothing left available.
    await rebuild_deal(svc, deal_id)
    return returned


async def get_deal(svc: Services, deal_id: int) -> GroupDeal:
    return await svc.db.get(GroupDeal, deal_id, missing=GroupDealNotFound(
        f"group deal {deal_id} does not exist", field="deal_id"))


# Opening and joining ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Joined:
    group_id: int
    order: Order
    # The group and its deal as the join read them (a join moves neither row).
    group: Group
    deal: GroupDeal


class _KeysMissing(Exception):
    pass


def new_group_code() -> str:
    # 12 random url-safe characters (72 bits): a group's page cannot be guessed or walked.
    return secrets.token_urlsafe(9)


def _next_order_id() -> Any:
    return func.nextval(func.pg_get_serial_sequence("orders", "id"))


async def _apply_coupon(session: AsyncSession, deal: GroupDeal, user_id: int,
                        claim_id: int | None) -> coupons.Applied | None:
    """The buyer's live-room coupon claim, checked and locked for this order (the room's, unused,
    valid, the minimum reached by the group price): refused with nothing changed."""
    if claim_id is None:
        return None
    return await coupons.apply_claim(session, claim_id=claim_id, user_id=user_id,
                                     room_id=deal.room_id, amount_minor=deal.price_minor,
                                     currency=deal.currency)


async def _place_order(session: AsyncSession, svc: Services, deal: GroupDeal, group: Group,
                       user_id: int, now: Any, order_id: int,
                       applied: coupons.Applied | None = None) -> Order:
    """The member's order, awaiting payment: a regular order (no sale, no lines) of one unit at
    the group price (less a coupon's discount), held until the hold time or the group's
    deadline, whichever is first. The unique index on (group, buyer) of live orders refuses a
    second slot of one buyer."""
    discount = applied.discount_minor if applied is not None else 0
    hold_until = min(now + timedelta(seconds=svc.settings.order_hold_seconds), group.deadline)
    event: dict[str, Any] = {"quantity": 1, "amount_minor": deal.price_minor - discount,
                             "group_id": group.id}
    if applied is not None:
        event["coupon"] = {"claim_id": applied.claim_id, "coupon_id": applied.coupon_id,
                           "discount_minor": discount}
    order = await session.scalar(select(Order).from_statement(INSERT_GROUP_ORDER.bindparams(
        id=order_id, host_id=deal.host_id, room_id=deal.room_id, product_id=deal.product_id,
        user_id=user_id, amount_minor=deal.price_minor - discount, currency=deal.currency,
        key=f"group:{group.id}:{secrets.token_hex(8)}", hold_until=hold_until,
        rate=deal.commission_rate_bp, claim=applied.claim_id if applied is not None else None,
        discount=discount, group_id=group.id, event=orjson.dumps(event).decode())))
    if order is None:
        raise RuntimeError(f"order {order_id} was not returned by its insert")
    if applied is not None:
        await coupons.mark_used(session, applied, order_id)
    return order


# The member's order and its `order_placed` event in one statement (one round trip).
INSERT_GROUP_ORDER = text("""
WITH placed AS (
    INSERT INTO orders (id, sale_id, host_id, room_id, product_id, user_id, quantity,
                        amount_minor, currency, status, idempotency_key, reservation_no,
                        hold_expires_at, commission_rate_bp, source_kind, coupon_claim_id,
                        discount_minor, group_id)
    VALUES (:id, NULL, :host_id, :room_id, :product_id, :user_id, 1, :amount_minor, :currency,
            'pending_payment', :key, :id, :hold_until, :rate, 'live', CAST(:claim AS bigint),
            :discount, :group_id)
    RETURNING *
), event AS (
    INSERT INTO order_events (order_id, type, from_status, to_status, actor_id, data)
    VALUES (:id, 'order_placed', NULL, 'pending_payment', :user_id, CAST(:event AS jsonb))
)
SELECT * FROM placed
""")


async def open_group(svc: Services, user_id: int, deal_id: int, *,
                     coupon_claim_id: int | None = None) -> Joined:
    """A buyer opens a group of the deal, their own slot held while they pay."""
    for _attempt in range(3):
        try:
            return await _open(svc, user_id, deal_id, coupon_claim_id)
        except _KeysMissing:
            log.warning("group deal %s keys missing in Redis; rebuilding", deal_id)
            await rebuild_deal(svc, deal_id)
    raise RuntimeError(f"group deal {deal_id}'s keys went missing three times in a row")


async def _open(svc: Services, user_id: int, deal_id: int, claim_id: int | None) -> Joined:
    dk = group_stock.DealKeys.of(svc.keys, deal_id)
    opened_group: int | None = None
    try:
        async with unit_of_work(svc) as session:
            await lock_deal(session, deal_id, shared=True)
            row = (await session.execute(select(GroupDeal, func.now())
                                         .where(GroupDeal.id == deal_id))).first()
            if row is None:
                raise GroupDealNotFound(f"group deal {deal_id} does not exist", field="deal_id")
            deal, now = row
            if deal.status != DealStatus.OPEN.value:
                raise DealEnded("the host has ended this group deal", field="deal_id")
            if deal.host_id == user_id:
                raise HostCannotJoin("a host does not buy from their own group deal",
                                     field="deal_id")
            applied = await _apply_coupon(session, deal, user_id, claim_id)
            group = Group(deal_id=deal_id, code=new_group_code(), leader_id=user_id,
                          size=deal.group_size, status=GroupStatus.OPEN.value, paid_count=0,
                          deadline=now + timedelta(seconds=deal.open_seconds))
            session.add(group)
            await session.flush()
            order_id = int(await session.scalar(select(_next_order_id())) or 0)
            order = await _place_order(session, svc, deal, group, user_id, now, order_id,
                                       applied)
            code = await group_stock.open_group(
                svc.redis, dk, group.id, user_id=user_id, order_id=order.id,
                size=deal.group_size, deadline_ms=to_epoch_ms(group.deadline))
            if code == group_stock.MISSING:
                raise _KeysMissing
            if code == group_stock.SOLD_OUT:
                raise DealSoldOut("too few units are left in this deal for a new group",
                                  field="deal_id")
            opened_group = group.id
            record(session, GroupOpened(group_id=group.id, deal_id=deal_id,
                                        room_id=deal.room_id))
    except BaseException:
        if opened_group is not None:
            await _undo_unless_committed(svc, dk, deal_id, opened_group)
        raise
    return Joined(opened_group, order, group, deal)


async def _undo_unless_committed(svc: Services, dk: group_stock.DealKeys, deal_id: int,
                                 group_id: int) -> None:
    """An open's commit failed (or its acknowledgement was lost): its units go back unless the
    group is in PostgreSQL after all."""
    try:
        async with svc.db.session() as session:
            if await session.get(Group, group_id) is not None:
                return
    except Exception:  # PostgreSQL unreachable: a rebuild (from what committed) decides
        log.warning("could not look for group %s", group_id, exc_info=True)
        return
    await group_stock.close_group(svc.redis, dk, group_id)
    # A rebuild drops nothing a commit holds (it waits for the commit): counts again.
    await rebuild_deal(svc, deal_id)


async def join_group(svc: Services, user_id: int, group_id: int, *,
                     coupon_claim_id: int | None = None) -> Joined:
    """A buyer holds a slot of an open group while they pay."""
    for _attempt in range(3):
        try:
            return await _join(svc, user_id, group_id, coupon_claim_id)
        except _KeysMissing as missing:
            deal_id = int(str(missing))
            log.warning("group deal %s keys missing in Redis; rebuilding", deal_id)
            await rebuild_deal(svc, deal_id)
    raise RuntimeError(f"group {group_id}'s keys went missing three times in a row")


async def _check_open(group: Group, deal: GroupDeal, user_id: int, before_deadline: bool,
                      ) -> None:
    if deal.host_id == user_id:
        raise HostCannotJoin("a host does not buy from their own group deal", field="group_id")
    if group.status == GroupStatus.FAILED.value:
        raise GroupAlreadyFailed("this group has failed: its members were refunded", field="group_id")
    if group.status == GroupStatus.FORMED.value:
        raise GroupFull("this group has formed: every slot is paid for", field="group_id",
                        extra={"size": group.size})
    if not before_deadline:
        raise GroupExpired("this group's time is up", field="group_id")


async def _join(svc: Services, user_id: int, group_id: int, claim_id: int | None) -> Joined:
    joined = False
    deal_id = order_id = 0
    try:
        async with unit_of_work(svc) as session:
            # One statement: the group and its deal, the deadline by PostgreSQL's clock, the
            # order's id, and the deal's advisory lock shared (held to the commit: a rebuild
            # waits for this join). A refused join writes nothing.
            row = (await session.execute(
                select(Group, GroupDeal, Group.deadline > func.now(), func.now(),
                       _next_order_id(),
                       func.pg_advisory_xact_lock_shared(
                           cast(group_stock.ADVISORY_NAMESPACE, Integer),
                           cast(GroupDeal.id % 2_147_483_647, Integer)))
                .join(GroupDeal, GroupDeal.id == Group.deal_id)
                .where(Group.id == group_id))).first()
            if row is None:
                raise GroupNotFound(f"group {group_id} does not exist", field="group_id")
            group, deal, before_deadline, now, order_id, _ = row
            deal_id = deal.id
            await _check_open(group, deal, user_id, before_deadline)
            applied = await _apply_coupon(session, deal, user_id, claim_id)
            code = await group_stock.join_group(
                svc.redis, group_stock.DealKeys.of(svc.keys, deal.id), group_id,
                user_id=user_id, order_id=order_id)
            if code == group_stock.MISSING:
                raise _KeysMissing(str(deal.id))
            _refuse(code, group)
            joined = True
            order = await _place_order(session, svc, deal, group, user_id, now, order_id,
                                       applied)
            record(session, GroupJoined(group_id=group_id, deal_id=deal.id,
                                        room_id=deal.room_id))
    except BaseException as exc:
        if joined:
            await _unjoin_unless_committed(svc, deal_id, group_id, user_id, order_id)
        if isinstance(exc, IntegrityError):
            # PostgreSQL holds a live order of this buyer in this group: they are in it.
            existing = await _member_order(svc, group_id, user_id)
            raise AlreadyInGroup("you are in this group already", field="group_id",
                                 extra={"order_id": existing}) from None
        raise
    return Joined(group_id, order, group, deal)


def _refuse(code: int, group: Group) -> None:
    if code >= 0:
        return
    if code == group_stock.ALREADY_IN_GROUP:
        raise AlreadyInGroup("you are in this group already", field="group_id")
    if code == group_stock.FAILED:
        raise GroupAlreadyFailed("this group has failed: its members were refunded", field="group_id")
    if code == group_stock.EXPIRED:
        raise GroupExpired("this group's time is up", field="group_id")
    if code in (group_stock.FULL, group_stock.FORMED):
        raise GroupFull("every slot of this group is taken", field="group_id",
                        extra={"size": group.size})
    raise RuntimeError(f"group join script answered {code}")


async def _member_order(svc: Services, group_id: int, user_id: int) -> int | None:
    async with svc.db.session() as session:
        return await session.scalar(select(Order.id).where(
            Order.group_id == group_id, Order.user_id == user_id,
            Order.status.in_(MEMBER_STATUSES)))


async def _unjoin_unless_committed(svc: Services, deal_id: int, group_id: int, user_id: int,
                                   order_id: int) -> None:
    try:
        async with svc.db.session() as session:
            if await session.get(Order, order_id) is not None:
                return
    except Exception:  # PostgreSQL unreachable: a rebuild decides
        log.warning("could not look for order %s", order_id, exc_info=True)
        return
    await group_stock.release_slot(svc.redis, group_stock.DealKeys.of(svc.keys, deal_id),
                                   group_id, user_id=user_id, order_id=order_id)


# Failing ----------------------------------------------------------------------------------------


async def fail_expired_groups(svc: Services, *, limit: int = 200) -> list[int]:
    """Fail the open groups whose deadline has passed (the beat runs this every few seconds).
    Safe to run twice or in parallel: each failure is a conditional move of the group's row."""
    async with svc.db.session() as session:
        due = list(await session.scalars(
            select(Group.id).where(Group.status == GroupStatus.OPEN.value,
                                   Group.deadline <= func.now())
            .order_by(Group.deadline).limit(limit)))
    failed = [group_id for group_id in due
              if await fail_group(svc, group_id, FailReason.EXPIRED)]
    return failed


async def fail_group(svc: Services, group_id: int, reason: FailReason) -> bool:
    """Fail one group past its deadline: every paid member refunded, every unpaid order
    cancelled, in one transaction with the group's move; its units back to the deal after.
    Returns False if it was not open and past its deadline (formed, failed already)."""
    transition(GROUP_MOVES, GroupStatus.OPEN, GroupStatus.FAILED, what="a group")
    async with svc.db.transaction() as session:
        # The orders first, the group's row last: a payment holds its order, then the group's
        # row, so taking them in the same order never deadlocks with it.
        members = list(await session.scalars(
            select(Order).where(Order.group_id == group_id, Order.status.in_(MEMBER_STATUSES))
            .order_by(Order.id).with_for_update()))
        group = await session.scalar(
            update(Group).where(Group.id == group_id, Group.status == GroupStatus.OPEN.value,
                                Group.deadline <= func.now())
            .values(status=GroupStatus.FAILED.value, failed_at=func.now(),
                    fail_reason=reason.value)
            .returning(Group))
        if group is None:
            return False  # formed or failed meanwhile: the locks go with an empty commit
        deal = present(await session.get(GroupDeal, group.deal_id), f"deal {group.deal_id}")
        for order in members:
            await _undo_member(session, order)
        record(session, GroupFailed(group_id=group_id, deal_id=deal.id,
                                         room_id=deal.room_id, reason=reason.value))
    code = await group_stock.close_group(svc.redis, group_stock.DealKeys.of(svc.keys, deal.id),
                                         group_id)
    if code == group_stock.MISSING:
        await rebuild_deal(svc, deal.id)
    await dispatch_committed(svc, session)
    if deal.status == DealStatus.ENDED.value:
        await settle_deal(svc, deal.id)
    return True


async def _undo_member(session: AsyncSession, order: Order) -> None:
    """A failed group's member: refunded in full if they paid (the provider is asked after the
    commit through the outbox, by the payment's refund key: once), else their order cancelled.
    Either way a coupon they used is theirs again: the group failed, not their purchase."""
    current = OrderStatus(order.status)
    if order.coupon_claim_id is not None:
        await coupons.release_claims_of(session, [order.id])
    if current == OrderStatus.PENDING_PAYMENT:
        if await move_order(session, order.id, current, OrderStatus.CANCELLED,
                            event_type=OrderEventType.ORDER_CANCELLED, actor_id=None,
                            data={"group_failed": True}):
            record(session, OrderCancelled(order_id=order.id, sale_id=None,
                                           user_id=order.user_id))
        return
    payment = await session.scalar(select(Payment).where(
        Payment.order_id == order.id, Payment.status == PaymentStatus.SUCCEEDED.value)
        .with_for_update())
    if payment is not None:
        await queue_refund(session, payment)
    if await move_order(session, order.id, current, OrderStatus.REFUNDED,
                        event_type=OrderEventType.ORDER_REFUNDED, actor_id=None,
                        data={"group_failed": True,
                              "payment": payment.provider_ref if payment else None}):
        await commissions.void_or_reverse(session, order.id)
        record(session, OrderRefunded(order_id=order.id, sale_id=None, user_id=order.user_id))


async def end_deals_of_ended_rooms(svc: Services, ended_rooms: EndedRooms) -> list[int]:
    """A deal takes no new group once its broadcast is over (open groups run on)."""
    async with svc.db.session() as session:
        open_deals = (await session.execute(select(GroupDeal.id, GroupDeal.room_id).where(
            GroupDeal.status == DealStatus.OPEN.value))).all()
    if not open_deals:
        return []
    over = await ended_rooms(sorted({room_id for _, room_id in open_deals}))
    ended = []
    for deal_id, room_id in open_deals:
        if room_id in over:
            try:
                await end_deal(svc, None, deal_id)
                ended.append(deal_id)
            except Conflict:  # ended meanwhile
                continue
    return ended


async def settle_ended_deals(svc: Services) -> list[int]:
    async with svc.db.session() as session:
        ids = list(await session.scalars(select(GroupDeal.id).where(
            GroupDeal.status == DealStatus.ENDED.value, GroupDeal.settled_at.is_(None))
            .limit(100)))
    return [deal_id for deal_id in ids if await settle_deal(svc, deal_id) is not None]


async def sweep(svc: Services, *, ended_rooms: EndedRooms | None = None) -> dict[str, list[int]]:
    """The beat's group sweep: fail groups past their deadline, end the deals of ended rooms,
    settle ended deals with nothing open."""
    failed = await fail_expired_groups(svc)
    ended = await end_deals_of_ended_rooms(svc, ended_rooms) if ended_rooms else []
    return {"failed": failed, "ended": ended, "settled": await settle_ended_deals(svc)}


# Reading ----------------------------------------------------------------------------------------


async def deal_view(svc: Services, deal: GroupDeal) -> dict[str, Any]:
    counts = await group_stock.read_counts(svc.redis, group_stock.DealKeys.of(svc.keys, deal.id))
    if counts is None and deal.settled_at is None:
        counts = await rebuild_deal(svc, deal.id)
    return {**deal.public(),
            "available": counts.available if counts else None,
            "held": counts.held if counts else None,
            "sold": counts.sold if counts else None}


async def redis_time_ms(svc: Services) -> int:
    seconds, micros = await svc.redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


# A member's state as the pages show it, by their order's status.
MEMBER_STATE = {OrderStatus.PENDING_PAYMENT.value: "paying", OrderStatus.PAID.value: "paid",
                OrderStatus.COMPLETED.value: "paid", OrderStatus.REFUNDED.value: "refunded"}


async def _members(session: AsyncSession, group_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each group's members in joining order: display names only, and whether they paid (or
    were refunded, once paid)."""
    out: dict[int, list[dict[str, Any]]] = {}
    if not group_ids:
        return out
    for group_id, user_id, name, status in await session.execute(
            select(Order.group_id, Order.user_id, User.display_name, Order.status)
            .join(User, User.id == Order.user_id)
            .where(Order.group_id.in_(group_ids), Order.status.in_(
                (*MEMBER_STATUSES, OrderStatus.REFUNDED.value)))
            .order_by(Order.id)):
        out.setdefault(int(group_id or 0), []).append({
            "user_id": user_id, "display_name": name, "state": MEMBER_STATE[status]})
    return out


def group_path(group: Group) -> str:
    return f"/g/{group.code}"


def _group_json(group: Group, deal: GroupDeal, members: list[dict[str, Any]],
                now_ms: int) -> dict[str, Any]:
    # Slots held or paid for: what a join can still take is `size - taken`.
    taken = sum(1 for m in members if m["state"] in ("paying", "paid"))
    return {**group.public(), "taken": taken, "server_time_ms": now_ms, "members": members,
            "deal": deal.public(), "path": group_path(group)}


async def group_views(svc: Services, groups: list[tuple[Group, GroupDeal]]) -> list[dict[str, Any]]:
    now_ms = await redis_time_ms(svc)
    async with svc.db.session() as session:
        members = await _members(session, [g.id for g, _ in groups])
    return [_group_json(g, d, members.get(g.id, []), now_ms) for g, d in groups]


async def get_group(svc: Services, *, group_id: int | None = None,
                    code: str | None = None) -> tuple[Group, GroupDeal]:
    async with svc.db.session() as session:
        query = select(Group, GroupDeal).join(GroupDeal, GroupDeal.id == Group.deal_id)
        query = query.where(Group.id == group_id) if group_id is not None else query.where(
            Group.code == code)
        row = (await session.execute(query)).first()
    if row is None:
        raise GroupNotFound("no such group", field="group_id" if group_id else "code")
    return row[0], row[1]


async def group_view(svc: Services, group: Group, deal: GroupDeal) -> dict[str, Any]:
    return (await group_views(svc, [(group, deal)]))[0]


async def room_groups(svc: Services, room_id: int, product_id: int | None = None,
                      ) -> dict[str, Any]:
    """The room's open deals (optionally of one product) and their open groups, with exact
    progress and the server's clock."""
    async with svc.db.session() as session:
        query = select(GroupDeal).where(GroupDeal.room_id == room_id,
                                        GroupDeal.status == DealStatus.OPEN.value)
        if product_id is not None:
            query = query.where(GroupDeal.product_id == product_id)
        deals = list(await session.scalars(query.order_by(GroupDeal.id)))
        groups = list(await session.scalars(
            select(Group).where(Group.deal_id.in_([d.id for d in deals]),
                                Group.status == GroupStatus.OPEN.value,
                                Group.deadline > func.now())
            .order_by(Group.deadline))) if deals else []
    by_id = {d.id: d for d in deals}
    return {"room_id": room_id,
            "deals": [await deal_view(svc, d) for d in deals],
            "groups": await group_views(svc, [(g, by_id[g.deal_id]) for g in groups]),
            "server_time_ms": await redis_time_ms(svc)}


async def joined_reply(svc: Services, joined: Joined) -> dict[str, Any]:
    """The reply to an open or a join: the group with its members as committed, and the order
    to pay."""
    return {"group": await group_view(svc, joined.group, joined.deal),
            "order": {**order_view(joined.order, get_provider(svc.settings)),
                      "kind": "group", "group_id": joined.group_id}}


# What rooms and members hear (handlers in workers/handlers.py, after the commit) ----------------


async def announce_group(svc: Services, event: GroupChanged) -> None:
    """The room's `group` event: the group's exact progress as committed, and its deal's
    counters (an open or a failure moves the units a new group can take)."""
    group, deal = await get_group(svc, group_id=event.group_id)
    view = await group_view(svc, group, deal)
    await publish_room(svc.redis, svc.keys, event.room_id, ServerEvent.GROUP,
                       {"action": type(event).__name__, "group": view,
                        "deal": await deal_view(svc, deal)})


class JoinAnnouncer:
    """Coalesces the room's news of joins, per group, off the join's request: the first join of
    a quiet group is published at once in a task of its own; joins that land while it runs
    ride along with one more publish of the group as committed then. The progress the room
    sees is still exact (each publish reads the group after the joins' commits); a rush of
    joins costs a publish per burst, not one per join, and no reply waits for one. The other
    group events (open, payment, formed, failed, a freed slot) are published one by one."""

    def __init__(self) -> None:
        # group id -> another publish is owed (a join landed while one ran)
        self.owed: dict[int, bool] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def joined(self, svc: Services, event: GroupJoined) -> None:
        if event.group_id in self.owed:
            self.owed[event.group_id] = True
            return
        self.owed[event.group_id] = False
        task = asyncio.get_running_loop().create_task(self._run(svc, event),
                                                      name=f"group-{event.group_id}-news")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, svc: Services, event: GroupJoined) -> None:
        try:
            while True:
                try:
                    await announce_group(svc, event)
                except Exception:  # the next event of the group, or a hello, repairs it
                    log.warning("group %s news failed", event.group_id, exc_info=True)
                if not self.owed.get(event.group_id):
                    return
                self.owed[event.group_id] = False
        finally:
            self.owed.pop(event.group_id, None)

    async def flush(self) -> None:
        """Wait for the publishes under way (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


JOINS = JoinAnnouncer()


async def announce_join(svc: Services, event: GroupJoined) -> None:
    JOINS.joined(svc, event)


async def tell_members(svc: Services, event: GroupChanged) -> None:
    """Each member's own `group` event when the group formed or failed (and so was refunded)."""
    group, deal = await get_group(svc, group_id=event.group_id)
    view = await group_view(svc, group, deal)
    async with svc.db.session() as session:
        members = list(await session.execute(
            select(Order.user_id, Order.status).where(Order.group_id == group.id,
                                                      Order.status.in_(
                (*MEMBER_STATUSES, OrderStatus.REFUNDED.value)))))
    for user_id, status in members:
        await publish_user(svc.redis, svc.keys, user_id, ServerEvent.GROUP,
                           {"action": group.status, "group": view,
                            "refunded": status == OrderStatus.REFUNDED.value})


async def announce_deal(svc: Services, event: GroupDealChanged) -> None:
    deal = await get_deal(svc, event.deal_id)
    await publish_room(svc.redis, svc.keys, event.room_id, ServerEvent.GROUP,
                       {"action": type(event).__name__, "deal": await deal_view(svc, deal)})
