"""The short video page: the video and its product cards (web/static/js/video.js)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.accounts import owns_or_ops
from core.errors import NotFound
from live import videos
from live.models import VideoStatus
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
    return page(request, "video.html", principal, video=view,
                boot={"video": view, "tags": await videos.video_tags(svc, video.id),
                      "hls_js": static_url("vendor/hls/hls.min.js")})


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
