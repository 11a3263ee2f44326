"""JSON API for group buys (拼团): the host offers a deal on a lineup product, buyers open a
group or join one (each committed before the reply, with the buyer's order to pay), anyone
reads a group's exact progress. Thin: parse, call one action, reply. The rules: docs/social.md,
"Group buys"."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from core.accounts import Role
from core.context import Services
from orders import group_reconcile, groups
from orders.group_errors import NotDealHost
from orders.group_schemas import (
    GroupDealIn,
    GroupDealOut,
    GroupJoinIn,
    GroupJoinOut,
    GroupOut,
    GroupsOut,
)
from web.api import ApiRouter
from web.api_orders import stock_for_sale
from web.auth import require_user
from web.edge import host_owned, services
from web.responses import JSON
from web.validation import parse_body, path_int, query_id

router = ApiRouter("groups")

JOIN_ERRORS = (403, 404, 409, 410, 422)


class Join(Protocol):
    """`groups.open_group` (of a deal) or `groups.join_group` (of a group)."""

    def __call__(self, svc: Services, user_id: int, target_id: int, /, *,
                 coupon_claim_id: int | None = None) -> Awaitable[groups.Joined]: ...


async def _join_body(request: Request) -> GroupJoinIn:
    """An open's or a join's body: optional (no body, no coupon)."""
    if not await request.body():
        return GroupJoinIn()
    return await parse_body(request, GroupJoinIn)


async def _joined(request: Request, join: Join, id_name: str) -> Response:
    """An open's or a join's endpoint: the signed-in buyer takes a slot of the path's deal or
    group (`id_name`), naming a coupon claim or not, and is answered with their order."""
    principal = await require_user(request)
    data = await _join_body(request)
    svc = services(request)
    joined = await join(svc, principal.id, path_int(request, id_name),
                        coupon_claim_id=data.coupon_claim_id)
    return JSON(await groups.joined_reply(svc, joined), status_code=201)


@router.add("/api/rooms/{room_id:int}/group-deals", "POST", summary="Offer a group deal on a "
            "lineup product: group price, group size (2-10), how long a group stays open, and "
            "the units it may use (taken from the product's stock now, as a flash sale's "
            "quantity is). Errors: not_in_lineup, invalid (422), not_enough_stock (409)",
            body=GroupDealIn, response=GroupDealOut, status=201, errors=(403, 404, 409, 422))
async def create_deal(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, GroupDealIn)
    svc = services(request)
    room_id = path_int(request, "room_id")
    deal = await groups.create_deal(svc, principal, room_id, data, stock_for_sale(
        principal, room_id, data.product_id, data.units, price_minor=data.price_minor,
        above_regular_confirmed=data.confirm_above_regular))
    return JSON(await groups.deal_view(svc, deal), status_code=201)


@router.add("/api/rooms/{room_id:int}/groups", "GET", summary="The room's open group deals "
            "(optionally of one product: ?product_id=) and their open groups, with exact "
            "progress and the server's clock", auth=False, response=GroupsOut)
async def room_groups(request: Request) -> Response:
    return JSON(await groups.room_groups(services(request), path_int(request, "room_id"),
                                         query_id(request, "product_id")))


@router.add("/api/group-deals/{deal_id:int}/end", "POST", summary="End a group deal: no new "
            "group opens; open groups run to their deadline, then unsold units go back to the "
            "product. Errors: not_deal_host (403), deal_ended (409)", response=GroupDealOut,
            errors=(403, 404, 409))
async def end_deal(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    svc = services(request)
    deal = await groups.end_deal(svc, principal, path_int(request, "deal_id"))
    return JSON(await groups.deal_view(svc, deal))


@router.add("/api/group-deals/{deal_id:int}/groups", "POST", summary="Open a group of the "
            "deal: its units are set aside, your slot is held and your order awaits payment "
            "(committed before the reply); a live-room coupon claim of the room may be named. "
            "Errors: deal_sold_out, deal_ended (409), host_cannot_join (403), coupon refusals",
            body=GroupJoinIn, response=GroupJoinOut, status=201, errors=JOIN_ERRORS)
async def open_group(request: Request) -> Response:
    return await _joined(request, groups.open_group, "deal_id")


@router.add("/api/groups/{group_id:int}/join", "POST", summary="Join an open group: a slot is "
            "held for you while you pay (your order, committed before the reply); it frees if "
            "the order expires unpaid. Errors: group_full, group_failed, already_in_group "
            "(409, with your order_id), group_expired (410), host_cannot_join (403), coupon "
            "refusals", body=GroupJoinIn, response=GroupJoinOut, status=201, errors=JOIN_ERRORS)
async def join_group(request: Request) -> Response:
    return await _joined(request, groups.join_group, "group_id")


@router.add("/api/groups/{group_id:int}", "GET", summary="A group with its exact progress: "
            "members (display names) and whether each paid, slots taken, the deadline and the "
            "server's clock", auth=False, response=GroupOut, errors=(404,))
async def get_group(request: Request) -> Response:
    svc = services(request)
    group, deal = await groups.get_group(svc, group_id=path_int(request, "group_id"))
    return JSON(await groups.group_view(svc, group, deal))


@router.add("/api/group-deals/{deal_id:int}/rebuild", "POST", summary="Rebuild the deal's "
            "Redis counters and groups' slots from PostgreSQL (the host, ops)",
            response=GroupDealOut, errors=(403, 404))
async def rebuild(request: Request) -> Response:
    svc, deal = await host_owned(request, "deal_id", groups.get_deal, NotDealHost(
        "only the deal's host can do this", field="deal_id"))
    await group_reconcile.rebuild_deal(svc, deal.id)
    return JSON(await groups.deal_view(svc, deal))
