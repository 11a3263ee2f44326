"""The short video page: the video and its product cards (web/static/js/video.js)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.accounts import owns_or_ops
from core.errors import NotFound
from live import videos
from live.models import VideoStatus
from orders import queries as order_queries
from web.api_analytics import ensure_viewer_cookie
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
        return error_page(request, principal, 404, "No such video",
                          "This video does not exist, or it is not ready yet.")
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


# A feed page: a phone's scroll of posters for a while.
FEED_PAGE_SIZE = 30


async def feed_page(request: Request) -> Response:
    """Ready short videos, newest first (from the hosts a viewer follows, once follows exist)."""
    principal = await resolve_principal(request)
    ready = await videos.ready_videos(services(request), host_id=None, limit=FEED_PAGE_SIZE)
    return page(request, "videos.html", principal, videos=[videos.video_view(v) for v in ready])


routes: list[BaseRoute] = [
    Route("/videos", feed_page, methods=["GET"], name="videos"),
    Route("/videos/{video_id:int}", video_page, methods=["GET"], name="video"),
]
