"""Pages for the numbers: the ops dashboard, one broadcast's report, and the live data screen.

Ops see every broadcast; a host sees their own. Pages are server-rendered with their data in
the boot JSON; web/static/ops/*.js draws the charts (inline SVG, no library) and keeps the
live data screen fresh.
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from analytics import actions, queries
from core.accounts import Role
from core.errors import DomainError, NotFound, PermissionDenied
from live.queries import get_room
from web.api_analytics import broadcast_filters
from web.auth import Principal, resolve_principal
from web.edge import services
from web.render import error_page, login_redirect, page, templates

# Minor units per major unit for currencies that do not use two decimals.
CURRENCY_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3,
                      "OMR": 3, "JOD": 3, "TND": 3}
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "\u20ac", "GBP": "\u00a3", "JPY": "\u00a5", "CNY": "\u00a5",
                    "INR": "\u20b9"}
# Shown where there is no number (an en dash).
NO_VALUE = "\u2013"


def money(minor: int | None, currency: str | None) -> str:
    """12345 USD -> "$123.45"; integer arithmetic, never a float."""
    if minor is None or currency is None:
        return NO_VALUE
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10 ** exponent)
    text = f"{whole:,}" + (f".{fraction:0{exponent}d}" if exponent else "")
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def percent(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value * 100:.1f}%"


def duration(seconds: int | None) -> str:
    if seconds is None:
        return NO_VALUE
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def when(value: str | datetime | None) -> str:
    if value is None:
        return NO_VALUE
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) \
        else value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# Prefixed: the environment is shared with web/pages.py's templates.
templates.env.filters["ops_money"] = money
templates.env.filters["ops_percent"] = percent
templates.env.filters["ops_duration"] = duration
templates.env.filters["ops_when"] = when


async def _reader(request: Request) -> Principal | Response:
    principal = await resolve_principal(request)
    if principal is None:
        return login_redirect(request)
    if principal.role not in (Role.HOST, Role.OPS):
        return error_page(request, principal, 403, "Hosts and ops only",
                          "Broadcast numbers are for the room's host and for ops.")
    return principal


async def dashboard(request: Request) -> Response:
    principal = await _reader(request)
    if isinstance(principal, Response):
        return principal
    params = request.query_params
    try:
        filters = broadcast_filters(request, principal.id, principal.is_ops)
    except DomainError as exc:
        return error_page(request, principal, 422, "Check the filter", exc.message)
    async with services(request).db.session() as session:
        rows = await queries.list_broadcasts(session, **filters)
        hosts = await queries.list_hosts(session) if principal.is_ops else []
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
                totals=totals,
                selected={"host_id": params.get("host_id", ""), "since": params.get("since", ""),
                          "until": params.get("until", "")},
                boot={"broadcasts": broadcasts})


async def broadcast_report(request: Request) -> Response:
    principal = await _reader(request)
    if isinstance(principal, Response):
        return principal
    room_id = int(request.path_params["room_id"])
    try:
        report = await actions.report_for(services(request), principal, room_id)
    except NotFound:
        return error_page(request, principal, 404, "No such broadcast",
                          "This room does not exist, or it was removed.")
    except PermissionDenied:
        return error_page(request, principal, 403, "Not your broadcast",
                          "Only the room's host and ops can read its numbers.")
    return page(request, "ops/report.html", principal, report=report,
                summary=report["summary"], currency=report["summary"]["currency"],
                boot={"report": report})


async def live_data(request: Request) -> Response:
    principal = await _reader(request)
    if isinstance(principal, Response):
        return principal
    room_id = int(request.path_params["room_id"])
    async with services(request).db.session() as session:
        try:
            room = await get_room(session, room_id)
            queries.check_can_read(principal, room)
        except NotFound:
            return error_page(request, principal, 404, "No such room",
                              "This room does not exist, or it was removed.")
        except PermissionDenied:
            return error_page(request, principal, 403, "Not your room",
                              "Only the room's host and ops can see its live numbers.")
        numbers = await queries.live_numbers(session, room)
    return page(request, "ops/live.html", principal, room=room, numbers=numbers,
                boot={"room": room.public(), "numbers": numbers})


routes: list[BaseRoute] = [
    Route("/ops", dashboard, methods=["GET"], name="ops_dashboard"),
    Route("/ops/broadcasts/{room_id:int}", broadcast_report, methods=["GET"],
          name="ops_broadcast"),
    Route("/host/rooms/{room_id:int}/data", live_data, methods=["GET"], name="host_room_data"),
]
