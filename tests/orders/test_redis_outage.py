"""A Redis outage during a sale: buys get the documented 503 in JSON, then succeed on retry."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.context import Services
from core.redis import make_redis
from tests.conftest import MakeUser, poll_until
from web.app import create_app
from web.embedded import free_port, port_open, redis_server_binary


class RestartableRedis:
    """The embedded redis-server on a fixed port, to stop and start again mid-test."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.data_dir), "--save", "", "--appendonly", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_buys_during_a_redis_outage_are_json_503s_and_succeed_after(
        services: Services, make_user: MakeUser, restartable_redis: RestartableRedis) -> None:
    async def redis_up() -> bool:
        return port_open("127.0.0.1", restartable_redis.port)

    await poll_until(redis_up, message="redis-server to listen")
    svc = Services(settings=services.settings, db=services.db,
                   redis=make_redis(restartable_redis.url, timeout_seconds=1.0),
                   keys=services.keys)
    app = create_app(svc.settings, svc)
    host = await make_user("host")
    buyer = await make_user("viewer")
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
            # given a live room with a sale on
            product = (await http.post("/api/products", headers=host.headers, json={
                "title": "Silk scarf", "price_minor": 1999, "currency": "USD", "stock": 50})).json()
            room = (await http.post("/api/rooms", json={"title": "Drop"},
                                    headers=host.headers)).json()
            await http.put(f"/api/rooms/{room['id']}/lineup", headers=host.headers,
                           json={"product_ids": [product["id"]]})
            await http.post(f"/api/rooms/{room['id']}/status", json={"status": "live"},
                            headers=host.headers)
            sale = await http.post(f"/api/rooms/{room['id']}/sales", headers=host.headers, json={
                "product_id": product["id"], "price_minor": 999, "quantity": 10,
                "duration_seconds": 600})
            assert sale.status_code == 201, sale.text
            buy_url = f"/api/sales/{sale.json()['id']}/buy"
            headers = {**buyer.headers, "Idempotency-Key": "outage-1"}

            # when Redis goes away and a buyer presses buy
            restartable_redis.stop()
            during = await http.post(buy_url, json={"quantity": 1}, headers=headers)

            # then the answer is the documented 503, in JSON, with Retry-After
            assert during.status_code == 503, during.text
            assert during.json()["error"]["code"] in ("service_unavailable", "sale_unavailable")
            assert during.headers.get("retry-after")

            # and once Redis is back, a retry with the same key buys
            restartable_redis.start()
            await poll_until(redis_up, message="redis-server to listen again")
            replies: list[Any] = []

            async def bought() -> bool:
                reply = await http.post(buy_url, json={"quantity": 1}, headers=headers)
                replies.append(reply)
                assert reply.status_code in (201, 503), reply.text
                return reply.status_code == 201

            await poll_until(bought, timeout=20, interval=0.2, message="a buy after the outage")
    finally:
        await svc.redis.aclose()
