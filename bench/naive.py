"""The naive fan-out the hub is measured against: `uvicorn bench.naive:app`.

One Redis subscription for the benchmark room; for every event it decodes the
JSON, then for each connection, in turn, encodes it again and awaits
`send_text`. This is the loop the hub exists to avoid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

CHANNEL = os.environ.get("NAIVE_CHANNEL", "")
connections: set[WebSocket] = set()


async def relay() -> None:
    client = aioredis.Redis.from_url(os.environ["REDIS_URL"])
    pubsub = client.pubsub()
    await pubsub.subscribe(CHANNEL)
    try:
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            event = json.loads(message["data"])
            for ws in list(connections):
                try:
                    await ws.send_text(json.dumps(event))
                except Exception:
                    connections.discard(ws)
    finally:
        await pubsub.aclose()
        await client.aclose()


async def room(ws: WebSocket) -> None:
    await ws.accept()
    connections.add(ws)
    try:
        while True:
            await ws.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        connections.discard(ws)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    task = asyncio.create_task(relay())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


app = Starlette(routes=[WebSocketRoute("/ws/rooms/{room_id:int}", room)], lifespan=lifespan)
