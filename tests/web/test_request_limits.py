"""Oversize requests are refused before they are read: HTTP bodies and websocket messages.

Against `livesell serve` (the live_server fixture), so uvicorn's own options count too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from orders.payments.sandbox import WEBHOOK_PATH
from realtime.protocol import WS_MAX_MESSAGE_BYTES
from tests.conftest import LiveServer, MakeUser
from web.validation import MAX_BODY_BYTES


async def _raw_request(server: LiveServer, head: bytes, body_parts: list[bytes]) -> tuple[int, Any]:
    """Send `head` and the body parts over a plain socket; the status and JSON of the reply.

    The reply must come although the body is not (all) sent: a server that waits for the
    rest of a body it was told is 64 MiB times out here.
    """
    address = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(head)
        for part in body_parts:
            writer.write(part)
            try:
                await writer.drain()
            except ConnectionError:
                break  # the server answered and closed before taking it all: what we want
        raw_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status = int(raw_head.split(b" ", 2)[1])
        headers = dict(line.split(b": ", 1) for line in raw_head.split(b"\r\n")[1:] if b": " in line)
        length = int(headers[b"content-length"])
        body = await asyncio.wait_for(reader.readexactly(length), 10)
        return status, orjson.loads(body)
    finally:
        writer.close()


def _head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_a_body_declared_larger_than_the_limit_is_refused_before_it_is_read(
        live_server: LiveServer) -> None:
    # when a login claims a 64 MiB body and sends two bytes of it
    status, body = await _raw_request(
        live_server, _head("/api/auth/login", {"Content-Length": str(64 * 1024 * 1024)}), [b"{}"])

    # then it is refused at once with the JSON error format
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["field"] == "body"
    assert str(MAX_BODY_BYTES) in body["error"]["message"]


async def test_a_webhook_body_declared_larger_than_the_limit_is_refused(
        live_server: LiveServer) -> None:
    status, body = await _raw_request(
        live_server, _head(WEBHOOK_PATH, {"Content-Length": str(64 * 1024 * 1024)}), [b"{}"])

    assert status == 413 and body["error"]["code"] == "payload_too_large"


async def test_a_chunked_body_is_read_only_up_to_the_limit(live_server: LiveServer) -> None:
    # when a sign-up streams a body without a length, four times larger than the limit
    chunk = b"x" * 16 * 1024
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_BODY_BYTES * 4 // len(chunk))]
    status, body = await _raw_request(
        live_server, _head("/api/auth/signup", {"Transfer-Encoding": "chunked"}),
        [*parts, b"0\r\n\r\n"])

    # then it is refused with 413 once past the limit
    assert status == 413 and body["error"]["code"] == "payload_too_large"


async def test_a_body_within_the_limit_is_still_read(live_server: LiveServer) -> None:
    payload = orjson.dumps({"email": "nobody@example.com", "password": "x" * 1000})
    status, body = await _raw_request(
        live_server, _head("/api/auth/login", {"Content-Length": str(len(payload))}), [payload])

    assert status in (401, 422), body
    assert body["error"]["code"] != "payload_too_large"


# Websocket messages ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _greeted(server: LiveServer, make_user: MakeUser,
                   make_room: Any) -> AsyncIterator[ClientConnection]:
    """A websocket of a new host's live room, past its hello; closed at the end."""
    room = await make_room(await make_user("host"), live=True)
    ws = await connect(f"{server.ws_url}/ws/rooms/{room['id']}", open_timeout=10,
                       compression=None)
    try:
        await _next(ws, "hello")
        yield ws
    finally:
        await ws.close()


async def _next(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        events = frame["data"]["events"] if frame["type"] == "batch" else [frame]
        for event in events:
            if event["type"] == kind:
                return dict(event)


async def _close_code(ws: ClientConnection) -> int:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return closed.rcvd.code


async def test_a_frame_over_the_protocol_limit_gets_an_error_and_the_socket_stays(
        make_user: MakeUser, make_room, live_server: LiveServer) -> None:
    async with _greeted(live_server, make_user, make_room) as ws:
        # when a frame larger than any chat line, but under what the server reads, is sent
        await ws.send(orjson.dumps({"type": "chat", "text": "x" * 8 * 1024}).decode())

        # then it is answered with an error event, and the connection goes on
        error = await _next(ws, "error")
        assert error["data"]["code"] == "too_large"
        await ws.send('{"type":"ping"}')
        assert (await _next(ws, "pong"))["type"] == "pong"


async def test_a_frame_over_the_server_limit_is_not_read(
        make_user: MakeUser, make_room, live_server: LiveServer) -> None:
    async with _greeted(live_server, make_user, make_room) as ws:
        # when a message larger than the server's websocket limit is sent
        await ws.send("x" * (WS_MAX_MESSAGE_BYTES * 4))

        # then the server closes with 1009 (message too big) instead of reading it
        assert await _close_code(ws) == 1009
