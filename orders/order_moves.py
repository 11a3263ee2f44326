"""An order's moves after it was placed: cancel, expire, complete, refund.

Units go back to a sale through `release.lua`, whose holds hash lets each reservation's
units go back once; buyers and rooms hear of a move only after the commit that made it.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import Actor, owns_or_ops
from core.context import Services
from core.errors import Conflict
from core.events import dispatch_committed, record, unit_of_work
from core.states import transition
from orders import commissions, coupons, group_members, regular
from orders.buying import release_reservation
from orders.errors import (
    NotOrderOwner,
    NotSaleHost,
    OrderNotFound,
    SaleNotFound,
)
from orders.events import (
    OrderCancelled,
    OrderCompleted,
    OrderExpired,
    OrderRefunded,
    SaleStockChanged,
    UnitsReleased,
    VariantStockChanged,
)
from orders.logs import move_order, record_order_event
from orders.models import (
    ORDER_MOVES,
    Order,
    OrderEvent,
    OrderEventType,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    Sale,
)
from orders.paying import in_flight_payment, queue_refund
from orders.sales import settle_sale

log = logging.getLogger(__name__)


async def cancel_order(svc: Services, actor: Actor, order_id: int) -> Order:
    """The buyer gives up an unpaid order; its units go back to the sale."""
    async with svc.db.transaction() as session:
        order = await session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
        if not owns_or_ops(actor, order.user_id):
            raise NotOrderOwner("only the buyer can cancel this order")
        if await session.scalar(select(in_flight_payment(order_id))):
            raise Conflict("a payment for this order is being processed", code="payment_in_flight")
        current = OrderStatus(order.status)
        if not await move_order(session, order_id, current, OrderStatus.CANCELLED,
                                event_type=OrderEventType.ORDER_CANCELLED, actor_id=actor.id):
            raise Conflict("the order changed meanwhile; reload it", code="conflict")
        record(session, OrderCancelled(order_id=order_id, sale_id=order.sale_id,
                                       user_id=order.user_id))
        if order.coupon_claim_id is not None:
            # The coupon is the buyer's again, in the move's transaction: once.
            await coupons.release_claims_of(session, [order_id])
        if order.sale_id is not None:
            record(session, SaleStockChanged(sale_id=order.sale_id, room_id=order.room_id))
        record(session, *await group_members.slot_freed_events(session, [order]))
        variant_ids = await _variant_ids(session, order, news=True)
        await session.flush()
        await session.refresh(order)
    # The units are back in the counters before the room hears the counts.
    await _release(svc, order, variant_ids)
    await dispatch_committed(svc, session)
    return order


async def _variant_ids(session: AsyncSession, order: Order, *, news: bool = False) -> list[int]:
    """A regular-price order's variants (its lines), whose units its moves release; with
    `news`, the room hears their products' units left once the move has committed."""
    if order.sale_id is not None or order.group_id is not None:
        return []
    lines = await regular.order_lines(session, order.id)
    if news:
        record(session, VariantStockChanged(
            room_id=order.room_id,
            product_ids=tuple(sorted({line.product_id for line in lines}))))
    return [line.variant_id for line in lines]


async def _release(svc: Services, order: Order, variant_ids: list[int], *,
                   sold: bool = False) -> None:
    if order.group_id is not None:
        # An unpaid group order frees its slot (a refunded one: `refund_order`).
        if not sold:
            await group_members.release_slot_of(svc, order)
    elif order.sale_id is None:
        await regular.release_order_units(svc, order, variant_ids, sold=sold)
    else:
        await release_reservation(svc, order.sale_id, order.reservation_no, sold=sold)


async def expire_due_orders(svc: Services, *, limit: int = 500) -> list[int]:
    """Expire unpaid orders whose hold is over (the scheduler runs this every few seconds).

    Rows are picked `FOR UPDATE SKIP LOCKED`, so several sweepers, or a sweeper and a payment
    holding an order's row, never wait on each other; the move is a conditional UPDATE, so an
    order a payment got to first stays paid. An order whose payment is in flight is skipped."""
    transition(ORDER_MOVES, OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED, what="an order")
    async with svc.db.transaction() as session:
        due = (select(Order.id).where(Order.status == OrderStatus.PENDING_PAYMENT.value,
                                      Order.hold_expires_at <= func.now(),
                                      ~in_flight_payment(Order.id))
               .order_by(Order.hold_expires_at).limit(limit)
               .with_for_update(skip_locked=True).cte("due"))
        expired = list(await session.scalars(
            update(Order).where(Order.id == due.c.id,
                                Order.status == OrderStatus.PENDING_PAYMENT.value)
            .values(status=OrderStatus.EXPIRED.value, updated_at=func.now())
            .returning(Order)))
        if expired:
            await session.execute(insert(OrderEvent).values([{
                "order_id": o.id, "type": OrderEventType.ORDER_EXPIRED,
                "from_status": OrderStatus.PENDING_PAYMENT.value,
                "to_status": OrderStatus.EXPIRED.value, "actor_id": None, "data": {},
            } for o in expired]))
        # Their coupons are their buyers' again, in the move's transaction: once.
        await coupons.release_claims_of(
            session, [o.id for o in expired if o.coupon_claim_id is not None])
        rooms: dict[int, int] = {}
        variants: dict[int, list[int]] = {}
        products: dict[int, set[int]] = {}  # order id -> its products
        regular_ids = [o.id for o in expired if o.sale_id is None]
        if regular_ids:
            for order_id, variant_id, product_id in await session.execute(
                    select(OrderLine.order_id, OrderLine.variant_id, OrderLine.product_id)
                    .where(OrderLine.order_id.in_(regular_ids)).order_by(OrderLine.id)):
                variants.setdefault(order_id, []).append(variant_id)
                products.setdefault(order_id, set()).add(product_id)
        # One units-left update per room and product, however many of its orders expired.
        room_products: dict[int, set[int]] = {}
        for order in expired:
            room_products.setdefault(order.room_id, set()).update(products.get(order.id, ()))
        record(session, *(VariantStockChanged(room_id=room_id, product_ids=tuple(sorted(ids)))
                          for room_id, ids in room_products.items() if ids))
        for order in expired:
            record(session, OrderExpired(order_id=order.id, sale_id=order.sale_id,
                                         user_id=order.user_id))
            if order.sale_id is not None:
                rooms[order.sale_id] = order.room_id
        # One stock update per sale, however many of its orders expired.
        record(session, *(SaleStockChanged(sale_id=sale_id, room_id=room_id)
                          for sale_id, room_id in rooms.items()))
        # One progress update per group whose unpaid slot went.
        record(session, *await group_members.slot_freed_events(session, expired))
    for order in expired:
        await _release(svc, order, variants.get(order.id, []))
    await dispatch_committed(svc, session)
    for sale_id in rooms:
        await settle_sale(svc, sale_id)
    return [o.id for o in expired]




async def complete_order(svc: Services, actor: Actor, order_id: int) -> Order:
    """The sale's host (or ops) marks a paid order fulfilled: paid -> completed."""
    async with unit_of_work(svc) as session:
        order = await session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
        host_id = order.host_id if order.sale_id is None else await session.scalar(
            select(Sale.host_id).where(Sale.id == order.sale_id))
        if host_id is None or not owns_or_ops(actor, host_id):
            raise NotSaleHost("only the host who sold it can complete this order")
        if not await move_order(session, order_id, OrderStatus(order.status),
                                OrderStatus.COMPLETED, event_type=OrderEventType.ORDER_COMPLETED,
                                actor_id=actor.id):
            raise Conflict("the order changed meanwhile; reload it", code="conflict")
        # The host's commission is frozen for the return window, in the same transaction.
        await commissions.freeze(session, order_id,
                                 window_days=svc.settings.commission_return_window_days)
        record(session, OrderCompleted(order_id=order_id, sale_id=order.sale_id,
                                       user_id=order.user_id))
        await session.flush()
        await session.refresh(order)
    return order


async def refund_order(svc: Services, actor: Actor, order_id: int) -> Order:
    """Ops refund a paid (or completed: a return) order in full; its units go back through the
    once-only path (to the sale while it is unsettled, to the product's stock after). The
    host's commission is voided, or reversed once it has settled, in the same transaction."""
    async with svc.db.transaction() as session:
        order = await session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
        current = OrderStatus(order.status)
        transition(ORDER_MOVES, current, OrderStatus.REFUNDED, what="an order")
        # A formed group's member: the unit goes back to the deal, or (settled) to the product
        # in this transaction. An open group's member is refused (it refunds if it fails).
        group_unit_to_product = (await group_members.before_refund(svc, session, order)
                                 if order.group_id is not None else False)
        sale = None
        if order.sale_id is not None:
            sale = await session.scalar(
                select(Sale).where(Sale.id == order.sale_id).with_for_update(read=True))
            if sale is None:
                raise SaleNotFound(f"sale {order.sale_id} of order {order_id} does not exist",
                                   field="sale_id")
        payment = await session.scalar(select(Payment).where(
            Payment.order_id == order_id, Payment.status == PaymentStatus.SUCCEEDED.value)
            .with_for_update())
        if payment is not None:
            # The provider is asked after the commit, through the outbox (once, retried).
            await queue_refund(session, payment)
        if not await move_order(session, order_id, current, OrderStatus.REFUNDED,
                                event_type=OrderEventType.ORDER_REFUNDED, actor_id=actor.id,
                                data={"payment": payment.provider_ref if payment else None}):
            raise Conflict("the order changed meanwhile; reload it", code="conflict")
        await commissions.void_or_reverse(session, order_id)
        # A regular-price order's units go back to its variants' available counts.
        settled = sale is not None and sale.settled_at is not None
        if sale is not None and settled:
            # The sale gave its unsold units back already: this one goes to the variant's
            # pool, in this transaction.
            await svc.events.run_in_transaction(session, UnitsReleased(
                product_id=sale.product_id, units=order.quantity, sale_id=sale.id,
                order_id=order_id, variant_id=sale.variant_id))
            record(session, VariantStockChanged(room_id=order.room_id,
                                                product_ids=(sale.product_id,)))
        record(session, OrderRefunded(order_id=order_id, sale_id=order.sale_id,
                                      user_id=order.user_id))
        if order.sale_id is not None:
            record(session, SaleStockChanged(sale_id=order.sale_id, room_id=order.room_id))
        variant_ids = await _variant_ids(session, order, news=True)
        await session.flush()
        await session.refresh(order)
    if order.group_id is not None:
        await group_members.refund_unit_of(svc, order, to_product=group_unit_to_product)
    elif not settled:
        await _release(svc, order, variant_ids, sold=True)
    await dispatch_committed(svc, session)
    return order



# Statuses a buyer may ask a refund of: money was taken and has not gone back.
REFUNDABLE = (OrderStatus.PAID.value, OrderStatus.COMPLETED.value)


async def request_refund(svc: Services, actor: Actor, order_id: int) -> Order:
    """The buyer asks for their money back. The request is an entry of the order's log (ops
    read it and refund, `refund_order`); the status does not move until they do. Asked once."""
    async with svc.db.transaction() as session:
        order = await session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
        if order.user_id != actor.id:
            raise NotOrderOwner("only the buyer can ask for a refund")
        if order.status not in REFUNDABLE:
            raise Conflict(f"this order is {order.status.replace('_', ' ')}: only a paid order "
                           "can be refunded", code="order_not_refundable")
        asked = await session.scalar(select(OrderEvent.id).where(
            OrderEvent.order_id == order_id, OrderEvent.type == OrderEventType.REFUND_REQUESTED))
        if asked is not None:
            raise Conflict("a refund of this order was asked for already",
                           code="refund_already_requested")
        record_order_event(session, order_id, OrderEventType.REFUND_REQUESTED, OrderStatus(order.status),
                           OrderStatus(order.status), actor.id)
    return order
