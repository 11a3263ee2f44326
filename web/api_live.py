"""JSON API for products, rooms, the lineup, pins and moderation. Thin: parse, call one action, reply."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response

from core.accounts import Role, owns_or_ops
from core.errors import Conflict, PermissionDenied, ValidationError
from live import actions, queries
from live.models import Product, RoomStatus
from live.schemas import (
    LineupIn,
    LineupOut,
    MuteIn,
    PinIn,
    ProductIn,
    ProductOut,
    ProductPatch,
    RoomEventsOut,
    RoomIn,
    RoomOut,
    RoomPatch,
    RoomWithKey,
    StatusIn,
)
from orders import queries as order_queries
from web.api import ApiRouter
from web.auth import require_user, resolve_principal
from web.edge import services
from web.responses import JSON
from web.validation import parse_body, path_int, query_id

router = ApiRouter("live")


@router.add("/api/products", "GET", summary="The logged-in host's catalog")
async def list_products(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    async with services(request).db.session() as session:
        products = await queries.list_products(session, principal.id)
    return JSON({"products": [actions.product_for_owner(p) for p in products]})


@router.add("/api/products", "POST", summary="Add a product to the host's catalog",
            body=ProductIn, response=ProductOut, status=201)
async def create_product(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, ProductIn)
    product = await actions.create_product(services(request), principal, data)
    return JSON(actions.product_for_owner(product), status_code=201)


@router.add("/api/products/{product_id:int}", "PATCH", summary="Change a product (a `stock` "
            "is its default variant's: product_has_options, stock_below_committed (409))",
            body=ProductPatch, response=ProductOut, errors=(404, 409))
async def update_product(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, ProductPatch)
    product = await actions.update_product(services(request), principal,
                                           path_int(request, "product_id"), data)
    return JSON(actions.product_for_owner(product))


@router.add("/api/rooms", "GET", summary="Rooms, newest first", auth=False,
            query={"host_id": "integer", "status": "string"})
async def list_rooms(request: Request) -> Response:
    host_id = query_id(request, "host_id")
    status = request.query_params.get("status")
    if status is not None and status not in ("scheduled", "live", "ended"):
        raise ValidationError([{"field": "status", "message": "must be scheduled, live or ended"}])
    async with services(request).db.session() as session:
        rooms = await queries.list_rooms(session, host_id=host_id,
                                         status=status)
    return JSON({"rooms": [r.public() for r in rooms]})


@router.add("/api/rooms", "POST", summary="Create a room", body=RoomIn, response=RoomWithKey,
            status=201)
async def create_room(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, RoomIn)
    room = await actions.create_room(services(request), principal, data)
    return JSON(actions.room_with_key(room), status_code=201)


@router.add("/api/rooms/{room_id:int}", "GET", summary="A room with its lineup", auth=False,
            response=RoomOut, errors=(404,))
async def get_room(request: Request) -> Response:
    room_id = path_int(request, "room_id")
    async with services(request).db.session() as session:
        room = await queries.get_room(session, room_id)
        products = await queries.lineup(session, room_id)
    principal = await resolve_principal(request)
    body = room.public()
    if principal is not None and owns_or_ops(principal, room.host_id):
        body = actions.room_with_key(room)
    body["lineup"] = [p.public() for p in products]
    return JSON(body)


@router.add("/api/rooms/{room_id:int}", "PATCH", summary="Change a room (title, schedule, "
            "playback URL, slow mode, comment-to-buy)", body=RoomPatch, response=RoomOut, errors=(404, 409))
async def update_room(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, RoomPatch)
    room = await actions.update_room(services(request), principal, path_int(request, "room_id"), data)
    return JSON(actions.room_with_key(room))


@router.add("/api/rooms/{room_id:int}/status", "POST", summary="Go live or end the room",
            body=StatusIn, response=RoomOut, errors=(404, 409))
async def change_status(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, StatusIn)
    svc = services(request)
    room_id = path_int(request, "room_id")
    target = actions.parse_status(data.status)
    if target == RoomStatus.ENDED and not data.end_running_sale:
        # A guardrail, not a lock: the host is asked before a sale is cut short. A sale that
        # starts between this read and the end stops with the room, as it always has.
        async with svc.db.session() as session:
            room = await queries.get_room(session, room_id)
            running = (await order_queries.open_sale(session, room_id)
                       if owns_or_ops(principal, room.host_id) else None)
        if running is not None:
            raise Conflict("A flash sale is still on in this room; ending the show stops it.",
                           field="end_running_sale", code="sale_running",
                           extra={"sale_id": running.id})
    # An ended room's broadcast report is sent by the `RoomEnded` handler after the commit.
    room = await actions.change_status(svc, principal, room_id, target)
    return JSON(room.public())


def _lineup_reply(room_id: int, products: Iterable[Product]) -> Response:
    return JSON({"room_id": room_id, "products": [p.public() for p in products]})


@router.add("/api/rooms/{room_id:int}/lineup", "GET", summary="The room's lineup, in order",
            auth=False, response=LineupOut, errors=(404,))
async def get_lineup(request: Request) -> Response:
    room_id = path_int(request, "room_id")
    async with services(request).db.session() as session:
        await queries.get_room(session, room_id)
        products = await queries.lineup(session, room_id)
    return _lineup_reply(room_id, products)


@router.add("/api/rooms/{room_id:int}/lineup", "PUT", summary="Replace the room's lineup",
            body=LineupIn, response=LineupOut, errors=(404, 409))
async def set_lineup(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, LineupIn)
    room_id = path_int(request, "room_id")
    products = await actions.set_lineup(services(request), principal, room_id, data.product_ids)
    return _lineup_reply(room_id, products)


@router.add("/api/rooms/{room_id:int}/pin", "POST", summary="Pin a product of the lineup",
            body=PinIn, response=ProductOut, errors=(404, 409))
async def pin(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, PinIn)
    product = await actions.pin_product(services(request), principal, path_int(request, "room_id"),
                                        data.product_id)
    return JSON(product.public())


@router.add("/api/rooms/{room_id:int}/pin", "DELETE", summary="Unpin", errors=(404,))
async def unpin(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    await actions.unpin_product(services(request), principal, path_int(request, "room_id"))
    return JSON({"ok": True})


@router.add("/api/rooms/{room_id:int}/mutes", "POST", summary="Mute a user in the room's chat",
            body=MuteIn, errors=(404,))
async def mute(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    data = await parse_body(request, MuteIn)
    until = await actions.mute_user(services(request), principal, path_int(request, "room_id"),
                                    data.user_id, data.minutes)
    return JSON({"user_id": data.user_id, "until": until})


@router.add("/api/rooms/{room_id:int}/mutes/{user_id:int}", "DELETE", summary="Unmute a user",
            errors=(404,))
async def unmute(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    await actions.unmute_user(services(request), principal, path_int(request, "room_id"),
                              path_int(request, "user_id"))
    return JSON({"ok": True})


@router.add("/api/rooms/{room_id:int}/chat/{message_id}", "DELETE",
            summary="Delete a chat message", errors=(404,))
async def delete_message(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    await actions.delete_chat_message(services(request), principal, path_int(request, "room_id"),
                                      str(request.path_params["message_id"]))
    return JSON({"ok": True})


@router.add("/api/rooms/{room_id:int}/events", "GET", summary="The room's event log (host, ops)",
            response=RoomEventsOut, errors=(404,))
async def room_events(request: Request) -> Response:
    principal = await require_user(request, Role.HOST)
    room_id = path_int(request, "room_id")
    async with services(request).db.session() as session:
        room = await queries.get_room(session, room_id)
        if not owns_or_ops(principal, room.host_id):
            raise PermissionDenied("only the room's host can read its event log",
                                   code="not_room_host")
        events = await queries.room_events(session, room_id)
    return JSON({"events": [{"id": e.id, "type": e.type, "actor_id": e.actor_id, "data": e.data,
                             "created_at": e.created_at.isoformat()} for e in events]})
