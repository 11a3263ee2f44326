"""HTML pages: home, sign in / sign up, the host panel and the live room.

Pages are server-rendered shells (Jinja2) that carry their first data as one
JSON blob; the modules in web/static/js take it from there and keep the page
live over the room websocket. Viewing needs no login; the host panel does.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import unquote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from core.accounts import Role, User, owns_or_ops
from core.errors import NotFound
from live import queries
from live.models import Room, RoomStatus
from social import follows, reviews
from web.api_analytics import ensure_viewer_cookie
from web.auth import Principal, resolve_principal
from web.edge import services
from web.live_video import allow_stream_origin, room_video_boot
from web.pages_social import seller_boot
from web.render import error_page, page, page_principal
from web.validation import path_int


async def _host_names(request: Request, host_ids: set[int]) -> dict[int, str]:
    if not host_ids:
        return {}
    async with services(request).db.session() as session:
        rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(host_ids)))
    return {user_id: name for user_id, name in rows}


def _room_card(room: Room, host_names: dict[int, str]) -> dict[str, Any]:
    return {**room.public(), "host_name": host_names.get(room.host_id, "")}


def _soonest_first(rooms: list[Room]) -> None:
    # Soonest first; rooms without a time go last, newest first among them.
    rooms.sort(key=lambda r: (r.scheduled_at is None, r.scheduled_at.timestamp()
                              if r.scheduled_at else -r.id))


async def home(request: Request) -> Response:
    principal = await resolve_principal(request)
    followed_rooms: list[Room] = []
    async with services(request).db.session() as session:
        live = await queries.list_rooms(session, status=RoomStatus.LIVE.value, limit=50)
        upcoming = await queries.list_rooms(session, status=RoomStatus.SCHEDULED.value, limit=50)
        if principal is not None:
            # A signed-in viewer's hosts come first: their live rooms, then their upcoming ones.
            followed = await follows.followed_host_ids(session, principal.id)
            if followed:
                followed_rooms = list(await session.scalars(
                    select(Room).where(Room.host_id.in_(followed),
                                       Room.status.in_([RoomStatus.LIVE.value,
                                                        RoomStatus.SCHEDULED.value]))
                    .order_by(Room.id.desc()).limit(50)))
    _soonest_first(upcoming)
    mine = {r.id for r in followed_rooms}
    followed_live = [r for r in followed_rooms if r.status == RoomStatus.LIVE]
    followed_upcoming = [r for r in followed_rooms if r.status == RoomStatus.SCHEDULED]
    _soonest_first(followed_upcoming)
    live = [r for r in live if r.id not in mine]
    upcoming = [r for r in upcoming if r.id not in mine]
    names = await _host_names(request, {r.host_id for r in live + upcoming + followed_rooms})
    return page(request, "home.html", principal,
                following=[(_room_card(r, names), "live") for r in followed_live]
                + [(_room_card(r, names), "upcoming") for r in followed_upcoming],
                live=[_room_card(r, names) for r in live],
                upcoming=[_room_card(r, names) for r in upcoming])


async def login_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    return page(request, "auth.html", principal, mode="login",
                next_url=safe_next(request.query_params.get("next")))


async def signup_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    return page(request, "auth.html", principal, mode="signup",
                next_url=safe_next(request.query_params.get("next")))


# Longer than any page of ours; a cap keeps the page small whatever the link carries.
MAX_NEXT_LENGTH = 2000


def _unsafe_path(path: str) -> bool:
    # Browsers drop tabs and newlines from a URL and read `\` as `/`, so `/\t/evil.example`
    # and `/\\evil.example` both become `//evil.example`: another site.
    return (not path.startswith("/") or path.startswith("//") or "\\" in path
            or any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
                   for ch in path))


def safe_next(raw: str | None) -> str:
    """Where to go after signing in: only a path of this site (one leading `/`, no `//` or
    `/\\`, no control or blank characters, also once more percent-decoded), else `/`: a
    login link must not bounce the user to another site."""
    if not raw or len(raw) > MAX_NEXT_LENGTH or _unsafe_path(raw) or _unsafe_path(unquote(raw)):
        return "/"
    return raw


async def host_home(request: Request) -> Response:
    principal = await page_principal(request, (Role.HOST, Role.OPS), (
        "error.hosts_only.title", "error.hosts_only.message"))
    if isinstance(principal, Response):
        return principal
    if principal.role == Role.OPS:
        # Ops run no shows of their own: their home is the dashboard of everyone's.
        return RedirectResponse("/ops", status_code=303)
    async with services(request).db.session() as session:
        rooms = await queries.list_rooms(session, host_id=principal.id, limit=100)
        products = await queries.list_products(session, principal.id)
        seller = await seller_boot(services(request), session, principal.id, principal)
    host_reviews = await reviews.list_reviews(services(request), host_id=principal.id)
    return page(request, "host.html", principal, seller=seller, reviews=host_reviews,
                boot={"rooms": [r.public() for r in rooms],
                      "products": [p.public() for p in products]})


async def room_or_error(request: Request, session: AsyncSession, principal: Principal | None,
                        *, owner_only: str | None = None) -> Room | Response:
    """The room of the page's path (`room_id`), or the error page to answer with: 404 when
    there is no such room, and with `owner_only` (the refusal's catalog key) 403 for anyone but the
    room's host and ops."""
    try:
        room = await queries.get_room(session, path_int(request, "room_id"))
    except NotFound:
        return error_page(request, principal, 404, "error.no_room.title",
                          "error.no_room.message")
    if owner_only is not None and (principal is None or not owns_or_ops(principal, room.host_id)):
        return error_page(request, principal, 403, "error.not_your_room.title", owner_only)
    return room


async def host_room(request: Request) -> Response:
    principal = await page_principal(request)
    if isinstance(principal, Response):
        return principal
    async with services(request).db.session() as session:
        room = await room_or_error(request, session, principal,
                                   owner_only="error.not_your_room.message")
        if isinstance(room, Response):
            return room
        lineup = await queries.lineup(session, room.id)
        catalog = await queries.list_products(session, room.host_id)
        seller = await seller_boot(services(request), session, room.host_id, principal)
    return page(request, "host_room.html", principal, room=room, seller=seller,
                boot={"room": room.public(), "stream_key": room.stream_key,
                      "ingest_url": request.app.state.settings.ingest.rtmp_url,
                      "lineup": [p.public() for p in lineup],
                      "catalog": [p.public() for p in catalog]})


async def room_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    async with services(request).db.session() as session:
        room = await room_or_error(request, session, principal)
        if isinstance(room, Response):
            return room
        lineup = await queries.lineup(session, room.id)
        seller = await seller_boot(services(request), session, room.host_id, principal)
        reminding = (principal is not None and room.status == RoomStatus.SCHEDULED
                     and await follows.is_reminding(session, room.id, principal.id))
        on_air = await queries.on_air(session, room)
    names = await _host_names(request, {room.host_id})
    pinned = next((p.public() for p in lineup if p.id == room.pinned_product_id), None)
    is_host = principal is not None and owns_or_ops(principal, room.host_id)
    response = page(request, "room.html", principal, room=room,
                    host_name=names.get(room.host_id, ""), is_host=is_host, seller=seller,
                    reminding=reminding,
                    boot={"room": room.public(), "host_name": names.get(room.host_id, ""),
                          "seller": seller, "reminding": reminding,
                          "lineup": [p.public() for p in lineup], "pin": pinned,
                          "video": room_video_boot(request.app.state.settings, room.id, on_air)})
    allow_stream_origin(response, request.app.state.settings)
    # A guest's websocket (watch time) and card clicks (funnel) count as one viewer.
    ensure_viewer_cookie(request, response)
    return response


async def orders_page(request: Request) -> Response:
    """The buyer's orders (read through the API by orders.js) and their shipping address."""
    principal = await page_principal(request)
    if isinstance(principal, Response):
        return principal
    return page(request, "orders.html", principal, boot={})


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET"], name="home"),
    Route("/login", login_page, methods=["GET"], name="login"),
    Route("/signup", signup_page, methods=["GET"], name="signup"),
    Route("/host", host_home, methods=["GET"], name="host"),
    Route("/host/rooms/{room_id:int}", host_room, methods=["GET"], name="host_room"),
    Route("/rooms/{room_id:int}", room_page, methods=["GET"], name="room"),
    Route("/orders", orders_page, methods=["GET"], name="orders"),
]
