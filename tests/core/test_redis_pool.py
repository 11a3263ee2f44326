"""The Redis pool waits for a free connection (a burst queues) and gives up after its timeout."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from core.context import Services
from core.redis import make_redis


@pytest.mark.redis6
async def test_a_burst_larger_than_the_pool_queues_instead_of_failing(services: Services) -> None:
    client = make_redis(services.settings.redis_url, max_connections=4)
    try:
        replies = await asyncio.gather(*(client.incr(f"{services.keys.prefix}burst")
                                         for _ in range(200)))
        assert sorted(replies) == list(range(1, 201))
        assert len(client.connection_pool._available_connections) <= 4
        assert not client.connection_pool._in_use_connections
    finally:
        await client.aclose()


async def test_a_caller_that_cannot_get_a_connection_in_time_gets_a_connection_error(
        services: Services) -> None:
    client = make_redis(services.settings.redis_url, max_connections=1, timeout_seconds=0.2)
    try:
        taken = await client.connection_pool.get_connection()
        with pytest.raises(RedisConnectionError):
            await client.ping()
        await client.connection_pool.release(taken)
        assert await client.ping() is True  # the slot given up was not lost
    finally:
        await client.aclose()


async def test_a_server_that_is_down_leaves_no_slot_taken(services: Services) -> None:
    client = make_redis("redis://127.0.0.1:1/0", max_connections=1, timeout_seconds=0.5)
    try:
        for _ in range(3):  # each failed connect gives its slot back
            with pytest.raises(RedisConnectionError):
                await client.ping()
    finally:
        await client.aclose()
