"""Payments: the sandbox gateway's submission, provider webhooks applied once, and payments
that land after the hold expired (re-reserved or refunded).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from core.errors import Conflict
from core.events import DomainEvent, dispatch_committed, record
from orders import bargains, commissions, coupons, group_members, regular, stock, variant_stock
from orders.errors import (
    OrderNotFound,
    SaleNotFound,
    SaleUnavailable,
)
from orders.events import OrderPaid, RefundQueued, SaleStockChanged
from orders.models import (
    Order,
    OrderStatus,
    OutboxKind,
    OutboxMessage,
    Payment,
    PaymentEvent,
    PaymentStatus,
    Sale,
)
from orders.payments import PaymentProvider, WebhookEvent, get_provider
from orders.payments.sandbox import SandboxProvider
from orders.reconcile import reconcile_sale
from orders.variants import reconcile_variant

log = logging.getLogger(__name__)

# Redis moves to make once the transaction has committed, before its events are handled (the
# handlers read the counters they move).
Effect = Callable[[], Awaitable[None]]


# A payment the buyer submitted is "in flight" until its webhook lands; the expiry sweep
# leaves such an order alone for this long, after which the hold expires like any other and a
# late success goes through the late-payment path (re-reserve or refund).
PAYMENT_IN_FLIGHT_GRACE_SECONDS = 30 * 60


def in_flight_payment(order_id: Any) -> Any:
    return exists().where(
        Payment.order_id == order_id, Payment.status == PaymentStatus.PROCESSING.value,
        Payment.created_at > func.now() - timedelta(seconds=PAYMENT_IN_FLIGHT_GRACE_SECONDS))



async def submit_sandbox_payment(svc: Services, order_id: int, *, pay: bool) -> int:
    """The buyer pressed Pay (or Decline) on the sandbox gateway's page. The gateway records the
    payment as processing and queues its webhook in the outbox, in one transaction; the caller
    enqueues the delivery after the commit. Returns the outbox message id.

    The webhook goes to the provider's configured URL (`INTERNAL_BASE_URL`), recorded with the
    message so that every retry goes to the same place; nothing of the request chooses it."""
    provider = SandboxProvider.from_settings(svc.settings)
    async with svc.db.transaction() as session:
        order = await session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise OrderNotFound(f"order {order_id} does not exist", field="order_id")
        if order.status != OrderStatus.PENDING_PAYMENT.value:
            raise Conflict(f"this order is {order.status.replace('_', ' ')}; there is nothing "
                           "to pay", code="order_not_payable")
        if await session.scalar(select(in_flight_payment(order_id))):
            raise Conflict("a payment for this order is already being processed",
                           code="payment_in_flight")
        ref = provider.new_payment_ref()
        session.add(Payment(order_id=order_id, provider=provider.name, provider_ref=ref,
                            amount_minor=order.amount_minor, currency=order.currency,
                            status=PaymentStatus.PROCESSING.value))
        event = provider.build_event("payment.succeeded" if pay else "payment.failed",
                                     provider_ref=ref, order_id=order_id,
                                     amount_minor=order.amount_minor, currency=order.currency)
        message = OutboxMessage(kind=OutboxKind.SANDBOX_WEBHOOK.value,
                                payload={"url": provider.webhook_url, "event": event})
        session.add(message)
        await session.flush()
        return message.id


async def handle_webhook(svc: Services, headers: Any, body: bytes,
                         provider: PaymentProvider | None = None) -> str:
    """Verify a provider webhook and apply it once. Returns the outcome."""
    provider = provider or get_provider(svc.settings)
    event = provider.verify_webhook(headers, body)
    try:
        return await apply_payment_event(svc, provider, event)
    except SaleUnavailable:
        # The sale's keys were missing mid-payment: rebuild them and apply again (nothing of
        # the first attempt was committed).
        async with svc.db.session() as session:
            order = await session.get(Order, event.order_id)
            variant_ids = [line.variant_id for line in await regular.order_lines(
                session, event.order_id)]
        if order is None:
            raise
        if order.sale_id is None:
            for variant_id in variant_ids:
                await reconcile_variant(svc, variant_id)
        else:
            await reconcile_sale(svc, order.sale_id)
        return await apply_payment_event(svc, provider, event)


async def apply_payment_event(svc: Services, provider: PaymentProvider,
                              event: WebhookEvent) -> str:
    """Apply a verified provider event exactly once. The unique (provider, event id) row makes a
    duplicate delivery a no-op; payment and order statuses make out-of-order events harmless."""
    effects: list[Effect] = []
    async with svc.db.transaction() as session:
        inserted = await session.scalar(
            pg_insert(PaymentEvent).values(provider=provider.name, event_id=event.id,
                                           type=event.type, order_id=None, outcome="received",
                                           payload=event.raw)
            .on_conflict_do_nothing(constraint="uq_payment_events_provider_event")
            .returning(PaymentEvent.id))
        if inserted is None:
            return "duplicate"
        order = await session.scalar(
            select(Order).where(Order.id == event.order_id).with_for_update())
        if order is None:
            outcome = "unknown_order"
        elif (event.amount_minor, event.currency) != (order.amount_minor, order.currency):
            outcome = "amount_mismatch"
        else:
            payment = await session.scalar(select(Payment).where(
                Payment.provider == provider.name, Payment.provider_ref == event.provider_ref)
                .with_for_update())
            if payment is None:
                payment = Payment(order_id=order.id, provider=provider.name,
                                  provider_ref=event.provider_ref,
                                  amount_minor=event.amount_minor, currency=event.currency,
                                  status=PaymentStatus.PROCESSING.value)
                session.add(payment)
                await session.flush()
            if event.type == "payment.succeeded":
                outcome = await _payment_succeeded(svc, session, provider, order, payment,
                                                   effects)
            elif event.type == "payment.failed":
                if payment.status == PaymentStatus.PROCESSING.value:
                    payment.status = PaymentStatus.FAILED.value
                    outcome = "payment_failed"
                else:
                    outcome = "ignored_out_of_order"
            elif event.type == "refund.succeeded":
                outcome = "refund_confirmed"
            else:
                outcome = "ignored_type"
        await session.execute(update(PaymentEvent).where(PaymentEvent.id == inserted)
                              .values(outcome=outcome,
                                      order_id=order.id if order is not None else None))
    for effect in effects:
        await effect()
    await dispatch_committed(svc, session)
    return outcome


async def _payment_succeeded(svc: Services, session: AsyncSession, provider: PaymentProvider,
                             order: Order, payment: Payment, effects: list[Effect]) -> str:
    if payment.status in (PaymentStatus.SUCCEEDED.value, PaymentStatus.REFUNDED.value):
        return "already_applied"
    payment.status = PaymentStatus.SUCCEEDED.value
    if order.group_id is not None:
        # Counted on the group's row, or refunded: orders/group_members.py.
        outcome, refund = await group_members.payment_succeeded(svc, session, order, payment,
                                                                effects)
        if refund:
            await queue_refund(session, payment)
        return outcome
    if order.sale_id is None:
        return await _regular_payment_succeeded(svc, session, order, payment, effects)
    current = OrderStatus(order.status)
    sale_id: int = order.sale_id
    sk = stock.SaleKeys.of(svc.keys, sale_id)
    idem = stock.idem_field(order.user_id, order.idempotency_key)

    paid_events = (OrderPaid(order_id=order.id, sale_id=order.sale_id, user_id=order.user_id),
                   SaleStockChanged(sale_id=order.sale_id, room_id=order.room_id))

    if current == OrderStatus.PENDING_PAYMENT:
        await commissions.move_to_paid(session, order, current, payment,
                                       shares=svc.settings.shares)

        async def settle_units() -> None:
            code = await stock.settle(svc.redis, sk, order.reservation_no, user_id=order.user_id,
                                      quantity=order.quantity, idem=idem)
            if code == stock.SettleCode.MISSING:
                await reconcile_sale(svc, sale_id)

        effects.append(settle_units)
        record(session, *paid_events)
        return "paid"
    if current == OrderStatus.EXPIRED:
        # A payment after the hold expired: keep the sale if a unit is still there for it, and
        # its coupon (given back at the expiry) is not on another order since.
        if await _coupon_went_elsewhere(session, order):
            await queue_refund(session, payment)
            return "refunded_after_expiry"
        sale = await session.scalar(
            select(Sale).where(Sale.id == order.sale_id).with_for_update(read=True))
        if sale is None:
            raise SaleNotFound(f"sale {order.sale_id} of order {order.id} does not exist",
                               field="sale_id")
        units_kept = False
        if sale.settled_at is None:
            code = await stock.settle(svc.redis, sk, order.reservation_no,
                                      user_id=order.user_id, quantity=order.quantity, idem=idem)
            if code == stock.SettleCode.MISSING:
                raise SaleUnavailable("the sale's keys are missing")
            units_kept = code in (stock.SettleCode.RERESERVED, stock.SettleCode.SETTLED,
                                  stock.SettleCode.ALREADY_SOLD)
        return await _late_payment(svc, session, order, payment, units_kept, paid_events)
    # Cancelled, already paid by another payment, or refunded: this money goes back.
    await queue_refund(session, payment)
    return f"refunded_order_{current.value}"


async def _regular_payment_succeeded(svc: Services, session: AsyncSession, order: Order,
                                     payment: Payment, effects: list[Effect]) -> str:
    """The same fates as a flash-sale order's, with the units of every line moved at once."""
    current = OrderStatus(order.status)
    lines = await regular.order_lines(session, order.id)
    paid = OrderPaid(order_id=order.id, sale_id=None, user_id=order.user_id)
    if current == OrderStatus.PENDING_PAYMENT:
        await commissions.move_to_paid(session, order, current, payment,
                                       shares=svc.settings.shares)

        async def sell_units() -> None:
            code, _ = await regular.sell_order_units(svc, order, lines)
            if code == variant_stock.MISSING:
                for line in lines:
                    await reconcile_variant(svc, line.variant_id)

        effects.append(sell_units)
        record(session, paid)
        return "paid"
    if current == OrderStatus.EXPIRED:
        # A payment after the hold expired: kept if every line still has its units, no other
        # order of its bargain stands (a bargain is bought once: its buyer may have bought it
        # again since), and its coupon (given back at the expiry) is not on another order
        # since: the price paid counted on it.
        if not await bargains.late_payment_stands(session, order):
            await queue_refund(session, payment)
            return "refunded_after_expiry"
        if await _coupon_went_elsewhere(session, order):
            await queue_refund(session, payment)
            return "refunded_after_expiry"
        code, _ = await regular.sell_order_units(svc, order, lines)
        if code == variant_stock.MISSING:
            raise SaleUnavailable("the variants' keys are missing")
        return await _late_payment(svc, session, order, payment, code in (0, 1, 2), (paid,))
    await queue_refund(session, payment)
    return f"refunded_order_{current.value}"


async def _late_payment(svc: Services, session: AsyncSession, order: Order, payment: Payment,
                        units_kept: bool, paid_events: Sequence[DomainEvent]) -> str:
    """The end of a payment after the hold expired: the order is paid after all if its units
    were kept for it; else the money goes back, and the coupon claim it took again is free."""
    if units_kept:
        await commissions.move_to_paid(session, order, OrderStatus.EXPIRED, payment,
                                       shares=svc.settings.shares, after_expiry=True)
        record(session, *paid_events)
        return "paid_after_expiry"
    await _give_coupon_back(session, order)
    await queue_refund(session, payment)
    return "refunded_after_expiry"


async def _coupon_went_elsewhere(session: AsyncSession, order: Order) -> bool:
    """An expired order is paid after all: its coupon claim (given back at the expiry) names it
    again, unless the buyer used it on another order meanwhile (True: the price paid counted on
    it, so the payment is refunded)."""
    return order.coupon_claim_id is not None and not await coupons.retake_claim(
        session, order.coupon_claim_id, order.id)


async def _give_coupon_back(session: AsyncSession, order: Order) -> None:
    """The late payment is refunded after all (no units left): the claim taken again above is
    free once more."""
    if order.coupon_claim_id is not None:
        await coupons.release_claims_of(session, [order.id])


def refund_key(payment: Payment) -> str:
    """The refund's idempotency key at the provider: one full refund per payment, so asking
    twice (a retried delivery, a crash between the provider's answer and our record of it)
    is the same refund."""
    return f"refund-{payment.provider}-{payment.id}"


async def queue_refund(session: AsyncSession, payment: Payment) -> int:
    """Refund a captured payment in full: recorded in the outbox in the caller's transaction,
    delivered to the provider after the commit by a worker (`orders.outbox.deliver_refund`),
    retried, by the refund key. Never a provider call inside an open transaction: a rollback
    after it would leave money refunded for an order that stays paid. Returns the outbox id."""
    payment.status = PaymentStatus.REFUNDED.value
    message = OutboxMessage(kind=OutboxKind.PROVIDER_REFUND.value, payload={
        "provider": payment.provider, "provider_ref": payment.provider_ref,
        "amount_minor": payment.amount_minor, "currency": payment.currency,
        "refund_key": refund_key(payment), "order_id": payment.order_id})
    session.add(message)
    await session.flush()
    record(session, RefundQueued(outbox_id=message.id, order_id=payment.order_id))
    return message.id
