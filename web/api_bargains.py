"""JSON API for honest bargaining (砍价): the host offers a lineup product's variant for
bargaining, a buyer starts a bargain and shares its page, friends each cut once by the published
rule, and the buyer buys at the price reached. Thin: parse, call one action, reply. The rule and
the refusals: docs/social.md, "Bargaining"."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from core.accounts import Role
from live import actions as live_actions
from orders import bargains
from orders.regular import RoomTerms
from orders.schemas import (
    BargainHelpOut,
    BargainOfferIn,
    BargainOfferOut,
    BargainOut,
    BargainStartedOut,
    BuyOut,
    RoomBargainOffersOut,
)
from web.api import ApiRouter
from web.api_regular import IDEMPOTENCY_HEADER, placed
from web.auth import require_user
from web.edge import services, viewer_id
from web.responses import JSON
from web.validation import parse_body, path_int

router = ApiRouter("bargains")


def _terms_of(room_id: int, *, lineup_only: bool) -> bargains.TermsOf:
    async def terms_of(session: AsyncSession, product_ids: list[int]) -> RoomTerms:
        return await live_actions.bargain_terms(session, room_id, product_ids,
                                                lineup_only=lineup_only)
    return terms_of


@router.add("/api/rooms/{room_id:int}/bargain-offers", "POST", summary="Offer a lineup "
            "product (one variant) for bargaining: the starting price, the floor, how many "
            "distinct friends reach it, and the deadline (the room's host). Errors: "
            "not_room_host (403), room_not_found (404), invalid (422, naming the field)",
            body=BargainOfferIn, response=BargainOfferOut, status=201,
            errors=(403, 404, 422))
async def enable_bargain(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, BargainOfferIn)
    room_id = path_int(request, "room_id")
    svc = services(request)
    offer = await bargains.enable_bargain(
        svc, principal, room_id,
        bargains.OfferTerms(product_id=data.product_id, variant_id=data.variant_id,
                            start_price_minor=data.start_price_minor,
                            floor_price_minor=data.floor_price_minor,
                            helpers_needed=data.helpers_needed, ends_at=data.ends_at),
        _terms_of(room_id, lineup_only=True))
    return JSON(await bargains.offer_page(svc, offer.id, None), status_code=201)


@router.add("/api/rooms/{room_id:int}/bargain-offers", "GET", summary="The room's bargain "
            "offers still open, each with its published schedule of cuts", auth=False,
            response=RoomBargainOffersOut)
async def room_offers(request: Request) -> Response:
    return JSON(await bargains.room_offers(services(request), path_int(request, "room_id")))


@router.add("/api/bargain-offers/{offer_id:int}", "GET", summary="A bargain offer, its "
            "schedule of cuts and (signed in) your bargain on it. Errors: "
            "bargain_offer_not_found (404)", auth=False, response=BargainOfferOut,
            errors=(404,))
async def get_offer(request: Request) -> Response:
    return JSON(await bargains.offer_page(services(request), path_int(request, "offer_id"),
                                          await viewer_id(request)))


@router.add("/api/bargain-offers/{offer_id:int}/withdraw", "POST", summary="Withdraw the "
            "offer (its host): no new bargain starts on it (offer_withdrawn), the bargains "
            "already started keep their deadline; the room hears it. Withdrawing again "
            "answers the same. The reply counts the bargains started. Errors: not_your_offer "
            "(403), bargain_offer_not_found (404)", response=BargainOfferOut,
            errors=(403, 404))
async def withdraw_offer(request: Request) -> Response:
    principal = await require_user(request)
    return JSON(await bargains.withdraw_offer(services(request), principal,
                                              path_int(request, "offer_id")))


@router.add("/api/bargain-offers/{offer_id:int}/bargains", "POST", summary="Start your "
            "bargain on the offer (one per buyer per offer: starting again answers the one "
            "there is, 200). Errors: cannot_bargain_own_offer (403), bargain_offer_not_found "
            "(404), offer_withdrawn, bargain_expired (409)", response=BargainStartedOut, status=201,
            errors=(403, 404, 409))
async def start_bargain(request: Request) -> Response:
    principal = await require_user(request)
    bargain_id, created = await bargains.start_bargain(
        services(request), principal.id, path_int(request, "offer_id"))
    return JSON({"bargain_id": bargain_id, "created": created},
                status_code=201 if created else 200)


@router.add("/api/bargains/{bargain_id:int}", "GET", summary="A bargain: every cut with its "
            "friend's name and amount, the price now, friends so far and needed, the amount "
            "to go, the time left, and what you may do. Errors: bargain_not_found (404)",
            auth=False, response=BargainOut, errors=(404,))
async def get_bargain(request: Request) -> Response:
    return JSON(await bargains.bargain_view(services(request), path_int(request, "bargain_id"),
                                            await viewer_id(request)))


@router.add("/api/bargains/{bargain_id:int}/help", "POST", summary="Cut a friend's bargain "
            "once, by the published rule's amount for your rank; committed before the reply. "
            "Errors: cannot_help_own_bargain (403), bargain_not_found (404), already_helped, "
            "bargain_expired, bargain_complete, bargain_already_bought (409)",
            response=BargainHelpOut, status=201, errors=(403, 404, 409))
async def help_bargain(request: Request) -> Response:
    principal = await require_user(request)
    helped = await bargains.help_bargain(services(request), principal.id,
                                         path_int(request, "bargain_id"))
    return JSON(bargains.helped_view(helped), status_code=201)


@router.add("/api/bargains/{bargain_id:int}/buy", "POST", summary="Buy one unit at the "
            "price reached (the bargain's buyer, before its deadline): the unit is held and "
            "the order, whose source is the bargain, awaits payment like any regular-price "
            "order. Errors: not_your_bargain (403), bargain_not_found (404), bargain_expired, "
            "bargain_already_bought, sold_out (409), address_required (422)",
            response=BuyOut, status=201, errors=(400, 403, 404, 409, 422),
            headers=IDEMPOTENCY_HEADER)
async def buy_bargain(request: Request) -> Response:
    principal = await require_user(request)
    return placed(*await bargains.buy_bargain(
        services(request), principal.id, path_int(request, "bargain_id"),
        request.headers.get("idempotency-key"),
        lambda room_id: _terms_of(room_id, lineup_only=False)))
