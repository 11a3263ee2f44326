"""Websocket clients for the hub tests: a `Viewer` that records frames and waits for them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import LiveServer, TestUser, stop_server
from tests.infra import ROOT, TestInfra
from tests.orders.conftest import make_sale  # noqa: F401  (shared factory fixture)
from web.embedded import free_port, port_open


def start_hub_server(infra: TestInfra, extra_env: dict[str, str] | None = None, *,
                     ws: str = "websockets-sansio") -> LiveServer:
    """tests.conftest.start_server, but closing its copy of the log file (the one there
    leaks it, and pytest, warnings as errors, fails the test that happens to collect it),
    and with uvicorn's websocket implementation as a choice: websockets-sansio (what
    docs/realtime.md recommends) lets the hub write frames straight to the transport;
    the legacy `websockets` one (what tests.conftest runs) takes the ASGI send path."""
    (ROOT / ".data").mkdir(exist_ok=True)
    port = free_port()
    env = {**os.environ, **infra.env(),
           "ALLOWED_ORIGINS": f"http://127.0.0.1:{port}", **(extra_env or {})}
    with open(ROOT / ".data" / f"server-{port}.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "web.asgi:app", "--host", "127.0.0.1", "--port",
             str(port), "--log-level", "warning", "--ws", ws],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while not port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"server did not start; see .data/server-{port}.log")
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", process, port)


@pytest.fixture(scope="session")
def live_server(infra: TestInfra) -> Iterator[LiveServer]:
    server = start_hub_server(infra)
    yield server
    stop_server(server)


class Viewer:
    """One websocket client. Batch frames are unpacked, so `events` is one entry per event."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.frames = 0
        self._seen = 0

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def _pull(self, timeout: float) -> None:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        self.frames += 1
        frame = orjson.loads(raw)
        if frame["type"] == "batch":
            self.events.extend(frame["data"]["events"])
        else:
            self.events.append(frame)

    async def next(self, *types: str, timeout: float = 10.0,
                   where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """The next event (after the ones already returned) of one of `types`."""
        deadline = time.monotonic() + timeout
        while True:
            while self._seen < len(self.events):
                event = self.events[self._seen]
                self._seen += 1
                if (not types or event["type"] in types) and (where is None or where(event)):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {types or 'event'} within {timeout} s; got "
                                     f"{[e['type'] for e in self.events]}")
            await self._pull(left)

    async def closed_with(self, timeout: float = 10.0) -> int:
        """Read until the server closes; the close code."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                await self._pull(deadline - time.monotonic())
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code
        raise AssertionError("the server did not close the connection")

    async def close(self) -> None:
        await self.ws.close()


Connect = Callable[..., Awaitable[Viewer]]


@pytest.fixture
async def connect_viewer(live_server: LiveServer) -> AsyncIterator[Connect]:
    """Open websockets to the live server; every one is closed after the test."""
    opened: list[Viewer] = []

    async def open_viewer(room_id: int, *, user: TestUser | None = None, cookie: bool = False,
                          origin: str | None = None, offset: int | None = None,
                          user_offset: int | None = None, server: LiveServer | None = None, **options: Any) -> Viewer:
        base = (server or live_server).ws_url
        query = []
        headers: dict[str, str] = {}
        if user is not None and cookie:
            headers["Cookie"] = f"livesell_session={user.token}"
        elif user is not None:
            query.append(f"token={user.token}")
        if offset is not None:
            query.append(f"offset={offset}")
        if user_offset is not None:
            query.append(f"user_offset={user_offset}")
        url = f"{base}/ws/rooms/{room_id}" + ("?" + "&".join(query) if query else "")
        # No permessage-deflate unless asked: the hub then writes pre-framed bytes
        # straight to the transport (browsers negotiate deflate: the ASGI path).
        options.setdefault("compression", None)
        ws = await connect(url, additional_headers=headers,
                           origin=origin or (server or live_server).url,  # type: ignore[arg-type]
                           open_timeout=10, **options)
        viewer = Viewer(ws)
        opened.append(viewer)
        return viewer

    yield open_viewer
    for viewer in opened:
        await viewer.close()
