"""Share-link pages: `/s/{code}` (follow a link: count, attribute, redirect to the room or the
product; a bad link gets a page saying why) and `/me/shares` (the sharer's page)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import DomainError
from sharing import actions, queries
from web.api_shares import share_cookie
from web.auth import client_address, resolve_principal
from web.edge import services
from web.render import error_page, page, page_principal

TITLES = {
    "share_code_malformed": "This is not a share link",
    "share_code_forged": "This share link is not valid",
    "share_code_expired": "This share link has expired",
    "share_target_not_found": "What was shared is gone",
    "share_kind_unsupported": "This kind of link is not served yet",
    "too_many_attempts": "Too many visits",
}


async def follow_link(request: Request) -> Response:
    principal = await resolve_principal(request)
    try:
        visit = await actions.visit(services(request), request.path_params["code"],
                                    visitor_id=principal.id if principal else None,
                                    address=client_address(request))
    except DomainError as exc:
        response = error_page(request, principal, exc.status_code,
                              TITLES.get(exc.code, "This share link cannot be followed"),
                              exc.message)
        response.headers.update(exc.headers)
        return response
    response = RedirectResponse(visit.path, status_code=303)
    share_cookie(response, request, visit)
    return response


async def my_shares_page(request: Request) -> Response:
    principal = await page_principal(request)
    if isinstance(principal, Response):
        return principal
    svc = services(request)
    async with svc.db.session() as session:
        overview = await queries.sharer_overview(session, svc.settings, principal.id)
    return page(request, "shares.html", principal, overview=overview,
                base_url=svc.settings.public_base_url or str(request.base_url).rstrip("/"))


routes: list[BaseRoute] = [
    Route("/s/{code}", follow_link, methods=["GET"], name="share_link"),
    Route("/me/shares", my_shares_page, methods=["GET"], name="my_shares"),
]
