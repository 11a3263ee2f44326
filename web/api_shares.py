"""JSON API of share links: a sharer's link (POST /api/shares), following one from a client
that is not a browser (POST /api/shares/{code}/visit; the browser's link is /s/{code} in
web/pages_shares.py) and the sharer's overview (GET /api/me/shares). Thin: parse, call one
action of `sharing`, reply; a bad code is a 4xx naming its reason."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from sharing import actions, queries
from sharing.schemas import ShareIn, ShareLinkOut, SharerOverviewOut, VisitOut
from web.api import ApiRouter
from web.auth import client_address, refuse_cross_site, require_user, resolve_principal
from web.edge import services
from web.responses import JSON
from web.validation import parse_body

router = ApiRouter("shares")


def share_cookie(response: Response, request: Request, visit: actions.Visit) -> None:
    """A guest's click, carried until they sign in, for as long as the attribution window."""
    if visit.cookie is None:
        return
    settings = services(request).settings
    response.set_cookie(actions.COOKIE_NAME, visit.cookie,
                        max_age=settings.shares.attribution_days * 86400, httponly=True,
                        samesite="lax", secure=settings.session_cookie_secure)


async def claim_share_cookie(request: Request, response: Response, user_id: int) -> None:
    """At sign-in or sign-up: a guest's share-link click becomes their attribution."""
    value = request.cookies.get(actions.COOKIE_NAME)
    if not value:
        return
    await actions.claim_cookie(services(request), user_id, value)
    response.delete_cookie(actions.COOKIE_NAME)


@router.add("/api/shares", "POST", summary="Your share link for a room or a product (the same "
            "link each time)", body=ShareIn, response=ShareLinkOut, status=201,
            errors=(401, 404, 422))
async def create_link(request: Request) -> Response:
    principal = await require_user(request)
    data = await parse_body(request, ShareIn)
    svc = services(request)
    link = await actions.issue_link(svc, principal.id, data.kind, data.id)
    base = svc.settings.public_base_url
    return JSON({"id": link.id, "code": link.code, "kind": link.kind,
                 "target_id": link.target_id, "path": link.path, "url": base + link.path},
                status_code=201)


@router.add("/api/shares/{code}/visit", "POST", summary="Follow a share link: count the visit, "
            "set the attribution", response=VisitOut, auth=False,
            errors=(400, 403, 404, 410, 422, 429))
async def visit_link(request: Request) -> Response:
    # A page of another site must not post a visit for the signed-in user (the browser's own
    # way in is a top-level GET of /s/{code}).
    refuse_cross_site(request, services(request).settings)
    principal = await resolve_principal(request)
    visit = await actions.visit(services(request), request.path_params["code"],
                                visitor_id=principal.id if principal else None,
                                address=client_address(request))
    response = JSON({"path": visit.path, "counted": visit.counted,
                     "attributed": visit.attributed})
    share_cookie(response, request, visit)
    return response


@router.add("/api/me/shares", "GET", summary="Your share links, their visits and orders, your "
            "earnings by state and every ledger entry", response=SharerOverviewOut,
            errors=(401,))
async def my_shares(request: Request) -> Response:
    principal = await require_user(request)
    svc = services(request)
    async with svc.db.session() as session:
        overview = await queries.sharer_overview(session, svc.settings, principal.id)
    return JSON(overview)
