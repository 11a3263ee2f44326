"""Connecting to a room websocket: unknown rooms and floods are refused cheaply.

Against `livesell serve` (the live_server fixture).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from core.context import Services
from tests.conftest import LiveServer, MakeUser, start_server
from tests.infra import TestInfra, stop_process


@contextlib.asynccontextmanager
async def _opened(server: LiveServer, room_id: int | str,
                  **options: Any) -> AsyncIterator[ClientConnection]:
    """A websocket to the room's path, closed at the end."""
    ws = await connect(f"{server.ws_url}/ws/rooms/{room_id}", open_timeout=10,
                       compression=None, **options)
    try:
        yield ws
    finally:
        await ws.close()


async def _close_code(ws: ClientConnection) -> tuple[int, str]:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return closed.rcvd.code, closed.rcvd.reason


async def _first_frame_or_close(ws: ClientConnection) -> str | int:
    """The first frame's type ("hello"), or the close code when refused."""
    try:
        raw = await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code
    return "hello" if '"type":"hello"' in str(raw) else str(raw)[:40]


async def _room_keys(services: Services, room_id: int) -> list[bytes]:
    return [key async for key in services.redis.scan_iter(
        match=services.keys.room(room_id) + "*", count=1000)]


@pytest.mark.redis6
async def test_an_unknown_room_is_refused_without_leaving_keys(
        live_server: LiveServer, services: Services) -> None:
    for room_id in (987_654, 987_655):
        # when a client connects to a room that does not exist (twice: the second is cached)
        for _ in range(2):
            async with _opened(live_server, room_id) as ws:
                code, reason = await _close_code(ws)

            # then it is closed with 4404 before any data
            assert code == 4404 and reason == "no such room"

        # and nothing of the room was left in Redis (no state, presence or history keys)
        assert await _room_keys(services, room_id) == []


async def test_room_ids_beyond_the_bigint_range_are_refused_cleanly(
        live_server: LiveServer) -> None:
    for room_id in (2**63, 2**64 + 5, "0", "9" * 40):
        async with _opened(live_server, room_id) as ws:
            assert await _close_code(ws) == (4404, "no such room")


async def test_a_known_room_is_still_served(make_user: MakeUser, make_room,
                                            live_server: LiveServer) -> None:
    host = await make_user("host")
    room = await make_room(host)
    async with _opened(live_server, room["id"]) as ws:
        assert await _first_frame_or_close(ws) == "hello"


@pytest.mark.redis6
async def test_connection_attempts_are_limited_per_client_address(
        infra: TestInfra, services: Services, make_user: MakeUser, make_room) -> None:
    # given a server allowing 3 attempts per address per minute, behind a trusted proxy
    # (uvicorn takes the client's address from X-Forwarded-For when it comes from 127.0.0.1)
    server = start_server(infra, {"HUB_CONNECTS_PER_ADDRESS": "3",
                                  "HUB_CONNECTS_WINDOW_MS": "60000"})
    try:
        host = await make_user("host")
        room = await make_room(host)

        async def attempt(address: str | None, room_id: int = room["id"]) -> str | int:
            headers = {"X-Forwarded-For": address} if address else {}
            async with _opened(server, room_id, additional_headers=headers) as ws:
                return await _first_frame_or_close(ws)

        # when one address tries more often than that (unknown rooms count too)
        first = [await attempt("203.0.113.7") for _ in range(2)]
        unknown = await attempt("203.0.113.7", room_id=987_656)
        over = await attempt("203.0.113.7")

        # then the attempts past the limit are closed with 1013 (try again later)
        assert first == ["hello", "hello"] and unknown == 4404
        assert over == 1013
        # while another address, and the machine itself, are served
        assert await attempt("198.51.100.4") == "hello"
        assert await attempt(None) == "hello"
        # and the counter goes away by itself (a TTL, set on Redis 6.2 as on 7)
        counter = services.keys("ws", "connects", "203.0.113.7")
        ttl = await services.redis.pttl(counter)
        assert 0 < ttl <= 60_000
    finally:
        _stop(server)


def _stop(server: LiveServer) -> None:
    """Stop the server and reap it, however long its shutdown takes (a killed process that
    is never waited for warns when its Popen is collected)."""
    stop_process(server.process, timeout=30)
