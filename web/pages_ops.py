"""Pages for the numbers: the ops dashboard, one broadcast's report, one short video's or
replay's report, and the live data screen.

Ops see every broadcast; a host sees their own. Pages are server-rendered with their data in
the boot JSON; web/static/js/ops-*.js draw the charts (inline SVG, no library) and keeps the
live data screen fresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from analytics import actions, queries
from analytics import videos as video_analytics
from core.accounts import Role
from core.errors import DomainError, NotFound, PermissionDenied
from web.api_analytics import broadcast_filters
from web.auth import Principal
from web.edge import services
from web.locale import error_text
from web.pages import room_or_error
from web.render import error_page, page, page_principal
from web.validation import path_int


async def _reader(request: Request) -> Principal | Response:
    return await page_principal(request, (Role.HOST, Role.OPS), (
        "error.hosts_ops_only.title", "error.hosts_ops_only.message"))


async def dashboard(request: Request) -> Response:
    principal = await _reader(request)
    if isinstance(principal, Response):
        return principal
    params = request.query_params
    try:
        filters = broadcast_filters(request, principal.id, principal.is_ops)
    except DomainError as exc:
        return error_page(request, principal, 422, "error.check_filter.title",
                          error_text(request, exc))
    async with services(request).db.session() as session:
        rows = await queries.list_broadcasts(session, **filters)
        hosts = await queries.list_hosts(session) if principal.is_ops else []
        videos = await video_analytics.list_videos(session, host_id=filters["host_id"])
    broadcasts = [row.public() for row in rows]
    totals: dict[str, dict[str, int]] = {}
    for item in broadcasts:
        report = item["report"]
        if report and report["currency"]:
            total = totals.setdefault(report["currency"], {"gmv_minor": 0, "net_gmv_minor": 0,
                                                           "paid_orders": 0, "broadcasts": 0})
            total["gmv_minor"] += report["gmv_minor"]
            total["net_gmv_minor"] += report["net_gmv_minor"]
            total["paid_orders"] += report["paid_orders"]
            total["broadcasts"] += 1
    return page(request, "ops/dashboard.html", principal, broadcasts=broadcasts, hosts=hosts,
                totals=totals, videos=videos,
                selected={"host_id": params.get("host_id", ""), "since": params.get("since", ""),
                          "until": params.get("until", "")},
                boot={"broadcasts": broadcasts})


async def _report_page(request: Request, read: Callable[[Principal], Awaitable[dict[str, Any]]],
                       missing: str, not_yours: str, render: Callable[[Principal, dict[str, Any]],
                                                                       Response]) -> Response:
    """A report's page for its host and ops: `read` it as the reader, or say it is `missing`
    (404) or `not_yours` (403), by their catalog keys' prefixes (`.title`, `.message`)."""
    principal = await _reader(request)
    if isinstance(principal, Response):
        return principal
    try:
        report = await read(principal)
    except NotFound:
        return error_page(request, principal, 404, f"{missing}.title", f"{missing}.message")
    except PermissionDenied:
        return error_page(request, principal, 403, f"{not_yours}.title", f"{not_yours}.message")
    return render(principal, report)


async def broadcast_report(request: Request) -> Response:
    return await _report_page(
        request, lambda reader: actions.report_for(services(request), reader,
                                                   path_int(request, "room_id")),
        "error.no_broadcast", "error.not_your_broadcast",
        lambda reader, report: page(request, "ops/report.html", reader, report=report,
                                    summary=report["summary"],
                                    currency=report["summary"]["currency"],
                                    boot={"report": report}))


async def video_report(request: Request) -> Response:
    """A short video's or a replay's numbers (analytics/videos.py), for its host and ops."""
    return await _report_page(
        request, lambda reader: video_analytics.video_report(services(request), reader,
                                                             path_int(request, "video_id")),
        "error.no_ops_video", "error.not_your_video",
        lambda reader, report: page(request, "ops/video_report.html", reader, r=report))


async def live_data(request: Request) -> Response:
    principal = await _reader(request)
    if isinstance(principal, Response):
        return principal
    async with services(request).db.session() as session:
        room = await room_or_error(
            request, session, principal,
            owner_only="error.not_your_live_data.message")
        if isinstance(room, Response):
            return room
        numbers = await queries.live_numbers(session, room)
    return page(request, "ops/live.html", principal, room=room, numbers=numbers,
                boot={"room": room.public(), "numbers": numbers})


routes: list[BaseRoute] = [
    Route("/ops", dashboard, methods=["GET"], name="ops_dashboard"),
    Route("/ops/broadcasts/{room_id:int}", broadcast_report, methods=["GET"],
          name="ops_broadcast"),
    Route("/ops/videos/{video_id:int}", video_report, methods=["GET"], name="ops_video"),
    Route("/host/rooms/{room_id:int}/data", live_data, methods=["GET"], name="host_room_data"),
]
