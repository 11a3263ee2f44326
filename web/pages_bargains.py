"""Bargain pages: `/bargain-offers/{id}` (the host's offer: its prices, the published schedule of
cuts, and Start bargaining) and `/bargains/{id}` (a buyer's bargain, shared with friends: every
cut with its friend's name, the price now, the friends still needed, the time left, Help for
friends and Buy for the buyer). The rule: docs/social.md, "Bargaining"."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orders import bargains
from orders.errors import BargainNotFound, BargainOfferNotFound
from web.auth import resolve_principal
from web.edge import services
from web.render import error_page, page
from web.validation import path_int


async def offer_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    try:
        offer = await bargains.offer_page(services(request), path_int(request, "offer_id"),
                                          principal.id if principal is not None else None)
    except BargainOfferNotFound:
        return error_page(request, principal, 404, "bargain.not_found.title",
                          "bargain.not_found.offer")
    return page(request, "bargain_offer.html", principal, boot={"offer": offer}, offer=offer)


async def bargain_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    try:
        bargain = await bargains.bargain_view(services(request),
                                              path_int(request, "bargain_id"),
                                              principal.id if principal is not None else None)
    except BargainNotFound:
        return error_page(request, principal, 404, "bargain.not_found.title",
                          "bargain.not_found.bargain")
    return page(request, "bargain.html", principal, boot={"bargain": bargain}, bargain=bargain)


routes: list[BaseRoute] = [
    Route("/bargain-offers/{offer_id:int}", offer_page, methods=["GET"], name="bargain_offer"),
    Route("/bargains/{bargain_id:int}", bargain_page, methods=["GET"], name="bargain"),
]
