"""Short videos: upload (the file is the request body, streamed to disk), read, the feed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from core.accounts import Role, owns_or_ops
from core.settings import VideoSettings
from live import videos
from live.models import VideoStatus
from live.schemas import VideoTagsIn
from web.api import ApiRouter
from web.auth import require_user, resolve_principal
from web.edge import services
from web.responses import JSON
from web.validation import parse_body, path_int, query_id

router = ApiRouter("videos")

# A feed page: enough to fill a phone's scroll for a while.
FEED_LIMIT = 30


def _video_settings(request: Request) -> VideoSettings:
    settings: VideoSettings = request.app.state.settings.video
    return settings


@router.add("/api/videos", "POST", summary="Upload a short video (the body is the file: "
            "Content-Type video/mp4, video/quicktime, video/webm or video/x-matroska)",
            status=202, errors=(413, 415), query={"title": "string"})
async def upload(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    settings = _video_settings(request)
    declared = request.headers.get("content-length")
    video = await videos.save_upload(
        services(request), settings, principal, request.query_params.get("title", ""),
        request.headers.get("content-type", ""), request.stream(),
        int(declared) if declared and declared.isdigit() else None)
    # 202: stored; the transcode runs in a worker (status uploaded -> processing -> ready).
    return JSON(videos.video_view(video), status_code=202)


@router.add("/api/videos/{video_id:int}", "GET", summary="A short video and its status",
            auth=False, errors=(404,))
async def get_video(request: Request) -> Response:
    video = await videos.get_video(services(request), path_int(request, "video_id"))
    if video.status != VideoStatus.READY:
        # Only its host (and ops) see a video before it is ready, and why it failed.
        principal = await resolve_principal(request)
        if principal is None or not owns_or_ops(principal, video.host_id):
            raise videos.VideoNotFound("no such video", field="video_id")
    return JSON({**videos.video_view(video), "tags": await videos.video_tags(services(request),
                                                                              video.id)})


@router.add("/api/videos/{video_id:int}/tags", "PUT", summary="Replace the video's product "
            "tags (a product's card shows from its moment on)", body=VideoTagsIn,
            errors=(404,))
async def set_tags(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, VideoTagsIn)
    tags = await videos.set_tags(services(request), principal, path_int(request, "video_id"),
                                 data.tags)
    return JSON({"tags": tags})


@router.add("/api/videos", "GET", summary="Ready short videos, newest first", auth=False,
            query={"host_id": "integer"})
async def feed(request: Request) -> Response:
    ready = await videos.ready_videos(services(request), host_id=query_id(request, "host_id"),
                                      limit=FEED_LIMIT)
    return JSON({"videos": [videos.video_view(v) for v in ready]})
