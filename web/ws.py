"""The websocket edge: `GET /ws/rooms/{room_id}` (protocol in docs/realtime.md).

Authenticates (session cookie from one of our origins, `?token=`, or a guest),
then hands the socket to the process's realtime hub. Refusals are sent as
close codes after the accept, before any data: a close before the accept
reaches a browser as a bare 1006 and the page could not tell why.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
from collections.abc import Mapping
from functools import partial
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from core.context import Services
from core.security import read_token
from core.settings import Settings
from engagement.draws import KeywordListener
from engagement.presence import tracker_of
from live import actions as live_actions
from live.actions import rebuild_room_state
from live.errors import RoomNotFound
from live.models import Room
from orders.chat_buy import ChatBuyListener
from orders.regular import TermsOf
from realtime import protocol
from realtime.admission import ConnectGate, KnownRooms, valid_room_id
from realtime.backend import RedisBackend
from realtime.connection import DirectWriter
from realtime.greeting import NoSuchRoom
from realtime.hub import Hub, HubConfig, ObserverGroup
from web.api_analytics import connection_viewer_key, recorder_of
from web.auth import Principal, load_account, origin_allowed, principal_cache, resolve_principal


class AsgiSocket:
    """The hub's view of an accepted ASGI websocket, sending through the raw ASGI `send`
    (no per-frame state checks: the hub already knows the socket is open)."""

    __slots__ = ("_receive", "_send")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send

    async def send(self, frame: str) -> None:
        await self._send({"type": "websocket.send", "text": frame})

    async def receive(self) -> str | bytes | None:
        while True:
            message = await self._receive()
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                if text is not None:
                    return str(text)
                data = message.get("bytes")
                if data is not None:
                    return bytes(data)
            elif kind == "websocket.disconnect":
                return None

    async def close(self, code: int, reason: str = "") -> None:
        await self._send({"type": "websocket.close", "code": code, "reason": reason})


class CheckedTransport:
    """The hub's DirectWriter for a websocket that may be closing while its transport is
    still open (the legacy `websockets` protocol waits for the client's close frame with
    the transport open): `is_closing` also reads the websocket's state, so that no frame
    follows a close frame."""

    __slots__ = ("_open", "_state", "_transport")

    def __init__(self, transport: Any, state: Any) -> None:
        self._transport = transport
        self._state = state
        self._open = state.state  # OPEN now (checked by direct_writer); compared by identity

    def is_closing(self) -> bool:
        return self._state.state is not self._open or self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return int(self._transport.get_write_buffer_size())

    def write(self, data: bytes) -> None:
        self._transport.write(data)

    def abort(self) -> None:
        self._transport.abort()


def _looks_like_send(value: Any) -> bool:
    return callable(value) and (hasattr(value, "__self__")
                                or getattr(value, "__name__", "") in ("send", "sender"))


def _server_protocol(send: Send) -> Any:
    """uvicorn's websocket protocol object behind an ASGI `send`, or None.

    Starlette wraps `send` in a closure per connection; the bound method of
    uvicorn's protocol is one or two closure cells down.
    """
    candidate: Any = send
    for _ in range(4):
        owner = getattr(candidate, "__self__", None)
        if owner is not None and hasattr(owner, "transport"):
            return owner
        cells = getattr(candidate, "__closure__", None) or ()
        candidate = next((c.cell_contents for c in cells if _looks_like_send(c.cell_contents)),
                         None)
        if candidate is None:
            return None
    return None


def direct_writer(send: Send) -> tuple[DirectWriter | None, Send]:
    """A writer of pre-framed bytes straight to the connection's transport, and the
    unwrapped `send`, when the server is uvicorn and no extension was negotiated.

    Uvicorn would otherwise frame every message again for every viewer (and, with
    permessage-deflate, compress it again for every viewer). Anything else, or a
    uvicorn whose internals differ, gets the plain ASGI path.
    """
    owner = _server_protocol(send)
    if owner is None:
        return None, send
    state = getattr(owner, "conn", owner)  # websockets-sansio keeps it in .conn
    raw_send: Send = getattr(owner, "send" if state is not owner else "asgi_send", send)
    extensions = getattr(state, "extensions", None)
    transport = getattr(owner, "transport", None)
    if (extensions != [] or transport is None or not hasattr(transport, "get_write_buffer_size")
            or getattr(getattr(state, "state", None), "name", None) != "OPEN"):
        return None, raw_send
    if state is not owner and hasattr(owner, "close_sent"):
        # websockets-sansio: uvicorn closes the transport as it writes any close frame of
        # its own, and the one close it leaves open (the app's) the hub sends only after
        # it stopped writing to the connection. The transport's own state is then the
        # websocket's, and the fan-out calls the transport itself: no wrapper, no state
        # read per viewer per frame (a quarter of the fan-out's Python time).
        return transport, raw_send
    return CheckedTransport(transport, state), raw_send


async def _principal_from_token(websocket: WebSocket, token: str) -> Principal | None:
    """The `?token=` form for non-browser clients (a bearer token in the query)."""
    settings: Settings = websocket.app.state.settings
    parsed = read_token(settings.secret_key.reveal(), token)
    if parsed is None:
        return None
    user_id, version = parsed
    found, user = principal_cache.get(parsed)
    if not found:
        since = principal_cache.invalidations
        user = await load_account(websocket, user_id)
        principal_cache.put(parsed, user, since=since)
    if user is None or user.token_version != version:
        return None
    return Principal(user.id, user.display_name, user.role, via_cookie=False)


async def _refuse(websocket: WebSocket, code: int, reason: str = "", *,
                  error: str | None = None) -> None:
    """Accept, say why (an `error` event, when given), and close with `code`."""
    await websocket.accept()
    with contextlib.suppress(Exception):
        if error is not None:
            await websocket.send_text(error)
        await websocket.close(code, reason)


def _client_address(scope: Scope) -> str | None:
    """The address to count connection attempts by; None for the machine itself.

    uvicorn puts the client's address from X-Forwarded-For here when the proxy is
    trusted (FORWARDED_ALLOW_IPS). A loopback address left is a local proxy that does
    not pass it on, a health check or a test: one bucket for everyone behind such a
    proxy would shut the whole audience out, so it is not limited.
    """
    client = scope.get("client")
    if not client:
        return None
    host = str(client[0])
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a unix socket path or a name: count it as given
    return host


def _resume_offset(websocket: WebSocket, name: str = "offset") -> int | None:
    raw = websocket.query_params.get(name)
    if raw is None or not raw.isdigit() or len(raw) > 18:
        return None  # an offset we cannot use gets a fresh hello
    return int(raw)


class RoomSocket:
    """The ASGI endpoint; a class so that Starlette hands it the raw scope/receive/send."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        settings: Settings = websocket.app.state.settings
        room_id = int(scope["path_params"]["room_id"])
        # Cheap refusals first, before anything is read or kept for the room (admission.py).
        if not valid_room_id(room_id):
            # No room can have this id, and PostgreSQL would refuse to look it up.
            await _refuse(websocket, protocol.CLOSE_NO_SUCH_ROOM, "no such room",
                          error=protocol.error_frame("not_found", "no such room", "room_id"))
            return
        address = _client_address(scope)
        if address is not None:
            gate: ConnectGate = websocket.app.state.ws_gate
            retry_ms = await gate.admit(address)
            if retry_ms:
                await _refuse(websocket, protocol.CLOSE_TRY_AGAIN_LATER,
                              f"too many connections; retry in {-(-retry_ms // 1000)} s")
                return
        known_rooms: KnownRooms = websocket.app.state.known_rooms
        if not await known_rooms.exists(room_id):
            await _refuse(websocket, protocol.CLOSE_NO_SUCH_ROOM, "no such room")
            return
        token = websocket.query_params.get("token")
        if token:
            principal = await _principal_from_token(websocket, token)
            if principal is None:
                await _refuse(websocket, protocol.CLOSE_AUTH_REQUIRED)
                return
        else:
            principal = await resolve_principal(websocket)
            if principal is not None and principal.via_cookie and not origin_allowed(websocket, settings):
                await _refuse(websocket, protocol.CLOSE_BAD_ORIGIN)
                return
        hub: Hub = websocket.app.state.hub
        await websocket.accept()
        user: dict[str, Any] | None = dict(principal.public()) if principal else None
        direct, raw_send = direct_writer(send)
        try:
            await hub.serve(AsgiSocket(receive, raw_send), room_id, user, _resume_offset(websocket),
                            direct=direct, user_resume_from=_resume_offset(websocket, "user_offset"),
                            viewer_key=connection_viewer_key(websocket, user["id"] if user else None))
        except NoSuchRoom:
            with contextlib.suppress(Exception):
                await websocket.close(protocol.CLOSE_NO_SUCH_ROOM)


routes: list[BaseRoute] = [WebSocketRoute("/ws/rooms/{room_id:int}", RoomSocket())]


async def start(app: Starlette) -> None:
    services: Services = app.state.services
    settings: Settings = app.state.settings

    async def load_room(room_id: int) -> bool:
        try:
            await rebuild_room_state(services, room_id)
        except RoomNotFound:
            return False
        return True

    async def room_in_database(room_id: int) -> bool:
        async with services.db.session() as session:
            return await session.scalar(select(Room.id).where(Room.id == room_id)) is not None

    config = HubConfig.from_settings(settings)
    app.state.ws_gate = ConnectGate(services.redis, services.keys,
                                    limit=settings.hub.connects_per_address,
                                    window_ms=settings.hub.connects_window_ms)
    app.state.known_rooms = KnownRooms(services.redis, services.keys, room_in_database)
    # Redis pub/sub on the app's Redis, always: events are published there by a Lua script
    # (realtime/scripts/publish.lua), so no other backend would hear them.
    backend = RedisBackend(settings.redis_url,
                           idle_channel=services.keys("hub", "idle", secrets.token_hex(6)))
    # Joins, leaves, chat and likes go to the analytics recorder (batched; never waits).
    # Signed-in viewers' joins and leaves also go to engagement's presence tracker (in-room
    # draws), and accepted chat lines to the draw keyword listener.
    hub = Hub(backend, services.redis, services.keys, config, load_room,
              observer=ObserverGroup(await recorder_of(app), tracker_of(id(services))))
    hub.chat_listeners.append(KeywordListener(services))
    # And to comment-to-buy, which reads the room's switch from the hub's copy of the room.
    hub.chat_listeners.append(ChatBuyListener(services, partial(_room_of, hub), _terms_for))
    await hub.start()
    app.state.hub = hub


def _room_of(hub: Hub, room_id: int) -> Mapping[str, Any] | None:
    room = hub.rooms.get(room_id)
    return None if room is None else room.room


def _terms_for(room_id: int) -> TermsOf:
    return lambda session, product_ids: live_actions.regular_terms(session, room_id, product_ids)


async def stop(app: Starlette) -> None:
    hub: Hub | None = getattr(app.state, "hub", None)
    if hub is not None:
        await hub.stop()
        for listener in hub.chat_listeners:
            if isinstance(listener, KeywordListener):
                await listener.close()
        app.state.hub = None
