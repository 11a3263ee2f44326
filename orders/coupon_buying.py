"""A flash-sale buy that names a live-room coupon (docs/decisions/0022).

A buy without a coupon is `orders.buying.buy`: one Lua script and a share of the order writer's
batched INSERT. A buy with one takes this slower path of its own, so that the other costs
exactly what it did:

- one transaction: the sale's fixed terms read, the claim's row locked and checked
  (`coupons.apply_claim`: the buyer's, unused, this room's, valid, the minimum spend reached)
  before anything is reserved, so a refused coupon leaves the sale as it was;
- the same reserve script as every buy (window, limit, stock, idempotency key);
- the order inserted by one statement that makes the writer's checks (the sale row share-locked,
  its epoch, its voided reservations: docs/decisions/0013), with the claim and the discount, and
  the claim marked as used by it, then the commit, before the reply.

Two buys naming one claim are decided by the claim's row lock: the second waits, then finds it
used (`coupon_used`) and reserves nothing. A commit that fails rolls the claim back with the
order, and the units go back once (`release.lua`). A process that dies between the script and
the commit leaves a reservation without an order, which the unwritten-holds sweep releases like
any other; its transaction, and so the claim's use, died with it. Cancel and expiry give the
claim back in their own transaction (`orders.order_moves`), a late payment takes it again or is
refunded (`orders.paying`), as for a regular-price order.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from core.errors import present
from core.metrics import BUY_REPLAYED, BUY_RESERVED, BUY_WRITE_FAILED
from orders import coupons, stock
from orders.buying import (
    check_idempotency_key,
    refusal,
    release_reservation,
    replay_from_database,
    reserve_units,
)
from orders.errors import CouponUsed, SaleNotFound, SaleUnavailable
from orders.models import Order, OrderSource, Sale
from orders.payments import PaymentProvider, get_provider
from orders.runtime import runtime
from orders.sources import OrderSourceRef
from orders.views import PlacedOrder, first_reply, replay_reply
from orders.writer import NewOrder, WrittenOrder

log = logging.getLogger(__name__)

# One order, with the checks of the batched writer's statement (orders/writer.py): the sale row
# share-locked until the commit (a reconcile or the unwritten-hold sweep waits for it, and this
# waits for theirs), the reservation's epoch current and the reservation not voided; else
# nothing is inserted. Its `order_placed` event carries the coupon, as a regular order's does.
INSERT_COUPON_ORDER = text("""
WITH current AS (
    SELECT id, redis_epoch, commission_rate_bp, voided_reservations FROM sales
    WHERE id = :sale_id FOR SHARE
), inserted AS (
    INSERT INTO orders (sale_id, room_id, product_id, user_id, quantity, amount_minor,
                        currency, status, idempotency_key, reservation_no, hold_expires_at,
                        commission_rate_bp, source_kind, source_id, coupon_claim_id,
                        discount_minor)
    SELECT c.id, :room_id, :product_id, :user_id, :quantity, :amount_minor, :currency,
           'pending_payment', :key, :reservation_no,
           now() + make_interval(secs => CAST(:hold_seconds AS integer)),
           c.commission_rate_bp, :source_kind, CAST(:source_id AS bigint),
           :claim_id, :discount_minor
    FROM current c
    WHERE c.redis_epoch = :epoch AND CAST(:reservation_no AS bigint) <> ALL(c.voided_reservations)
    RETURNING id, hold_expires_at, created_at
), event AS (
    INSERT INTO order_events (order_id, type, from_status, to_status, actor_id, data)
    SELECT id, 'order_placed', NULL, 'pending_payment', :user_id, CAST(:event AS jsonb)
    FROM inserted
)
SELECT id, hold_expires_at, created_at FROM inserted
""")


def coupon_reply(placed: PlacedOrder, applied: coupons.Applied,
                 provider: PaymentProvider) -> dict[str, Any]:
    """The buy reply of a flash-sale order with a coupon: the first reply, with the discount
    already taken off `amount_minor` (as `views.replay_reply` renders it from the order)."""
    reply = first_reply(placed, provider)
    reply["order"].update(discount_minor=applied.discount_minor,
                          coupon_claim_id=applied.claim_id)
    return reply


async def buy_with_coupon(svc: Services, user_id: int, sale_id: int,
                          idempotency_key: str | None, claim_id: int, quantity: int = 1,
                          source: OrderSourceRef | None = None) -> tuple[bytes, bool]:
    """Reserve and commit a flash-sale order that uses the buyer's coupon claim; returns the
    reply and whether it repeats an earlier request with the same key. Refused, with nothing
    reserved and the claim untouched: the refusals of `coupons.apply_claim`, and those of any
    buy (sold out, limit reached, not started, ended)."""
    key = check_idempotency_key(idempotency_key)
    rt = runtime(svc)
    sk = stock.SaleKeys.of(svc.keys, sale_id)
    reserved: stock.ReserveResult | None = None
    replayed: stock.ReserveResult | None = None
    try:
        async with svc.db.transaction() as session:
            sale = (await session.execute(select(Sale.room_id, Sale.price_minor, Sale.currency)
                                          .where(Sale.id == sale_id))).first()
            if sale is None:
                raise SaleNotFound(f"sale {sale_id} does not exist", field="sale_id")
            try:
                applied = await coupons.apply_claim(
                    session, claim_id=claim_id, user_id=user_id, room_id=sale.room_id,
                    amount_minor=sale.price_minor * quantity, currency=sale.currency)
            except CouponUsed:
                # A repeat of this very buy, whose order took the claim: the first reply.
                mine = await session.scalar(select(Order).where(
                    Order.sale_id == sale_id, Order.user_id == user_id,
                    Order.idempotency_key == key, Order.coupon_claim_id == claim_id))
                if mine is None:
                    raise
                BUY_REPLAYED.inc()
                return orjson.dumps(replay_reply(mine, get_provider(svc.settings))), True
            async with rt.redis_slots:
                result = await reserve_units(svc, sk, sale_id, user_id, key, quantity)
            if result.code == stock.ReserveCode.DUPLICATE:
                replayed = result  # answered below, once the claim's lock is let go
            elif result.code != stock.ReserveCode.RESERVED or result.terms is None:
                raise refusal(result)
            else:
                reserved = result
                BUY_RESERVED.inc()
                placed = await _insert(session, svc, sale_id, user_id, key, quantity, result,
                                       applied, source)
                await coupons.mark_used(session, applied, placed.id)
    except BaseException:
        if reserved is not None and reserved.terms is not None:
            BUY_WRITE_FAILED.inc()
            await _release_unless_written(svc, sale_id, reserved.reservation_no,
                                          stock.idem_field(user_id, key))
            rt.publisher.changed(sale_id, reserved.terms.room_id)
        raise
    if replayed is not None:
        # The key bought before (without this claim): that order is the answer.
        BUY_REPLAYED.inc()
        return replayed.reply or await replay_from_database(svc, sale_id, user_id, key), True
    rt.publisher.changed(sale_id, placed.room_id)
    reply = orjson.dumps(coupon_reply(placed, applied, get_provider(svc.settings)))
    # A repeat of the key is answered from Redis, as the writer's orders are.
    rt.replies([(_as_new_order(placed, user_id, key), WrittenOrder(
        placed.id, placed.hold_expires_at, placed.created_at, reply))])
    return reply, False


async def _insert(session: AsyncSession, svc: Services, sale_id: int, user_id: int, key: str,
                  quantity: int, result: stock.ReserveResult, applied: coupons.Applied,
                  source: OrderSourceRef | None) -> PlacedOrder:
    terms = present(result.terms, "the reserved sale's terms")
    amount = terms.price_minor * quantity - applied.discount_minor
    source_kind = source.kind if source else OrderSource.LIVE.value
    source_id = source.id if source else None
    event = {"quantity": quantity, "amount_minor": amount,
             "coupon": {"claim_id": applied.claim_id, "coupon_id": applied.coupon_id,
                        "discount_minor": applied.discount_minor}}
    row = (await session.execute(INSERT_COUPON_ORDER, {
        "sale_id": sale_id, "room_id": terms.room_id, "product_id": terms.product_id,
        "user_id": user_id, "quantity": quantity, "amount_minor": amount,
        "currency": terms.currency, "key": key, "reservation_no": result.reservation_no,
        "hold_seconds": svc.settings.order_hold_seconds, "source_kind": source_kind,
        "source_id": source_id, "claim_id": applied.claim_id,
        "discount_minor": applied.discount_minor, "epoch": result.epoch,
        "event": orjson.dumps(event).decode()})).first()
    if row is None:
        # A rebuild (a new epoch) or the unwritten-hold sweep got to the reservation first.
        raise SaleUnavailable("the sale was being rebuilt or the order took too long; try again")
    return PlacedOrder(id=row.id, sale_id=sale_id, room_id=terms.room_id,
                       product_id=terms.product_id, quantity=quantity, amount_minor=amount,
                       currency=terms.currency, hold_expires_at=row.hold_expires_at,
                       created_at=row.created_at, source_kind=source_kind, source_id=source_id)


async def _release_unless_written(svc: Services, sale_id: int, reservation_no: int,
                                  forget_key: str) -> None:
    """The order's commit failed (or its acknowledgement was lost): its units go back, once,
    unless the order is in PostgreSQL after all; its claim went back with the rollback."""
    try:
        async with svc.db.session() as session:
            if await session.scalar(select(Order.id).where(
                    Order.sale_id == sale_id, Order.reservation_no == reservation_no)):
                return
    except Exception:  # PostgreSQL unreachable: the unwritten-hold sweep decides, under its fence
        log.warning("could not look for the order of reservation %s of sale %s; leaving it to "
                    "the sweep", reservation_no, sale_id, exc_info=True)
        return
    await release_reservation(svc, sale_id, reservation_no, forget_key=forget_key)


def _as_new_order(placed: PlacedOrder, user_id: int, key: str) -> NewOrder:
    return NewOrder(sale_id=placed.sale_id, room_id=placed.room_id,
                    product_id=placed.product_id, user_id=user_id, quantity=placed.quantity,
                    amount_minor=placed.amount_minor, currency=placed.currency,
                    idempotency_key=key, reservation_no=0, epoch=0,
                    source_kind=placed.source_kind, source_id=placed.source_id)
