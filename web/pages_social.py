"""Pages of follows, notifications and reviews: the notifications list, a host's public page
(their shows, reviews and seller score), and what the room page and the host panel show of a
seller (`seller_boot`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.accounts import Role, User
from core.context import Services
from live import queries
from live.models import RoomStatus
from social import follows, notifications, reviews
from social.score import cached_seller_score
from web.auth import Principal, resolve_principal
from web.edge import services
from web.render import error_page, page, page_principal
from web.validation import path_int


async def seller_boot(svc: Services, session: AsyncSession, host_id: int,
                      viewer: Principal | None) -> dict[str, Any]:
    """A seller as the room page and the host panel show them: followers (and whether the
    viewer follows), the seller score with its counts, and the viewer's completed orders
    from this seller that wait for a review."""
    state = await follows.follow_state(session, host_id, viewer.id if viewer else None)
    score = await cached_seller_score(svc, session, host_id)
    reviewable = (await reviews.reviewable_orders(session, viewer.id, host_id)
                  if viewer is not None and viewer.id != host_id else [])
    return {"host_id": host_id, "following": state.following, "followers": state.followers,
            "score": score.public(), "reviewable": reviewable,
            "can_follow": viewer is not None and viewer.id != host_id}


async def notifications_page(request: Request) -> Response:
    principal = await page_principal(request)
    if isinstance(principal, Response):
        return principal
    listing = await notifications.list_notifications(services(request), principal.id)
    return page(request, "notifications.html", principal, listing=listing,
                boot={"unread": listing["unread"]})


async def host_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    host_id = path_int(request, "host_id")
    svc = services(request)
    async with svc.db.session() as session:
        host = (await session.execute(select(User.id, User.display_name, User.role)
                                      .where(User.id == host_id))).one_or_none()
        if host is None or host.role != Role.HOST:
            return error_page(request, principal, 404, "error.no_host.title",
                              "error.no_host.message")
        seller = await seller_boot(svc, session, host_id, principal)
        rooms = await queries.list_rooms(session, host_id=host_id, limit=50)
    shows = [r.public() for r in rooms if r.status != RoomStatus.ENDED]
    host_reviews = await reviews.list_reviews(svc, host_id=host_id)
    return page(request, "host_public.html", principal, host_name=host.display_name,
                seller=seller, shows=shows, reviews=host_reviews,
                boot={"seller": seller, "host_name": host.display_name})


routes: list[BaseRoute] = [
    Route("/notifications", notifications_page, methods=["GET"], name="notifications"),
    Route("/hosts/{host_id:int}", host_page, methods=["GET"], name="host_public"),
]
