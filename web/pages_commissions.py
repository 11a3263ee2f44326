"""Commission statement pages: `/host/commissions` (a host's own) and `/ops/commissions` (every
host's, filterable by host). Server-rendered from the same reads as the JSON API, with the
statement's CSV one link away. Amounts and dates are formatted in the browser by
web/static/js/format.js (the one money and date formatter of the pages)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from core.accounts import Role
from core.errors import DomainError
from orders import commissions
from web.api_commissions import load_statement, statement_filters
from web.auth import Principal
from web.edge import services
from web.locale import error_text
from web.render import error_page, page, page_principal


async def _statement_page(request: Request, principal: Principal, *, ops_view: bool) -> Response:
    try:
        filters = await statement_filters(request, principal)
    except DomainError as exc:
        return error_page(request, principal, exc.status_code, "error.check_filter.title",
                          error_text(request, exc))
    result = await load_statement(request, filters)
    async with services(request).db.session() as session:
        rooms = await commissions.statement_rooms(session, None if ops_view else principal.id)
        hosts = await commissions.statement_hosts(session) if ops_view else []
    query = urlencode({k: v for k, v in filters.public().items()
                       if v is not None and not (k == "host_id" and not ops_view)})
    return page(request, "commissions/statement.html", principal,
                ops_view=ops_view, filters=filters, result=result, rooms=rooms, hosts=hosts,
                csv_url="/api/commissions/statement.csv" + (f"?{query}" if query else ""),
                action=request.url.path,
                window_days=services(request).settings.commission_return_window_days)


async def host_commissions(request: Request) -> Response:
    principal = await page_principal(request)
    if isinstance(principal, Response):
        return principal
    if principal.is_ops:
        return RedirectResponse("/ops/commissions", status_code=303)
    if principal.role != Role.HOST:
        return error_page(request, principal, 403, "error.hosts_only.title",
                          "error.host_commissions_only.message")
    return await _statement_page(request, principal, ops_view=False)


async def ops_commissions(request: Request) -> Response:
    principal = await page_principal(request)
    if isinstance(principal, Response):
        return principal
    if principal.role == Role.HOST:
        return RedirectResponse("/host/commissions", status_code=303)
    if not principal.is_ops:
        return error_page(request, principal, 403, "error.ops_only.title",
                          "error.ops_only.message")
    return await _statement_page(request, principal, ops_view=True)


routes: list[BaseRoute] = [
    Route("/host/commissions", host_commissions, methods=["GET"], name="host_commissions"),
    Route("/ops/commissions", ops_commissions, methods=["GET"], name="ops_commissions"),
]
