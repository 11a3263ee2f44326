"""A lean HTTP/1.1 client for the race tests: thousands of requests against one server process.

httpx costs this test process 3 to 4 ms of CPU a request (measured on the coupon race: 2,200
claims, 7 to 10 s of client CPU), far more than the server spends answering, so a race of
thousands spent most of its time in the client. This one is the buy benchmark's raw client
(`bench.loadgen`: asyncio protocols over keep-alive connections) with the few calls the tests
make: `get` and `post`, answering a `Reply` with httpx's `status_code`, `json()` and `text`.
A connection that breaks mid-request raises `ConnectionError`; one the server refuses raises
`OSError`."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.loadgen import Conn, Pool

# Idle connections are dropped after this long, well before uvicorn closes them (5 s): reusing
# one the server is closing that moment would be a reset on a busy machine.
KEEPALIVE_SECONDS = 1.0


@dataclass(frozen=True)
class Reply:
    status_code: int
    head: bytes  # the status line and headers, lower-cased
    content: bytes

    def json(self) -> Any:
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode()


class RawClient:
    """At most `max_connections` requests in flight; more wait their turn in order."""

    def __init__(self, base_url: str, *, max_connections: int = 100) -> None:
        url = urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.pool = Pool(self.host, self.port, max_connections)
        self.idle: deque[tuple[Conn, float]] = deque()
        self.turns = asyncio.Semaphore(max_connections)

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        while self.idle:
            self.idle.popleft()[0].transport.close()

    async def get(self, path: str, *, headers: dict[str, str] | None = None) -> Reply:
        return await self.request("GET", path, headers=headers)

    async def post(self, path: str, *, json: Any = None, content: bytes | None = None,
                   headers: dict[str, str] | None = None) -> Reply:
        return await self.request("POST", path, json=json, content=content, headers=headers)

    async def request(self, method: str, path: str, *, json: Any = None,
                      content: bytes | None = None,
                      headers: dict[str, str] | None = None) -> Reply:
        body = orjson.dumps(json) if json is not None else (content or b"")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if json is not None:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        async with self.turns:
            conn = await self._connection()
            status, head, reply = await conn.send(raw)
            if not conn.transport.is_closing():
                self.idle.append((conn, time.monotonic()))
        return Reply(status, head, reply)

    async def _connection(self) -> Conn:
        now = time.monotonic()
        while self.idle:
            conn, since = self.idle.pop()
            if now - since < KEEPALIVE_SECONDS and not conn.transport.is_closing():
                return conn
            conn.transport.close()
        return await self.pool.open()
