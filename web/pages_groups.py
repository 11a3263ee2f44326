"""A group buy's page, `/g/{code}`: the product, the group price, who has joined and the time
left, with Join (or Pay, for a member whose order awaits payment) and Share; it works for
anyone, in the room or not. `/groups/{id}` leads there (the payment page's way back)."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from live.models import Product
from orders import groups
from orders.group_errors import GroupNotFound
from orders.group_reconcile import MEMBER_STATUSES
from orders.models import Order
from orders.payments import get_provider
from orders.views import order_view
from web.auth import resolve_principal
from web.edge import services
from web.render import error_page, page
from web.validation import path_int


async def group_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    svc = services(request)
    try:
        group, deal = await groups.get_group(svc, code=request.path_params["code"])
    except GroupNotFound:
        return error_page(request, principal, 404, "error.no_group.title",
                          "error.no_group.message")
    view = await groups.group_view(svc, group, deal)
    async with svc.db.session() as session:
        product = await session.get(Product, deal.product_id)
        mine = None if principal is None else await session.scalar(
            select(Order).where(Order.group_id == group.id, Order.user_id == principal.id,
                                Order.status.in_(MEMBER_STATUSES)))
    my_order = None if mine is None else order_view(mine, get_provider(svc.settings))
    return page(request, "group.html", principal, boot={"group": view, "my_order": my_order},
                group=view, deal=deal, product=product)


async def group_by_id(request: Request) -> Response:
    principal = await resolve_principal(request)
    try:
        group, _ = await groups.get_group(services(request),
                                          group_id=path_int(request, "group_id"))
    except GroupNotFound:
        return error_page(request, principal, 404, "error.no_group.title",
                          "error.no_group.message")
    return RedirectResponse(groups.group_path(group), status_code=303)


routes: list[BaseRoute] = [
    Route("/g/{code}", group_page, methods=["GET"], name="group_page"),
    Route("/groups/{group_id:int}", group_by_id, methods=["GET"], name="group_by_id"),
]
