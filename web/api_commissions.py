"""JSON API of the host commission ledger: statements (per broadcast, per month), balances and a
CSV export. A host sees their own entries; ops see every host's (and may filter by host).
Thin: parse the filters, call one read, reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.accounts import Role, owns_or_ops
from core.errors import PermissionDenied, ValidationError
from live.queries import get_room
from orders import commissions
from orders.schemas import CommissionBalancesOut, CommissionStatementOut
from web.api import ApiRouter
from web.api_analytics import csv_response
from web.auth import Principal, require_user
from web.edge import services
from web.responses import JSON
from web.validation import query_id

router = ApiRouter("commissions")

FILTERS = {"host_id": "integer", "room_id": "integer", "month": "string"}


@dataclass(frozen=True)
class StatementFilters:
    host_id: int | None
    room_id: int | None
    month: str | None

    def public(self) -> dict[str, Any]:
        return {"host_id": self.host_id, "room_id": self.room_id, "month": self.month}




async def statement_filters(request: Request, principal: Principal) -> StatementFilters:
    """The filters of a statement request, checked: a host may only read their own entries
    (their own host_id, their own rooms); ops may read anyone's."""
    host_id = query_id(request, "host_id")
    room_id = query_id(request, "room_id")
    month = request.query_params.get("month", "").strip() or None
    if month is not None:
        try:
            commissions.month_bounds(month)
        except ValueError:
            raise ValidationError([{"field": "month",
                                    "message": "use YYYY-MM, e.g. 2026-11"}]) from None
    if not principal.is_ops:
        if host_id is not None and host_id != principal.id:
            raise PermissionDenied("a host sees only their own commission statement",
                                   field="host_id")
        host_id = principal.id
        if room_id is not None:
            async with services(request).db.session() as session:
                room = await get_room(session, room_id)
            if not owns_or_ops(principal, room.host_id):
                raise PermissionDenied("not your broadcast", field="room_id")
    return StatementFilters(host_id, room_id, month)


async def load_statement(request: Request, filters: StatementFilters) -> commissions.Statement:
    async with services(request).db.session() as session:
        return await commissions.statement(session, host_id=filters.host_id,
                                           room_id=filters.room_id, month=filters.month)


@router.add("/api/commissions", "GET", summary="A commission statement: entries (newest first) "
            "and totals by status per currency. Hosts: their own; ops: everyone's, or one "
            "host's with host_id. Filter by broadcast (room_id) and month (YYYY-MM, UTC)",
            response=CommissionStatementOut, errors=(404, 422), query=FILTERS)
async def get_statement(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    filters = await statement_filters(request, principal)
    result = await load_statement(request, filters)
    return JSON({**filters.public(),
                 "totals": {c: t.public() for c, t in result.totals.items()},
                 "entries": result.entries},
                headers={"Cache-Control": "no-store"})


@router.add("/api/commissions/statement.csv", "GET", summary="The same statement as CSV, one "
            "row per entry", errors=(404, 422), query=FILTERS)
async def statement_csv(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    filters = await statement_filters(request, principal)
    result = await load_statement(request, filters)
    parts = ["commissions"]
    if filters.host_id is not None:
        parts.append(f"host-{filters.host_id}")
    if filters.room_id is not None:
        parts.append(f"broadcast-{filters.room_id}")
    if filters.month is not None:
        parts.append(filters.month)
    response = csv_response(commissions.STATEMENT_CSV_COLUMNS,
                            commissions.statement_csv_rows(result), "-".join(parts) + ".csv")
    response.headers["Cache-Control"] = "no-store"
    return response


@router.add("/api/commissions/balances", "GET", summary="All-time balances per currency: "
            "pending, frozen, settled, void, available to pay (sums of entries)",
            response=CommissionBalancesOut, errors=(422,), query={"host_id": "integer"})
async def get_balances(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    filters = await statement_filters(request, principal)
    async with services(request).db.session() as session:
        totals = await commissions.balances(session, filters.host_id)
    return JSON({"host_id": filters.host_id,
                 "balances": {c: t.public() for c, t in totals.items()}},
                headers={"Cache-Control": "no-store"})
