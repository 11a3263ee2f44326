"""JSON API for coupons dropped into a live room: the host drops one, viewers see the room's
coupons and claim one in a tap; a claim is then named at checkout (`coupon_claim_id` of a buy
or a cart's checkout, web/api_regular.py). Thin: parse, call one action, reply. The rules:
docs/engagement.md, "Coupons"."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from core.accounts import Role
from orders import coupons
from orders.errors import NotRoomHost
from orders.schemas import ClaimOut, CouponIn, CouponOut, RoomCouponsOut
from social import follows
from web.api import ApiRouter
from web.auth import require_user
from web.edge import host_owned, services, viewer_id
from web.responses import JSON
from web.validation import parse_body, path_int

router = ApiRouter("coupons")


@router.add("/api/rooms/{room_id:int}/coupons", "POST", summary="Drop a coupon into a live "
            "room: amount off, or percent off with a cap; a minimum spend; how many (one per "
            "viewer); valid for how long; optionally followers only. Errors: not_room_host "
            "(403), room_not_live (409), invalid (422)", body=CouponIn, response=CouponOut,
            status=201, errors=(403, 404, 409, 422))
async def drop_coupon(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, CouponIn)
    coupon = await coupons.drop_coupon(services(request), principal, path_int(request, "room_id"),
                                       coupons.CouponTerms(
        kind=data.kind, amount_off_minor=data.amount_off_minor, percent_off=data.percent_off,
        max_off_minor=data.max_off_minor, min_spend_minor=data.min_spend_minor,
        currency=data.currency, quantity=data.quantity, valid_seconds=data.valid_seconds,
        followers_only=data.followers_only))
    return JSON(coupons.coupon_view(coupon, coupon.quantity), status_code=201)


@router.add("/api/rooms/{room_id:int}/coupons", "GET", summary="The room's coupons still "
            "valid, with the copies left and (signed in) your claim of each", auth=False,
            response=RoomCouponsOut)
async def room_coupons(request: Request) -> Response:
    return JSON(await coupons.room_coupons(services(request), path_int(request, "room_id"),
                                           await viewer_id(request)))


@router.add("/api/coupons/{coupon_id:int}/claim", "POST", summary="Claim one copy of the "
            "coupon (one per viewer), committed before the reply. Errors: coupon_expired, "
            "coupon_exhausted, coupon_already_claimed (409), coupon_followers_only, "
            "host_cannot_claim (403), coupon_not_found (404)", response=ClaimOut, status=201,
            errors=(403, 404, 409))
async def claim(request: Request) -> Response:
    principal = await require_user(request)

    # The follow is social's: asked here, at the edge, in the claim's transaction, and only for
    # a followers-only coupon.
    async def follows_host(session: AsyncSession, host_id: int) -> bool:
        return (await follows.follow_state(session, host_id, principal.id)).following

    result = await coupons.claim_coupon(services(request), principal.id,
                                        path_int(request, "coupon_id"), follows_host)
    return JSON({"claim_id": result.claim_id, "coupon_id": result.coupon_id,
                 "left": result.left}, status_code=201)


@router.add("/api/coupons/{coupon_id:int}/rebuild", "POST", summary="Rebuild the coupon's "
            "Redis state (copies left, who claimed) from PostgreSQL (the host, ops)",
            response=CouponOut, errors=(403, 404))
async def rebuild(request: Request) -> Response:
    svc, coupon = await host_owned(request, "coupon_id", coupons.get_coupon, NotRoomHost(
        "only the room's host can do this", field="coupon_id"))
    left = await coupons.rebuild_coupon(svc, coupon.id)
    return JSON(coupons.coupon_view(coupon, left))
