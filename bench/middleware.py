"""What the request observer (web/metrics.py) costs per request: one route, called as ASGI
directly (no server, no socket, so the difference is the middleware alone), with and without
it, in alternating rounds; the best round of each is reported.

    .venv/bin/python -m bench.middleware [requests-per-round]
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.metrics import RequestObserver


async def endpoint(request: Request) -> Response:
    return Response(b'{"ok":true}', media_type="application/json")


def make_app(observed: bool) -> Any:
    app = Starlette(routes=[Route("/api/rooms/{room_id:int}", endpoint)])
    return RequestObserver(app) if observed else app


async def round_of(app: Any, requests: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"),
               (b"accept", b"application/json"), (b"authorization", b"Bearer x")]
    started = time.perf_counter()
    for n in range(requests):
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": f"/api/rooms/{n}", "raw_path": b"",
                 "root_path": "", "query_string": b"", "headers": headers,
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
        await app(scope, receive, send)
    return (time.perf_counter() - started) / requests


async def main(requests: int) -> None:
    apps = {"without": make_app(False), "with": make_app(True)}
    for app in apps.values():  # warm up (startup, first label lookups)
        await round_of(app, 200)
    best = {name: float("inf") for name in apps}
    for _ in range(5):
        for name, app in apps.items():
            best[name] = min(best[name], await round_of(app, requests))
    for name, seconds in best.items():
        print(f"{name:8} the observer: {seconds * 1e6:7.1f} µs per request")
    print(f"cost: {(best['with'] - best['without']) * 1e6:.1f} µs per request")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000))
