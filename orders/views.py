"""The JSON views of sales and orders: one builder for each, used by the API, the buy reply,
the buyer's notifications and the room's events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import to_epoch_ms
from core.context import Services
from orders import commissions, stock
from orders.models import (
    Order,
    OrderLine,
    OrderStatus,
    ProductVariant,
    Sale,
)
from orders.payments import PaymentProvider, get_provider
from realtime.publish import ServerEvent, publish_room, publish_user

log = logging.getLogger(__name__)


class OrderFacts(Protocol):
    """What an order's view is built from: an `Order` row, or a `PlacedOrder` on the buy path."""

    @property
    def id(self) -> int: ...
    @property
    def sale_id(self) -> int | None: ...
    @property
    def room_id(self) -> int: ...
    @property
    def product_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def amount_minor(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def hold_expires_at(self) -> datetime: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def source_kind(self) -> str: ...
    @property
    def source_id(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """An order the buy path has just committed, known without reading it back."""

    id: int
    sale_id: int
    room_id: int
    product_id: int
    quantity: int
    amount_minor: int
    currency: str
    hold_expires_at: datetime
    created_at: datetime
    source_kind: str
    source_id: int | None
    status: str = OrderStatus.PENDING_PAYMENT.value


def order_view(order: OrderFacts, provider: PaymentProvider, *,
               status: str | None = None, share: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one JSON view of an order: the API's, the buy reply's and the buyer's notification.
    A regular-price order's view adds its lines and address (`regular_order_view`).
    `share` (`commissions.order_share_credit`) is given where one order is shown on its own:
    the sharers it credited, never read on the buy path."""
    view = {
        "id": order.id,
        "sale_id": order.sale_id,
        "room_id": order.room_id,
        "product_id": order.product_id,
        "status": status or order.status,
        "quantity": order.quantity,
        "amount_minor": order.amount_minor,
        "currency": order.currency,
        "hold_expires_at": order.hold_expires_at.isoformat(),
        "hold_expires_at_ms": to_epoch_ms(order.hold_expires_at),
        "payment_url": provider.checkout_url(order.id),
        "created_at": order.created_at.isoformat(),
        # A live order's source id may be empty: it is the order's room.
        "source": {"kind": order.source_kind,
                   "id": order.source_id if order.source_id is not None else order.room_id},
    }
    if share is not None:
        view["share"] = share
    return view


def line_view(line: OrderLine, options: dict[str, str]) -> dict[str, Any]:
    return {"product_id": line.product_id, "variant_id": line.variant_id, "title": line.title,
            "options": options, "quantity": line.quantity,
            "unit_price_minor": line.unit_price_minor, "amount_minor": line.amount_minor}


def coupon_fields(order: Order) -> dict[str, Any]:
    """A live-room coupon's discount, already taken off `amount_minor` (orders/coupons.py), and
    the claim it used."""
    return {"discount_minor": order.discount_minor or 0, "coupon_claim_id": order.coupon_claim_id}


def sale_order_view(order: Order, provider: PaymentProvider) -> dict[str, Any]:
    """A flash-sale order as committed (the buyer's notification; the API's adds its `kind`),
    with its coupon when it used one (orders/coupon_buying.py)."""
    view = order_view(order, provider)
    if order.coupon_claim_id is not None:
        view.update(coupon_fields(order))
    return view


def regular_order_view(order: Order, provider: PaymentProvider,
                       lines: list[tuple[OrderLine, dict[str, str]]] | None) -> dict[str, Any]:
    """A regular-price order's view; without `lines` (None) where only its moves are news."""
    view = {**order_view(order, provider), "kind": "regular", **coupon_fields(order),
            "shipping_address": order.shipping_address}
    if lines is not None:
        view["lines"] = [line_view(line, options) for line, options in lines]
    return view


def group_order_view(order: Order, provider: PaymentProvider) -> dict[str, Any]:
    """A group buy member's order (orders/groups.py): one unit at the group price, no lines."""
    return {**regular_order_view(order, provider, []), "kind": "group", "group_id": order.group_id}


async def orders_json(session: AsyncSession, svc: Services,
                      orders: list[Order]) -> list[dict[str, Any]]:
    """Views of orders as committed, with the lines of the regular-price ones (one query)."""
    provider = get_provider(svc.settings)
    regular = [o.id for o in orders if o.sale_id is None]
    lines: dict[int, list[tuple[OrderLine, dict[str, str]]]] = {}
    if regular:
        for line, options in await session.execute(
                select(OrderLine, ProductVariant.options)
                .join(ProductVariant, ProductVariant.id == OrderLine.variant_id)
                .where(OrderLine.order_id.in_(regular)).order_by(OrderLine.id)):
            lines.setdefault(line.order_id, []).append((line, options))
    return [group_order_view(o, provider) if o.group_id is not None
            else regular_order_view(o, provider, lines.get(o.id, [])) if o.sale_id is None
            else {**sale_order_view(o, provider), "kind": "sale"} for o in orders]


async def order_json(session: AsyncSession, svc: Services, order: Order) -> dict[str, Any]:
    return (await orders_json(session, svc, [order]))[0]


def first_reply(order: OrderFacts, provider: PaymentProvider) -> dict[str, Any]:
    """The buy reply exactly as the first request got it: an order awaiting payment. A repeat
    of the idempotency key returns this; the order's current status is at GET /api/orders/{id}."""
    return {"order": order_view(order, provider, status=OrderStatus.PENDING_PAYMENT.value)}


def replay_reply(order: Order, provider: PaymentProvider) -> dict[str, Any]:
    """The first reply of a flash-sale buy, rendered again from its order (a repeat of the key
    that Redis could not answer): with its coupon's discount when it used one."""
    return {"order": {**sale_order_view(order, provider),
                      "status": OrderStatus.PENDING_PAYMENT.value}}


async def sale_view(svc: Services, sale: Sale) -> dict[str, Any]:
    counts = await stock.read_counts(svc.redis, stock.SaleKeys.of(svc.keys, sale.id))
    return {**sale.public(),
            "remaining": counts.available if counts else None,
            "reserved": counts.reserved if counts else None,
            "sold": counts.sold if counts else None,
            "server_time_ms": await stock.redis_time_ms(svc.redis)}


async def publish_sale(svc: Services, sale: Sale, action: str) -> None:
    """Tell the room a sale started, was scheduled, stopped or ended, with the server's clock so
    every viewer's countdown agrees, and the exact counters."""
    view = await sale_view(svc, sale)
    server_time_ms = view.pop("server_time_ms")
    counts = await stock.read_counts(svc.redis, stock.SaleKeys.of(svc.keys, sale.id))
    state: dict[str, Any] = {"sale": view}
    data: dict[str, Any] = {"action": action, "sale": view, "server_time_ms": server_time_ms}
    if counts is not None:
        # The event carries every state field it changes, so a client that applies it ends
        # where a fresh hello starts (the resume rule).
        state["stock"] = data["stock"] = stock.stock_data(sale.id, counts)
    await publish_room(svc.redis, svc.keys, sale.room_id, ServerEvent.SALE, data, state=state)


# Orders in these states may have sharers' entries: only their events read the ledger (an
# expiry sweep's thousands of events do not).
SHARE_STATES = frozenset({OrderStatus.PAID.value, OrderStatus.COMPLETED.value,
                          OrderStatus.REFUNDED.value})


async def notify_buyer(svc: Services, order: Order) -> None:
    """The buyer's `order` event: the order as committed and, once paid, the sharers it
    credited with a regular-price order's lines. A hold's own moves (cancelled, expired: an
    expiry sweep's thousands) read nothing more: their news is the status, and the lines they
    leave out are the ones the buyer got with the order (the page keeps them, room-shop.js)."""
    provider = get_provider(svc.settings)
    if order.status not in SHARE_STATES:
        view = (group_order_view(order, provider) if order.group_id is not None
                else regular_order_view(order, provider, None) if order.sale_id is None
                else sale_order_view(order, provider))
    else:
        async with svc.db.session() as session:
            view = (await order_json(session, svc, order) if order.sale_id is None
                    else sale_order_view(order, provider))
            view["share"] = await commissions.order_share_credit(session, order.id)
    await publish_user(svc.redis, svc.keys, order.user_id, ServerEvent.ORDER, view)

