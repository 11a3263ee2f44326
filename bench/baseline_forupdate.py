"""Baseline for the buy benchmark (not part of the product): the same app, plus an endpoint that
sells the obvious way, with PostgreSQL alone: lock the product row (`SELECT … FOR UPDATE`),
decrement its stock, insert the order and its event, commit, reply.

    uvicorn bench.baseline_forupdate:app

The same authentication, the same order and event rows, the same reply; only the stock
decision differs. Every buyer of one product queues on that one row lock, for the length of a
transaction round trip.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select, update
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.context import Services
from core.errors import NotAuthenticated
from core.security import read_token
from live.models import Product
from orders import buying
from orders.errors import IdempotencyKeyRequired, SoldOut
from orders.models import Order, OrderEvent, OrderStatus, Sale
from web.app import create_app
from web.auth import require_user
from web.responses import JSON


async def baseline_buy(request: Request) -> Response:
    principal = await require_user(request)
    key = request.headers.get("idempotency-key")
    if not key:
        raise IdempotencyKeyRequired("send an Idempotency-Key header")
    svc: Services = request.app.state.services
    sale_id = int(request.path_params["sale_id"])
    async with svc.db.transaction() as session:
        sale = await session.get(Sale, sale_id)
        assert sale is not None
        existing = await session.scalar(select(Order).where(
            Order.sale_id == sale_id, Order.user_id == principal.id,
            Order.idempotency_key == key))
        if existing is None:
            row = (await session.execute(
                select(Product.stock).where(Product.id == sale.product_id)
                .with_for_update())).first()
            if row is None or row.stock < 1:
                raise SoldOut("sold out", field="quantity")
            await session.execute(update(Product)
                                  .where(Product.id == sale.product_id)
                                  .values(stock=Product.stock - 1))
            order_id, hold = (await session.execute(insert(Order).values(
                sale_id=sale_id, room_id=sale.room_id, product_id=sale.product_id,
                user_id=principal.id, quantity=1, amount_minor=sale.price_minor,
                currency=sale.currency, status=OrderStatus.PENDING_PAYMENT.value,
                idempotency_key=key, reservation_no=int(row.stock),
                hold_expires_at=func.now() + timedelta(seconds=svc.settings.order_hold_seconds))
                .returning(Order.id, Order.hold_expires_at))).one()
            await session.execute(insert(OrderEvent).values(
                order_id=order_id, type="order_placed", from_status=None,
                to_status=OrderStatus.PENDING_PAYMENT.value, actor_id=principal.id, data={}))
        else:
            order_id, hold = existing.id, existing.hold_expires_at
    return JSON({"order": {"id": order_id, "sale_id": sale_id, "status": "pending_payment",
                           "amount_minor": sale.price_minor, "currency": sale.currency,
                           "hold_expires_at": hold.isoformat()}}, status_code=201)


async def buy_token_only(request: Request) -> Response:
    """Diagnostic, not a baseline: the product's buy path (Lua reserve + batched commit) with
    the bearer token checked by its signature alone, skipping the per-request user lookup in
    PostgreSQL that `web.auth` does. The difference to the product endpoint is what that
    lookup costs."""
    svc: Services = request.app.state.services
    token = request.headers.get("authorization", "")[7:]
    parsed = read_token(svc.settings.secret_key.reveal(), token)
    if parsed is None:
        raise NotAuthenticated("log in to do this")
    reply, _ = await buying.buy(svc, parsed[0], int(request.path_params["sale_id"]),
                                 request.headers.get("idempotency-key"), 1)
    return JSON(reply, status_code=201)


app = create_app()
app.router.routes.insert(0, Route("/bench/baseline/sales/{sale_id:int}/buy", baseline_buy,
                                  methods=["POST"]))
app.router.routes.insert(0, Route("/bench/token-only/sales/{sale_id:int}/buy", buy_token_only,
                                  methods=["POST"]))
