"""HTML pages: home, sign in / sign up, the host panel and the live room.

Pages are server-rendered shells (Jinja2) that carry their first data as one
JSON blob; the modules in web/static/js take it from there and keep the page
live over the room websocket. Viewing needs no login; the host panel does.
"""

from __future__ import annotations

import hashlib
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from core.accounts import Role, User
from core.context import Services
from core.errors import NotFound
from live import queries
from live.models import Room, RoomStatus
from web.api_analytics import ensure_viewer_cookie
from web.auth import Principal, resolve_principal
from web.validation import path_int

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)


@lru_cache(maxsize=256)
def _static_version(path: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(path: str) -> str:
    """A /static URL with a content hash, so a new deploy never runs a stale cached script."""
    return f"/static/{path}?v={_static_version(path)}"


def page_plugins(page: str) -> list[str]:
    """Extra modules for a page: web/static/js/plugins/<page>-*.js, in name order.

    Later work (flash sales on the room page and the host panel) adds its module
    there and the page loads it, with no template change; see livesell.* in room.js.
    """
    folder = STATIC_DIR / "js" / "plugins"
    return [static_url(f"js/plugins/{path.name}") for path in sorted(folder.glob(f"{page}-*.js"))]


templates.env.globals["static_url"] = static_url
templates.env.globals["page_plugins"] = page_plugins


def _services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


# Pages run only our own scripts and styles: even a markup bug could not run injected code.
# Media and images may come from any http(s) host (a CDN's stream, a product photo).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' https: http: data:",
    "media-src 'self' https: http: blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show who is logged in: never let a shared cache keep one user's page for another.
    "Cache-Control": "no-store",
}


def _page(request: Request, name: str, principal: Principal | None, *, status_code: int = 200,
          boot: dict[str, Any] | None = None, **context: Any) -> Response:
    settings = request.app.state.settings
    boot_data = {"me": principal.public() if principal else None,
                 "chat_max_length": settings.chat_max_length,
                 "chat_min_interval_ms": settings.chat_min_interval_ms, **(boot or {})}
    response = templates.TemplateResponse(
        request, name, {"me": principal, "boot": boot_data, **context}, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def _error_page(request: Request, principal: Principal | None, status_code: int, title: str,
                message: str) -> Response:
    return _page(request, "error.html", principal, status_code=status_code, status=status_code,
                 title=title, message=message)


def _login_redirect(request: Request) -> Response:
    target = request.url.path
    return RedirectResponse(f"/login?next={target}", status_code=303)


async def _host_names(request: Request, host_ids: set[int]) -> dict[int, str]:
    if not host_ids:
        return {}
    async with _services(request).db.session() as session:
        rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(host_ids)))
    return {user_id: name for user_id, name in rows}


def _room_card(room: Room, host_names: dict[int, str]) -> dict[str, Any]:
    return {**room.public(), "host_name": host_names.get(room.host_id, "")}


async def home(request: Request) -> Response:
    principal = await resolve_principal(request)
    async with _services(request).db.session() as session:
        live = await queries.list_rooms(session, status=RoomStatus.LIVE.value, limit=50)
        upcoming = await queries.list_rooms(session, status=RoomStatus.SCHEDULED.value, limit=50)
    # Soonest first; rooms without a time go last, newest first among them.
    upcoming.sort(key=lambda r: (r.scheduled_at is None, r.scheduled_at.timestamp()
                                 if r.scheduled_at else -r.id))
    names = await _host_names(request, {r.host_id for r in live + upcoming})
    return _page(request, "home.html", principal,
                 live=[_room_card(r, names) for r in live],
                 upcoming=[_room_card(r, names) for r in upcoming])


async def login_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    return _page(request, "auth.html", principal, mode="login",
                 next_url=safe_next(request.query_params.get("next")))


async def signup_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    return _page(request, "auth.html", principal, mode="signup",
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
    principal = await resolve_principal(request)
    if principal is None:
        return _login_redirect(request)
    if principal.role not in (Role.HOST, Role.OPS):
        return _error_page(request, principal, 403, "Hosts only",
                           "The host panel is for hosts. Sign up as a host to run your own shows.")
    async with _services(request).db.session() as session:
        rooms = await queries.list_rooms(session, host_id=principal.id, limit=100)
        products = await queries.list_products(session, principal.id)
    return _page(request, "host.html", principal,
                 boot={"rooms": [r.public() for r in rooms],
                       "products": [p.public() for p in products]})


async def host_room(request: Request) -> Response:
    principal = await resolve_principal(request)
    if principal is None:
        return _login_redirect(request)
    async with _services(request).db.session() as session:
        try:
            room_id = path_int(request, "room_id")
            room = await queries.get_room(session, room_id)
        except NotFound:
            return _error_page(request, principal, 404, "No such room",
                               "This room does not exist, or it was removed.")
        if room.host_id != principal.id and not principal.is_ops:
            return _error_page(request, principal, 403, "Not your room",
                               "Only the host of this room can manage it.")
        lineup = await queries.lineup(session, room_id)
        catalog = await queries.list_products(session, room.host_id)
    return _page(request, "host_room.html", principal, room=room,
                 boot={"room": room.public(), "stream_key": room.stream_key,
                       "lineup": [p.public() for p in lineup],
                       "catalog": [p.public() for p in catalog]})


async def room_page(request: Request) -> Response:
    principal = await resolve_principal(request)
    async with _services(request).db.session() as session:
        try:
            room_id = path_int(request, "room_id")
            room = await queries.get_room(session, room_id)
        except NotFound:
            return _error_page(request, principal, 404, "No such room",
                               "This room does not exist, or it was removed.")
        lineup = await queries.lineup(session, room_id)
    names = await _host_names(request, {room.host_id})
    pinned = next((p.public() for p in lineup if p.id == room.pinned_product_id), None)
    is_host = principal is not None and (principal.id == room.host_id or principal.is_ops)
    response = _page(request, "room.html", principal, room=room,
                     host_name=names.get(room.host_id, ""), is_host=is_host,
                     boot={"room": room.public(), "host_name": names.get(room.host_id, ""),
                           "lineup": [p.public() for p in lineup], "pin": pinned})
    # A guest's websocket (watch time) and card clicks (funnel) count as one viewer.
    ensure_viewer_cookie(request, response)
    return response


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET"], name="home"),
    Route("/login", login_page, methods=["GET"], name="login"),
    Route("/signup", signup_page, methods=["GET"], name="signup"),
    Route("/host", host_home, methods=["GET"], name="host"),
    Route("/host/rooms/{room_id:int}", host_room, methods=["GET"], name="host_room"),
    Route("/rooms/{room_id:int}", room_page, methods=["GET"], name="room"),
]
