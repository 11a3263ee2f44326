"""JSON API for buying at the regular price: products' variants, a buy in a live room, the
cart and its checkout, the buyer's shipping address, and the host's orders to fulfil. Thin:
parse, call one action, reply."""

from __future__ import annotations

from sqlalchemy import select, update
from starlette.requests import Request
from starlette.responses import Response

from core.accounts import Role, User
from live import actions as live_actions
from live import queries as live_queries
from live import videos
from orders import cart, coupons, order_moves, regular, variants, views
from orders.buying import IDEMPOTENCY_KEY
from orders.models import Order, OrderStatus
from orders.regular import LineIn, TermsOf
from orders.schemas import (
    AddressIn,
    AddressOut,
    BuyOut,
    CartLineIn,
    CartOut,
    CheckoutIn,
    OrderOut,
    OrdersOut,
    RegularBuyIn,
    VariantsIn,
    VariantsOut,
)
from orders.sources import OrderSourceRef
from web.api import ApiRouter, Header
from web.api_orders import moved_order
from web.auth import require_user
from web.edge import services
from web.responses import JSON
from web.validation import parse_body, path_int, query_choice

router = ApiRouter("regular")

IDEMPOTENCY_HEADER = {"Idempotency-Key": Header(
    "One per press of the button (e.g. a UUID), reused on a retry: a repeat returns the first "
    "reply with `Idempotent-Replayed: true`", required=True, pattern=IDEMPOTENCY_KEY.pattern)}


async def _product(request: Request) -> variants.ProductFacts:
    svc = services(request)
    async with svc.db.session() as session:
        product = await live_queries.get_product(session, path_int(request, "product_id"))
    return variants.ProductFacts(product.id, product.host_id, product.title,
                                 product.price_minor, product.currency)


def _terms_of(room_id: int) -> TermsOf:
    return lambda session, product_ids: live_actions.regular_terms(session, room_id, product_ids)


@router.add("/api/products/{product_id:int}/variants", "GET", summary="The product's variants "
            "(sizes, colours) with their price and the units left at the regular price",
            auth=False, response=VariantsOut, errors=(404,))
async def get_variants(request: Request) -> Response:
    return JSON(await variants.product_variants(services(request), await _product(request)))


@router.add("/api/products/{product_id:int}/variants", "PUT", summary="Define the product's "
            "options and variants, each with its stock and optionally its own price (the "
            "product's host). A variant left out can no longer be bought. Errors: "
            "stock_below_committed (409)", body=VariantsIn, response=VariantsOut,
            errors=(403, 404, 409, 422))
async def put_variants(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, VariantsIn)
    return JSON(await variants.set_variants(services(request), principal,
                                            await _product(request), data))


def placed(reply: bytes, replayed: bool) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(reply, status_code=201, headers=headers, media_type=JSON.media_type)


@router.add("/api/rooms/{room_id:int}/buy", "POST", summary="Buy a variant of a lineup product "
            "at its regular price while the room is live: its units are held and the order "
            "awaits payment; a live-room coupon claim, if named, comes off the amount paid. "
            "Errors: variant_not_found (404), room_not_live, sold_out (409), address_required, "
            "invalid (422); a coupon that cannot apply: coupon_not_yours (403), coupon_used, "
            "coupon_expired, coupon_not_for_this_room (409), coupon_below_minimum, "
            "coupon_currency_mismatch (422)", body=RegularBuyIn, response=BuyOut, status=201,
            errors=(400, 403, 404, 409, 422), headers=IDEMPOTENCY_HEADER)
async def buy(request: Request) -> Response:
    principal = await require_user(request)
    data = await parse_body(request, RegularBuyIn)
    room_id = path_int(request, "room_id")
    return placed(*await regular.place_order(
        services(request), principal.id, [LineIn(data.variant_id, data.quantity)],
        request.headers.get("idempotency-key"), _terms_of(room_id),
        coupon_claim_id=data.coupon_claim_id))


@router.add("/api/videos/{video_id:int}/buy", "POST", summary="Buy a variant of a product the "
            "ready short video or replay tags, at the product's current regular price, whether "
            "or not a room is live: its units are held, the order awaits payment and is "
            "attributed to the video (`source`: replay or video). Errors: video_not_found, "
            "variant_not_found (404), video_not_ready, no_room, sold_out (409), "
            "address_required, invalid (422; `not_tagged`: the video does not show the "
            "product)", body=RegularBuyIn, response=BuyOut, status=201,
            errors=(400, 404, 409, 422), headers=IDEMPOTENCY_HEADER)
async def buy_from_video(request: Request) -> Response:
    principal = await require_user(request)
    data = await parse_body(request, RegularBuyIn)
    if data.coupon_claim_id is not None:
        raise coupons.not_for_video()
    svc = services(request)
    video_id = path_int(request, "video_id")
    # The source's kind is the video's own (a replay has a room); `video_terms` checks it is
    # ready and tags the product, inside the order's transaction.
    video = await videos.get_video(svc, video_id)
    return placed(*await regular.place_order(
        svc, principal.id, [LineIn(data.variant_id, data.quantity)],
        request.headers.get("idempotency-key"),
        lambda session, product_ids: videos.video_terms(session, video_id, product_ids),
        source=OrderSourceRef(videos.video_kind(video.room_id), video_id)))


@router.add("/api/rooms/{room_id:int}/cart", "GET", summary="The buyer's cart in the room",
            response=CartOut, errors=(404, 409))
async def get_cart(request: Request) -> Response:
    principal = await require_user(request)
    room_id = path_int(request, "room_id")
    return JSON(await cart.cart_view(services(request), principal.id, room_id,
                                     _terms_of(room_id)))


@router.add("/api/rooms/{room_id:int}/cart/{variant_id:int}", "PUT", summary="Set a variant's "
            "quantity in the cart (0 takes it out)", body=CartLineIn, response=CartOut,
            errors=(404, 409, 422))
async def put_cart_line(request: Request) -> Response:
    principal = await require_user(request)
    data = await parse_body(request, CartLineIn)
    svc = services(request)
    room_id = path_int(request, "room_id")
    await cart.set_line(svc, principal.id, room_id, path_int(request, "variant_id"),
                        data.quantity, _terms_of(room_id))
    return JSON(await cart.cart_view(svc, principal.id, room_id, _terms_of(room_id)))


@router.add("/api/rooms/{room_id:int}/cart/checkout", "POST", summary="One order for the whole "
            "cart, one payment: every line's units are held at once, or none (a line without "
            "enough units is named: field `lines[i].quantity`); a live-room coupon claim, if "
            "named, comes off the amount paid (its errors as for a buy)", body=CheckoutIn,
            response=BuyOut, status=201, errors=(400, 403, 404, 409, 422),
            headers=IDEMPOTENCY_HEADER)
async def checkout(request: Request) -> Response:
    principal = await require_user(request)
    data = await parse_body(request, CheckoutIn)
    room_id = path_int(request, "room_id")
    return placed(*await cart.checkout(services(request), principal.id, room_id,
                                        request.headers.get("idempotency-key"),
                                        _terms_of(room_id), coupon_claim_id=data.coupon_claim_id))


@router.add("/api/account/address", "GET", summary="The buyer's shipping address",
            response=AddressOut)
async def get_address(request: Request) -> Response:
    principal = await require_user(request)
    svc = services(request)
    async with svc.db.session() as session:
        address = await session.scalar(select(User.shipping_address)
                                       .where(User.id == principal.id))
    return JSON({"shipping_address": address})


@router.add("/api/account/address", "PUT", summary="Set the buyer's shipping address (copied "
            "onto each regular-price order)", body=AddressIn, response=AddressOut,
            errors=(422,))
async def put_address(request: Request) -> Response:
    principal = await require_user(request)
    data = await parse_body(request, AddressIn)
    svc = services(request)
    address = data.model_dump()
    async with svc.db.transaction() as session:
        await session.execute(update(User).where(User.id == principal.id)
                              .values(shipping_address=address))
    return JSON({"shipping_address": address})


@router.add("/api/host/orders", "GET", summary="The regular-price orders the logged-in host "
            "fulfils, newest first, with their items and shipping addresses",
            response=OrdersOut, query={"status": "string"}, errors=(422,))
async def host_orders(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    status = query_choice(request, "status", OrderStatus)
    svc = services(request)
    async with svc.db.session() as session:
        query = select(Order).where(Order.host_id == principal.id)
        if status is not None:
            query = query.where(Order.status == status)
        orders = list(await session.scalars(query.order_by(Order.id.desc()).limit(200)))
        return JSON({"orders": await views.orders_json(session, svc, orders)})


@router.add("/api/orders/{order_id:int}/refund-request", "POST", summary="The buyer asks for "
            "a refund of a paid order (ops decide and refund)", response=OrderOut,
            errors=(403, 404, 409))
async def request_refund(request: Request) -> Response:
    return await moved_order(request, order_moves.request_refund)
