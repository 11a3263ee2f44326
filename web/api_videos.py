"""Short videos: upload (the file is the request body, streamed to disk), read, the feeds
(everyone's newest, and the followed hosts')."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.accounts import Role, owns_or_ops
from core.errors import NotAuthenticated, ValidationError
from core.settings import VideoSettings
from live import videos
from live.models import VideoStatus
from live.schemas import VideoTagsIn
from social import feed as social_feed
from web.api import ApiRouter
from web.auth import Principal, require_user, resolve_principal
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


# The feeds a viewer picks between: everyone's newest ("For you") and the followed hosts'.
FOR_YOU = "for_you"
FOLLOWING = "following"
FEEDS = (FOR_YOU, FOLLOWING)


def feed_name(request: Request) -> str:
    """The `feed` of the query string (For you when absent); an unknown one is a 422."""
    name = request.query_params.get("feed", "").strip() or FOR_YOU
    if name not in FEEDS:
        raise ValidationError([{"field": "feed", "message": f"one of {', '.join(FEEDS)}"}])
    return name


def feed_cursor(request: Request) -> videos.FeedCursor | None:
    raw = request.query_params.get("cursor", "").strip()
    return videos.FeedCursor.decode(raw) if raw else None


async def load_feed(request: Request, name: str, viewer: Principal | None, *,
                    after: videos.FeedCursor | None = None, host_id: int | None = None,
                    limit: int = FEED_LIMIT) -> dict[str, Any]:
    """A page of a feed as JSON. The web edge composes the two: everyone's is `live`'s,
    the followed hosts' is `social`'s (it joins follows to live's videos; live may not
    import social). Following needs a signed-in viewer (`viewer`)."""
    svc = services(request)
    body: dict[str, Any] = {"feed": name}
    if name == FOLLOWING:
        if viewer is None:
            raise NotAuthenticated("sign in to see the videos of the hosts you follow",
                                   field="feed")
        page = await social_feed.following_videos(svc, viewer.id, limit=limit, after=after,
                                                  host_id=host_id)
        # An empty Following tab says why: no follows yet, or followed hosts without videos.
        body["follows_anyone"] = bool(page.videos) or await social_feed.follows_anyone(
            svc, viewer.id)
    else:
        page = await videos.ready_videos(svc, host_id=host_id, limit=limit, after=after)
    body["videos"] = [videos.video_view(v) for v in page.videos]
    body["next_cursor"] = page.next_cursor.encode() if page.next_cursor else None
    return body


@router.add("/api/videos", "GET", summary="A page of ready short videos and replays, newest "
            "first: `feed=for_you` (everyone's, the default) or `feed=following` (the hosts the "
            "signed-in viewer follows); the next page is `cursor=` the reply's `next_cursor` "
            "(null on the last page)", auth=False, errors=(401, 422),
            query={"feed": "string", "cursor": "string", "host_id": "integer"})
async def feed(request: Request) -> Response:
    name = feed_name(request)
    after = feed_cursor(request)
    host_id = query_id(request, "host_id")
    viewer = await resolve_principal(request) if name == FOLLOWING else None
    return JSON(await load_feed(request, name, viewer, after=after, host_id=host_id))
