"""JSON API for flash sales, buys and orders. Thin: parse, call one action, reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from core.accounts import Actor, Role, owns_or_ops
from core.context import Services
from live import actions as live_actions
from live import queries as live_queries
from orders import (
    buying,
    commissions,
    coupon_buying,
    coupons,
    order_moves,
    queries,
    reconcile,
    sales,
    views,
)
from orders.errors import NotOrderOwner, NotSaleHost
from orders.models import Order, OrderSource, OrderStatus
from orders.payments import get_provider
from orders.sales import TakeStock
from orders.schemas import (
    BuyIn,
    BuyOut,
    OrderEventsOut,
    OrderOut,
    OrdersOut,
    ReconcileOut,
    SaleIn,
    SaleOut,
    SalesOut,
)
from orders.sources import check_source
from web.api import ApiRouter, Header
from web.auth import require_user
from web.edge import services
from web.responses import JSON
from web.validation import parse_body, path_int, query_choice

router = ApiRouter("orders")

BUY_ERRORS = (400, 404, 409, 422, 503)


def stock_for_sale(actor: Actor, room_id: int, product_id: int, units: int, *,
                   price_minor: int, above_regular_confirmed: bool,
                   variant_id: int | None = None) -> TakeStock:
    """A flash sale's (or a group deal's) units, taken by live in the sale's transaction, with
    the checks it makes for a sale: the room, its host, the lineup, the stock, and the price
    against the regular one."""
    return lambda session: live_actions.take_stock_for_sale(
        session, actor, room_id, product_id, units, sale_price_minor=price_minor,
        above_regular_confirmed=above_regular_confirmed, variant_id=variant_id)


@router.add("/api/rooms/{room_id:int}/sales", "POST", summary="Start or schedule a flash sale "
            "of a lineup product (quantity comes out of the stock of the variant named, or of "
            "the product's for one without options)", body=SaleIn,
            response=SaleOut, status=201, errors=(404, 409, 422))
async def create_sale(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, SaleIn)
    svc = services(request)
    room_id = path_int(request, "room_id")
    # The room hears the sale, the lineup's new stock and the pin of the sale's product from
    # the SaleCreated handlers.
    sale = await sales.create_sale(svc, principal, room_id, data, stock_for_sale(
        principal, room_id, data.product_id, data.quantity, price_minor=data.price_minor,
        above_regular_confirmed=data.confirm_above_regular, variant_id=data.variant_id))
    return JSON(await views.sale_view(svc, sale), status_code=201)


@router.add("/api/rooms/{room_id:int}/sales", "GET", summary="The room's sales, newest first",
            auth=False, response=SalesOut)
async def list_sales(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as session:
        sales = await queries.room_sales(session, path_int(request, "room_id"))
    return JSON({"sales": [await views.sale_view(svc, s) for s in sales]})


@router.add("/api/sales/{sale_id:int}", "GET", summary="A sale with its live counters and the "
            "server's clock", auth=False, response=SaleOut, errors=(404,))
async def get_sale(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as session:
        sale = await queries.get_sale(session, path_int(request, "sale_id"))
    return JSON(await views.sale_view(svc, sale))


@router.add("/api/sales/{sale_id:int}/stop", "POST", summary="End a sale now",
            response=SaleOut, errors=(404, 409))
async def stop_sale(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    svc = services(request)
    sale = await sales.stop_sale(svc, principal, path_int(request, "sale_id"))
    return JSON(await views.sale_view(svc, sale))


@router.add("/api/sales/{sale_id:int}/reconcile", "POST", summary="Rebuild the sale's Redis "
            "counters from PostgreSQL", response=ReconcileOut, errors=(404, 503))
async def reconcile_sale(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    svc = services(request)
    sale_id = path_int(request, "sale_id")
    async with svc.db.session() as session:
        sale = await queries.get_sale(session, sale_id)
    if not owns_or_ops(principal, sale.host_id):
        raise NotSaleHost("only the sale's host or ops can reconcile it")
    report = await reconcile.reconcile_sale(svc, sale_id)
    return JSON(report.__dict__)


@router.add("/api/sales/{sale_id:int}/buy", "POST", summary="Buy in a flash sale. Send an "
            "Idempotency-Key header; a repeat returns the first reply. A replay's or a short "
            "video's page sends `source` ({kind: replay|video, id}); it must be ready and "
            "show the sale's product (422 naming source.id). A live-room coupon claim, if "
            "named (`coupon_claim_id`), comes off the amount paid. Errors: sold_out, "
            "limit_reached, sale_not_started, sale_ended (409), idempotency_key_required (400), "
            "request_in_progress (409), sale_unavailable (503); a coupon that cannot apply: "
            "coupon_not_yours (403), coupon_used, coupon_expired, coupon_not_for_this_room "
            "(409), coupon_below_minimum, coupon_currency_mismatch, coupon_not_for_video (422)",
            body=BuyIn, response=BuyOut, status=201, errors=(*BUY_ERRORS, 403),
            headers={"Idempotency-Key": Header(
                "One per press of the buy button (e.g. a UUID), reused on a retry: a repeat "
                "returns the first reply with `Idempotent-Replayed: true`",
                required=True, pattern=buying.IDEMPOTENCY_KEY.pattern)})
async def buy(request: Request) -> Response:
    principal = await require_user(request)
    data = await parse_body(request, BuyIn)
    svc = services(request)
    sale_id = path_int(request, "sale_id")
    # Only a buy that names its source (a replay's or a video's page) pays for its check.
    source = await check_source(svc, sale_id, data.source.kind, data.source.id,
                                live_queries.video_shows_product) if data.source else None
    if data.coupon_claim_id is None:
        reply, replayed = await buying.buy(svc, principal.id, sale_id,
                                            request.headers.get("idempotency-key"),
                                            data.quantity, source)
    elif source is not None and source.kind != OrderSource.LIVE.value:
        raise coupons.not_for_video()
    else:
        # A coupon takes its own, slower path: a buy without one costs nothing more for it.
        reply, replayed = await coupon_buying.buy_with_coupon(
            svc, principal.id, sale_id, request.headers.get("idempotency-key"),
            data.coupon_claim_id, data.quantity, source)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(reply, status_code=201, headers=headers, media_type=JSON.media_type)


@router.add("/api/sales/{sale_id:int}/orders", "GET", summary="The sale's orders (host, ops)",
            response=OrdersOut, errors=(404,))
async def sale_orders(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    svc = services(request)
    provider = get_provider(svc.settings)
    async with svc.db.session() as session:
        sale = await queries.get_sale(session, path_int(request, "sale_id"))
        if not owns_or_ops(principal, sale.host_id):
            raise NotSaleHost("only the sale's host or ops can list its orders")
        orders = await queries.sale_orders(session, sale.id)
    return JSON({"orders": [views.order_view(o, provider) for o in orders]})


@router.add("/api/orders", "GET", summary="The logged-in buyer's orders, newest first (flash "
            "sale and regular price; `status` filters)", response=OrdersOut,
            query={"status": "string"}, errors=(422,))
async def my_orders(request: Request) -> Response:
    principal = await require_user(request)
    svc = services(request)
    status = query_choice(request, "status", OrderStatus)
    async with svc.db.session() as session:
        orders = await queries.user_orders(session, principal.id, status=status)
        return JSON({"orders": await views.orders_json(session, svc, orders)})


async def _visible_order(request: Request) -> tuple[Services, Order]:
    principal = await require_user(request)
    svc = services(request)
    async with svc.db.session() as session:
        order = await queries.get_order(session, path_int(request, "order_id"))
        if not owns_or_ops(principal, order.user_id):
            if order.sale_id is None:
                host_id = order.host_id
            else:
                host_id = (await queries.get_sale(session, order.sale_id)).host_id
            if host_id is None or not owns_or_ops(principal, host_id):
                raise NotOrderOwner("not your order")
    return svc, order


@router.add("/api/orders/{order_id:int}", "GET", summary="One order (its buyer, the host, ops)",
            response=OrderOut, errors=(404,))
async def get_order(request: Request) -> Response:
    svc, order = await _visible_order(request)
    async with svc.db.session() as session:
        view = await views.order_json(session, svc, order)
        view["share"] = await commissions.order_share_credit(session, order.id)
    return JSON(view)


@router.add("/api/orders/{order_id:int}/events", "GET", summary="The order's event log",
            response=OrderEventsOut, errors=(404,))
async def order_events(request: Request) -> Response:
    svc, _ = await _visible_order(request)
    async with svc.db.session() as session:
        events = await queries.order_events(session, path_int(request, "order_id"))
    return JSON({"events": [{"id": e.id, "type": e.type, "from_status": e.from_status,
                             "to_status": e.to_status, "actor_id": e.actor_id, "data": e.data,
                             "created_at": e.created_at.isoformat()} for e in events]})


# An order move of orders.order_moves: (services, actor, order id) -> the order as moved.
OrderMove = Callable[[Services, Actor, int], Awaitable[Order]]


async def moved_order(request: Request, move: OrderMove, *roles: Role) -> Response:
    """An order move's endpoint: the signed-in user (of `role`) moves the path's order, and is
    answered the order as moved, in the one view of an order."""
    principal = await require_user(request, *roles)
    svc = services(request)
    order = await move(svc, principal, path_int(request, "order_id"))
    async with svc.db.session() as session:
        return JSON(await views.order_json(session, svc, order))


@router.add("/api/orders/{order_id:int}/cancel", "POST", summary="Cancel an unpaid order "
            "(its buyer)", response=OrderOut, errors=(404, 409))
async def cancel_order(request: Request) -> Response:
    return await moved_order(request, order_moves.cancel_order)


@router.add("/api/orders/{order_id:int}/complete", "POST", summary="Mark a paid order "
            "fulfilled (the sale's host, ops)", response=OrderOut, errors=(404, 409))
async def complete_order(request: Request) -> Response:
    return await moved_order(request, order_moves.complete_order, Role.HOST)


@router.add("/api/orders/{order_id:int}/refund", "POST", summary="Refund a paid order in full "
            "(ops)", response=OrderOut, errors=(404, 409))
async def refund_order(request: Request) -> Response:
    return await moved_order(request, order_moves.refund_order, Role.OPS)
