"""Video ingest: nginx-rtmp's callbacks (internal), and the host's stream key (docs/video.md).

nginx-rtmp posts a form (`call`, `app`, `name`, `clientid`, `addr`, …) and reads only the
status: 2xx accepts, 3xx with a `Location` renames the stream (the key becomes `room-{id}`),
anything else refuses the publisher (or drops it, for an update). The callbacks are not
public: with INGEST_CALLBACK_SECRET set they must carry it (`?secret=`), otherwise they are
taken from loopback only.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.accounts import Role
from core.errors import PermissionDenied, ValidationError
from core.settings import IngestSettings
from live import streams
from live.actions import room_with_key
from live.schemas import RoomWithKey
from web.api import ApiRouter
from web.auth import require_user
from web.edge import services
from web.responses import JSON
from web.validation import path_int, read_body

log = logging.getLogger(__name__)

router = ApiRouter("ingest")

# nginx-rtmp's callback forms are a few hundred bytes (the tcUrl and the page URL at most).
CALLBACK_MAX_BYTES = 4096
# The nginx application the encoders publish to (deploy/nginx/livesell-rtmp.conf.template).
INGEST_APPLICATION = "live"


def _ingest(request: Request) -> IngestSettings:
    ingest: IngestSettings = request.app.state.settings.ingest
    return ingest


def _check_caller(request: Request) -> None:
    secret = _ingest(request).callback_secret
    if secret:
        given = request.query_params.get("secret", "")
        if not hmac.compare_digest(given.encode(), secret.reveal().encode()):
            raise PermissionDenied("not nginx", code="not_ingest")
        return
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise PermissionDenied("ingest callbacks are taken from this machine only",
                               code="not_ingest")


async def _callback_form(request: Request, *calls: str) -> dict[str, str]:
    _check_caller(request)
    body = await read_body(request, CALLBACK_MAX_BYTES)
    try:
        parsed = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise ValidationError([{"field": "body", "message": "not a form"}]) from None
    form = {name: values[0] for name, values in parsed.items()}
    if form.get("call") == "update_play" and "update_play" in calls:
        # nginx's own push of an accepted stream to the HLS application (no app, no key).
        return form
    if form.get("call") not in calls:
        raise ValidationError([{"field": "call", "message": f"must be {' or '.join(calls)}"}])
    if form.get("app") != INGEST_APPLICATION:
        raise ValidationError([{"field": "app", "message": f"must be {INGEST_APPLICATION}"}])
    for name in ("name", "clientid"):
        if not form.get(name):
            raise ValidationError([{"field": name, "message": "is required"}])
    return form


async def on_publish(request: Request) -> Response:
    form = await _callback_form(request, "publish")
    ingest = _ingest(request)
    try:
        accepted = await streams.start_publish(
            services(request), form["name"], form["clientid"], form.get("addr", ""),
            update_seconds=ingest.update_seconds, grace_seconds=ingest.grace_seconds)
    except Exception as exc:
        log.info("ingest: publish refused from %s: %s", form.get("addr", "?"), exc)
        raise
    log.info("ingest: room %s publishing (stream %s)", accepted.room_id, accepted.stream_id)
    # nginx-rtmp takes a Location without a scheme as the stream's new name.
    return Response(status_code=302, headers={"Location": accepted.stream_name})


async def on_update(request: Request) -> Response:
    form = await _callback_form(request, "update_publish", "update_play")
    if form["call"] == "update_play":
        # Nothing to check: nobody else may play (`deny play all`).
        return JSON({"ok": True})
    room_id = await streams.stream_alive(services(request), form["name"], form["clientid"])
    return JSON({"room_id": room_id})


async def on_publish_done(request: Request) -> Response:
    form = await _callback_form(request, "publish_done")
    room_id = await streams.end_publish(services(request), form["name"], form["clientid"])
    log.info("ingest: room %s stream ended", room_id)
    return JSON({"room_id": room_id})


# Internal: not in /openapi.json (nginx is the only caller).
routes = [
    Route("/internal/ingest/on_publish", on_publish, methods=["POST"]),
    Route("/internal/ingest/on_update", on_update, methods=["POST"]),
    Route("/internal/ingest/on_publish_done", on_publish_done, methods=["POST"]),
]


@router.add("/api/rooms/{room_id:int}/stream-key", "POST",
            summary="Rotate the room's stream key (the old one stops working)",
            response=RoomWithKey, errors=(404, 409))
async def rotate_stream_key(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    room = await streams.rotate_stream_key(services(request), principal,
                                           path_int(request, "room_id"))
    return JSON({**room_with_key(room), "ingest_url": _ingest(request).rtmp_url})
