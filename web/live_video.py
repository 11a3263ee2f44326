"""What the live room page needs to play the room's stream (web/static/js/player.js)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.responses import Response

from core.settings import Settings
from live.streams import public_stream_name
from web.render import static_url


def room_video_boot(settings: Settings, room_id: int, on_air: bool) -> dict[str, Any]:
    """The room's HLS playlist (under its public id, never the key; none without ingest),
    whether it is on air as the page loads (the hello and `on_air` events take over), and
    where hls.js is."""
    hls_url = (f"{settings.ingest.hls_base_url}/{public_stream_name(room_id)}/index.m3u8"
               if settings.ingest.enabled else None)
    return {"hls_url": hls_url, "on_air": on_air, "hls_js": static_url("vendor/hls/hls.min.js")}


def allow_stream_origin(response: Response, settings: Settings) -> Response:
    """Let the page's scripts fetch the playlist and segments (hls.js uses fetch/XHR, which
    `connect-src 'self'` would refuse): the HLS origin, and only it, is added."""
    parts = urlsplit(settings.ingest.hls_base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    policy = response.headers.get("Content-Security-Policy", "")
    if policy and origin not in policy:
        response.headers["Content-Security-Policy"] = policy.replace(
            "connect-src 'self'", f"connect-src 'self' {origin}", 1)
    return response
