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
from web.i18n import CATALOGS
from web.render import error_page, page, page_principal

# The title of the page a bad link gets, by the refusal's code (catalog keys); its message is
# the code's own words (`errors.<code>`), as the API's clients read them.
TITLES = {
    "share_code_malformed": "share.bad_link.malformed",
    "share_code_forged": "share.bad_link.forged",
    "share_code_expired": "share.bad_link.expired",
    "share_target_not_found": "share.bad_link.target_gone",
    "share_kind_unsupported": "share.bad_link.kind_unsupported",
    "too_many_attempts": "share.bad_link.too_many_visits",
}
OTHER_TITLE = "share.bad_link.other"


async def follow_link(request: Request) -> Response:
    principal = await resolve_principal(request)
    try:
        visit = await actions.visit(services(request), request.path_params["code"],
                                    visitor_id=principal.id if principal else None,
                                    address=client_address(request))
    except DomainError as exc:
        # A code without words shows the API's (English) message as it is.
        message = f"errors.{exc.code}" if f"errors.{exc.code}" in CATALOGS["en"] else exc.message
        response = error_page(request, principal, exc.status_code,
                              TITLES.get(exc.code, OTHER_TITLE), message)
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
