"""CPU and Python calls per buy reply kind with the web app called as ASGI in this process (no
HTTP server, no socket to a client; the real PostgreSQL and Redis), on uvloop:

    .venv/bin/python -m bench.buy_inprocess [-n 3000] [--dump sold_out]

Each kind (accepted, limit_reached, replayed, sold_out) is `n` buys, one after another, by
distinct logged-in buyers. CPU: process time over all but the last 300 requests, per request.
Calls: cProfile over the last 300, per request (cProfile counts each resumption of a
coroutine as a call). What it leaves out, uvicorn and the event loop's waits for the client,
`python -m bench.buy --only kinds` measures through a real server.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import secrets
import time
from collections.abc import MutableMapping
from typing import Any

import uvloop

from bench.buy import Bench, _sale, _users

BODY = b'{"quantity":1}'
PROFILED = 300


def buy_scope(sale_id: int, token: str, key: str) -> dict[str, Any]:
    path = f"/api/sales/{sale_id}/buy"
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
            "root_path": "", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8000"),
                        (b"authorization", b"Bearer " + token.encode()),
                        (b"idempotency-key", key.encode()),
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(BODY)).encode())],
            "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 8000), "state": {}}


async def measure(bench: Bench, n: int, dump: str) -> None:
    from core.settings import load_settings
    from web.app import create_app

    svc = bench.services
    assert bench.host is not None
    app = create_app(load_settings(), svc)
    _, tokens = await _users(svc, n + 1, 0)
    sale = await _sale(svc, bench.host, 2 * n)
    empty = await _sale(svc, bench.host, 1)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async with app.router.lifespan_context(app):
        # The one unit of the empty sale goes to a buyer outside the steps.
        await app(buy_scope(empty, tokens[n], secrets.token_hex(8)), receive, send)
        keys = [secrets.token_hex(8) for _ in range(n)]
        plan = {
            "accepted": [(sale, tokens[i], keys[i]) for i in range(n)],
            "limit_reached": [(sale, tokens[i], secrets.token_hex(8)) for i in range(n)],
            "replayed": [(sale, tokens[i], keys[i]) for i in range(n)],
            "sold_out": [(empty, tokens[i], secrets.token_hex(8)) for i in range(n)],
        }
        gc.collect()
        gc.freeze()
        for kind, requests in plan.items():
            await asyncio.sleep(0.3)  # the accepted buys' replies are kept in Redis
            statuses.clear()
            unprofiled = n - PROFILED
            began = time.process_time()
            for sale_id, token, key in requests[:unprofiled]:
                await app(buy_scope(sale_id, token, key), receive, send)
            cpu = (time.process_time() - began) / unprofiled
            profile = cProfile.Profile()
            profile.enable()
            for sale_id, token, key in requests[unprofiled:]:
                await app(buy_scope(sale_id, token, key), receive, send)
            profile.disable()
            stats = pstats.Stats(profile)
            calls = stats.total_calls / PROFILED  # type: ignore[attr-defined]
            print(f"{kind:14} {cpu * 1000:.3f} ms CPU per request, {calls:.0f} calls per "
                  f"request, statuses {sorted(set(statuses))}", flush=True)
            if kind == dump:
                stats.sort_stats("cumulative").print_stats(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=3000, help="requests of each kind")
    parser.add_argument("--dump", default="", help="print the profile of this kind")
    args = parser.parse_args()
    bench = Bench(argparse.Namespace(quick=True))
    bench.setup()
    try:
        # The services again, on a uvloop loop (as `livesell serve` runs).
        from core.context import Services
        from core.settings import load_settings
        from workers.handlers import wire

        bench.run(bench.services.close())
        bench.loop.close()
        bench.loop = uvloop.new_event_loop()
        bench.services = wire(Services.from_settings(load_settings()))
        bench.run(measure(bench, max(args.n, PROFILED + 1), args.dump))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
