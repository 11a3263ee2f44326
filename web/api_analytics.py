"""JSON API of analytics: product card tracking from the live room page, broadcast lists,
reports, live numbers and CSV exports for hosts and ops. Thin: parse, call one action, reply.

The process's Recorder lives on `app.state.analytics_recorder`. `start(app)` / `stop(app)`
belong in the app's lifespan (stop flushes what is buffered); until they are wired the
recorder is started on first use and only its last second of events is at risk on shutdown.
The hub records viewers and chat through the same recorder.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from analytics import actions, queries
from analytics import videos as video_analytics
from analytics.recorder import VIEWER_COOKIE, Recorder, new_guest_cookie, viewer_key_for
from analytics.schemas import (
    BroadcastListOut,
    LiveNumbersOut,
    ReportOut,
    TrackIn,
    TrackOut,
    VideoListOut,
    VideoReportOut,
    VideoTrackIn,
)
from core.accounts import Role
from core.errors import PermissionDenied, ValidationError
from live.queries import get_room
from web.api import ApiRouter
from web.auth import origin_allowed, require_user, resolve_principal
from web.edge import services
from web.responses import JSON
from web.validation import M, parse_body, path_int, query_id

router = ApiRouter("analytics")

# A guest's viewer cookie lasts a year: long enough that a returning guest is one viewer.
VIEWER_COOKIE_MAX_AGE = 365 * 24 * 3600


async def start(app: Starlette) -> Recorder:
    recorder: Recorder | None = getattr(app.state, "analytics_recorder", None)
    if recorder is None:
        recorder = Recorder(app.state.services.db)
        app.state.analytics_recorder = recorder
    await recorder.start()
    return recorder


async def stop(app: Starlette) -> None:
    recorder: Recorder | None = getattr(app.state, "analytics_recorder", None)
    if recorder is not None:
        await recorder.stop()


async def recorder_of(app: Starlette) -> Recorder:
    recorder: Recorder | None = getattr(app.state, "analytics_recorder", None)
    if recorder is None:
        recorder = await start(app)
    return recorder


def connection_viewer_key(conn: HTTPConnection, user_id: int | None) -> str:
    """The viewer key of a page request or a websocket: for the hub's viewer_joined/left."""
    return viewer_key_for(user_id, conn.cookies.get(VIEWER_COOKIE))


def ensure_viewer_cookie(request: Request, response: Response) -> None:
    """Give a guest the viewer cookie when the live room page loads, so that their websocket
    (watch time) and their card clicks (funnel) count as one viewer. One line in the page
    handler: `ensure_viewer_cookie(request, response)`."""
    if viewer_key_for(None, request.cookies.get(VIEWER_COOKIE)).startswith("g:"):
        return
    _set_viewer_cookie(request, response, new_guest_cookie())


def _set_viewer_cookie(request: Request, response: Response, cookie: str) -> None:
    response.set_cookie(VIEWER_COOKIE, cookie, max_age=VIEWER_COOKIE_MAX_AGE,
                        httponly=True, samesite="lax",
                        secure=request.app.state.settings.session_cookie_secure)


@dataclass(frozen=True, slots=True)
class _Tracker:
    """Who a tracking request counts as: the signed-in user or the guest's cookie."""

    user_id: int | None
    viewer_key: str
    # A client that keeps no cookie gets a new key each time: it is limited by its address.
    rate_key: str | None
    # The guest cookie to give a client that sent none (its key is this cookie's).
    new_cookie: str | None

    def reply(self, request: Request) -> Response:
        response = JSON({"recorded": True}, status_code=202)
        if self.new_cookie is not None:
            _set_viewer_cookie(request, response, self.new_cookie)
        return response


def _refuse_cross_site(request: Request) -> None:
    # A cookie-carrying request must come from our own pages, so that another site cannot
    # inflate a room's clicks or a video's views with its visitors' browsers.
    if request.cookies and not origin_allowed(request, request.app.state.settings):
        raise PermissionDenied("cross-site request refused", code="bad_origin")


async def _tracker(request: Request) -> _Tracker:
    principal = await resolve_principal(request)
    user_id = principal.id if principal else None
    guest_cookie = request.cookies.get(VIEWER_COOKIE)
    new_cookie = None
    if principal is None and viewer_key_for(None, guest_cookie).startswith("c:"):
        new_cookie = guest_cookie = new_guest_cookie()
    rate_key = f"ip:{request.client.host if request.client else 'unknown'}" \
        if new_cookie is not None else None
    return _Tracker(user_id, viewer_key_for(user_id, guest_cookie), rate_key, new_cookie)


async def _tracking(request: Request, model: type[M]) -> tuple[M, _Tracker]:
    """A tracking request's body, and who it counts as; a cross-site one is refused before its
    body is read."""
    _refuse_cross_site(request)
    data = await parse_body(request, model)
    return data, await _tracker(request)


@router.add("/api/rooms/{room_id:int}/track", "POST", auth=False, status=202,
            summary="Record a product card view or click on the live room page (guests too)",
            body=TrackIn, response=TrackOut, errors=(403, 404, 409, 429))
async def track(request: Request) -> Response:
    room_id = path_int(request, "room_id")
    data, tracker = await _tracking(request, TrackIn)
    await actions.record_product_event(
        services(request), await recorder_of(request.app), room_id, tracker.viewer_key,
        tracker.user_id, data.event, data.product_id, rate_key=tracker.rate_key)
    return tracker.reply(request)


@router.add("/api/videos/{video_id:int}/track", "POST", auth=False, status=202,
            summary="Record an event of a short video's or a replay's page (guests too): "
                    "video_view, video_watch (seconds played, 1-60), product_click",
            body=VideoTrackIn, response=TrackOut, errors=(403, 404, 422, 429))
async def track_video(request: Request) -> Response:
    video_id = path_int(request, "video_id")
    data, tracker = await _tracking(request, VideoTrackIn)
    await video_analytics.record_video_event(
        services(request), await recorder_of(request.app), video_id, tracker.viewer_key,
        tracker.user_id, data.event, product_id=data.product_id, seconds=data.seconds,
        rate_key=tracker.rate_key)
    return tracker.reply(request)


@router.add("/api/ops/videos", "GET", summary="Ready short videos and replays, newest first, "
            "with their headline numbers (ops: all, filter by host; hosts: their own)",
            response=VideoListOut, query={"host_id": "integer"})
async def list_videos(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    host_id = query_id(request, "host_id") if principal.is_ops else principal.id
    async with services(request).db.session() as session:
        rows = await video_analytics.list_videos(session, host_id=host_id)
    return JSON({"videos": rows})


@router.add("/api/videos/{video_id:int}/report", "GET", response=VideoReportOut,
            summary="A short video's or a replay's numbers (its host, ops): views, unique "
                    "viewers, watch time, product clicks, attributed orders and GMV",
            errors=(403, 404))
async def video_report(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    return JSON(await video_analytics.video_report(services(request), principal,
                                                   path_int(request, "video_id")))


def _day(raw: str | None, field: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValidationError([{"field": field, "message": "must be a date, YYYY-MM-DD"}]) from None
    if day.year >= 9999:
        # The filter adds a day to `until`; datetime ends at 9999-12-31.
        raise ValidationError([{"field": field, "message": "must be before 9999"}])
    return day


def broadcast_filters(request: Request, principal_id: int, is_ops: bool) -> dict[str, Any]:
    """host_id, since and until (days, UTC, both included) from the query string. A host is
    always filtered to their own broadcasts."""
    params = request.query_params
    host_id = query_id(request, "host_id")
    if not is_ops:
        host_id = principal_id
    since = _day(params.get("since"), "since")
    until = _day(params.get("until"), "until")
    if since and until and until < since:
        raise ValidationError([{"field": "until", "message": "must not be before since"}])
    return {"host_id": host_id, "since": since,
            "until": until + timedelta(days=1) if until else None}


@router.add("/api/ops/broadcasts", "GET", summary="Broadcasts with their headline numbers "
            "(ops: all, filter by host; hosts: their own)", response=BroadcastListOut,
            query={"host_id": "integer", "since": "string", "until": "string"})
async def list_broadcasts(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    filters = broadcast_filters(request, principal.id, principal.is_ops)
    async with services(request).db.session() as session:
        rows = await queries.list_broadcasts(session, **filters)
    return JSON({"broadcasts": [row.public() for row in rows]})


@router.add("/api/ops/broadcasts/{room_id:int}/report", "GET", response=ReportOut,
            summary="One broadcast's report (numbers so far while it is live)", errors=(404,))
async def get_report(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    report = await actions.report_for(services(request), principal,
                                      path_int(request, "room_id"))
    return JSON(report)


@router.add("/api/ops/broadcasts/{room_id:int}/report", "POST", response=ReportOut,
            summary="Rebuild an ended broadcast's report now", errors=(404, 409))
async def rebuild_report(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    room_id = path_int(request, "room_id")
    async with services(request).db.session() as session:
        queries.check_can_read(principal, await get_room(session, room_id))
    return JSON(await actions.build_report(services(request), room_id))


@router.add("/api/ops/broadcasts/{room_id:int}/live", "GET", response=LiveNumbersOut,
            summary="A room's numbers so far, for the live data screen", errors=(404,))
async def live_numbers(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    numbers = await actions.live_numbers_for(services(request), principal,
                                             path_int(request, "room_id"))
    response = JSON(numbers)
    response.headers["Cache-Control"] = "no-store"
    return response


# CSV ------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    # Text from users (titles, names) must not run as a spreadsheet formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return value


def csv_response(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    buffer = io.StringIO()
    # A byte-order mark first: Excel reads a CSV without one in the machine's legacy code
    # page, which turns Chinese product names into mojibake.
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store"})


@router.add("/api/ops/broadcasts/{room_id:int}/orders.csv", "GET", errors=(404,),
            summary="CSV of a broadcast's orders, oldest first")
async def orders_csv(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    room_id = path_int(request, "room_id")
    async with services(request).db.session() as session:
        queries.check_can_read(principal, await get_room(session, room_id))
        orders = await queries.broadcast_orders(session, room_id)
    return csv_response(queries.ORDER_COLUMNS,
                        ([order[c] for c in queries.ORDER_COLUMNS] for order in orders),
                        f"broadcast-{room_id}-orders.csv")


REPORT_TABLES = ("summary", "products", "timeline")

PRODUCT_COLUMNS = ("product_id", "title", "views", "clicks", "clickers", "orders",
                   "paid_orders", "units_sold", "buyers", "gmv_minor", "refunded_minor",
                   "net_gmv_minor", "click_to_buy_rate", "pins", "pinned_seconds")
TIMELINE_COLUMNS = ("minute", "viewers", "new_viewers", "orders", "paid_orders", "gmv_minor",
                    "refunded_minor", "chat", "likes", "clicks", "pins")


def summary_rows(report: dict[str, Any]) -> list[tuple[str, Any]]:
    room = report["room"]
    rows: list[tuple[str, Any]] = [
        ("room_id", room["id"]), ("title", room["title"]), ("host_id", room["host_id"]),
        ("host_name", room["host_name"]), ("started_at", room["started_at"]),
        ("ended_at", room["ended_at"])]
    rows.extend(report["summary"].items())
    for step in report["funnel"]:
        rows.append((f"funnel_{step['step']}", step["count"]))
        rows.append((f"funnel_{step['step']}_rate", step["rate"]))
    for other in report["other_currencies"]:
        for name in ("orders", "paid_orders", "gmv_minor", "net_gmv_minor", "buyers"):
            rows.append((f"{other['currency']}_{name}", other[name]))
    return rows


@router.add("/api/ops/broadcasts/{room_id:int}/report.csv", "GET", errors=(404,),
            query={"table": "string"},
            summary="CSV of a broadcast's report: table=summary (metric,value; the default), "
                    "products or timeline")
async def report_csv(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    room_id = path_int(request, "room_id")
    table = request.query_params.get("table", "summary")
    if table not in REPORT_TABLES:
        raise ValidationError([{"field": "table",
                                "message": "must be summary, products or timeline"}])
    report = await actions.report_for(services(request), principal, room_id)
    filename = f"broadcast-{room_id}-{table}.csv"
    if table == "products":
        return csv_response(PRODUCT_COLUMNS, ([p[c] for c in PRODUCT_COLUMNS]
                                              for p in report["products"]), filename)
    if table == "timeline":
        return csv_response(TIMELINE_COLUMNS, ([m[c] for c in TIMELINE_COLUMNS]
                                               for m in report["timeline"]), filename)
    return csv_response(("metric", "value"), summary_rows(report), filename)
