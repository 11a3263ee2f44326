"""The short video page: the video and its product cards (web/static/js/video.js); the feeds'
page, For you and Following (web/static/js/videos.js)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.accounts import User, owns_or_ops
from core.errors import NotFound
from live import videos
from live.models import VideoStatus
from orders import queries as order_queries
from web.api_analytics import ensure_viewer_cookie
from web.api_videos import FEED_LIMIT, FEEDS, FOLLOWING, FOR_YOU, load_feed
from web.auth import resolve_principal
from web.edge import services
from web.render import error_page, page, static_url
from web.validation import path_int


async def video_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    svc = services(request)
    try:
        video = await videos.get_video(svc, path_int(request, "video_id"))
    except NotFound:
        video = None
    # Before it is ready only its host (and ops) may open it, to see where it stands.
    if video is None or (video.status != VideoStatus.READY and (
            principal is None or not owns_or_ops(principal, video.host_id))):
        return error_page(request, principal, 404, "error.no_video.title",
                          "error.no_video.message")
    view = videos.video_view(video)
    tags = await videos.video_tags(svc, video.id)
    # A tagged product on flash sale right now can be bought from here, the order attributed
    # to this video or replay (orders/sources.py); the newest sale of a product wins.
    async with svc.db.session() as session:
        on_sale = await order_queries.running_sales_of(
            session, sorted({tag["product"]["id"] for tag in tags}))
    sales: dict[str, dict[str, Any]] = {}
    for sale in on_sale:
        sales.setdefault(str(sale.product_id), sale.public())
    response = page(request, "video.html", principal, video=view,
                    boot={"video": view, "tags": tags, "sales": sales,
                          "hls_js": static_url("vendor/hls/hls.min.js")})
    # A guest's views, watch time and clicks count as one viewer (analytics/videos.py).
    ensure_viewer_cookie(request, response)
    return response


# At most this many hosts suggested to a viewer who follows nobody yet.
SUGGESTED_HOSTS = 6


async def _hosts_to_follow(request: Request, viewer_id: int) -> list[dict[str, Any]]:
    """The hosts of the newest ready videos (a page of them: bounded however many there
    are), newest first, for the empty Following tab to point to."""
    newest = await videos.ready_videos(services(request), host_id=None, limit=FEED_LIMIT)
    host_ids = list(dict.fromkeys(v.host_id for v in newest.videos if v.host_id != viewer_id))
    host_ids = host_ids[:SUGGESTED_HOSTS]
    if not host_ids:
        return []
    async with services(request).db.session() as session:
        rows = await session.execute(select(User.id, User.display_name).where(
            User.id.in_(host_ids)))
        names: dict[int, str] = {user_id: name for user_id, name in rows}
    return [{"id": host_id, "display_name": names.get(host_id, "")} for host_id in host_ids]


async def feed_page(request: Request) -> Response:
    """The feeds, a tab each: For you (everyone's ready videos and replays, newest first) and
    Following (the hosts the viewer follows). The first page is rendered here; the page's
    script (js/videos.js) asks `GET /api/videos` for the next ones by cursor."""
    principal = await resolve_principal(request)
    name = request.query_params.get("feed", "").strip() or FOR_YOU
    if name not in FEEDS:
        return error_page(request, principal, 404, "error.no_feed.title",
                          "error.no_feed.message")
    listing: dict[str, Any] | None = None
    suggested: list[dict[str, Any]] = []
    if name == FOR_YOU or principal is not None:
        listing = await load_feed(request, name, principal)
        if name == FOLLOWING and not listing["follows_anyone"]:
            suggested = await _hosts_to_follow(request, principal.id if principal else 0)
    # A guest on Following gets the sign-in prompt (no listing), coming back to this tab.
    return page(request, "videos.html", principal, feed=name, listing=listing,
                suggested=suggested, sign_in_next=quote(f"/videos?feed={FOLLOWING}", safe="/"),
                boot={"feed": name, "next_cursor": listing["next_cursor"] if listing else None})


routes: list[BaseRoute] = [
    Route("/videos", feed_page, methods=["GET"], name="videos"),
    Route("/videos/{video_id:int}", video_page, methods=["GET"], name="video"),
]
