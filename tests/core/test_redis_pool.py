"""The Redis pool waits for a free connection (a burst queues) and gives up after its timeout."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio.connection import Connection as AsyncConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from core.context import Services
from core.redis import LuaScript, make_redis


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


async def test_a_hot_script_call_answers_as_the_client_would_and_goes_its_way_otherwise(
        services: Services, tmp_path: Path) -> None:
    # a script this server has never seen (its text is new), so the first call finds no script
    source = tmp_path / "echo.lua"
    source.write_text(f"-- {secrets.token_hex(8)}\n"
                      "if ARGV[1] == 'fail' then return redis.error_reply('ERR told to') end\n"
                      "return {KEYS[1], tonumber(ARGV[1]) + 1, ARGV[2]}")
    script = LuaScript(source)
    client = make_redis(services.settings.redis_url, max_connections=2)
    key = f"{services.keys.prefix}hot"
    try:
        # NOSCRIPT: loaded and run the client's way, then run by EVALSHA on later calls
        assert await script.call(client, [key], [41, "ké"]) == [key.encode(), 42, "ké".encode()]
        assert await script.call(client, [key], [1, "b"]) == await script.bind(client)(
            keys=[key], args=[1, "b"])
        # an error the script raises is raised, and its connection is not lost
        with pytest.raises(ResponseError, match="told to"):
            await script.call(client, [key], ["fail", ""])
        # a pooled connection the server closed (killed by its own id, from another client)
        taken = await client.connection_pool.get_connection()
        await taken.send_command("CLIENT", "ID")
        victim = await taken.read_response()
        await client.connection_pool.release(taken)
        killer = make_redis(services.settings.redis_url, max_connections=1)
        try:
            assert await killer.client_kill_filter(_id=victim) == 1
        finally:
            await killer.aclose()
        assert await script.call(client, [key], [2, "c"]) == [key.encode(), 3, b"c"]
        assert not client.connection_pool._in_use_connections
        assert len(client.connection_pool._available_connections) <= 2
    finally:
        await client.aclose()


async def test_a_hot_script_call_whose_connection_fails_raises_as_the_client_would(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_redis(services.settings.redis_url, max_connections=1)
    script = LuaScript(Path(__file__).parent.parent.parent / "orders" / "scripts" / "reserve.lua")
    dropped: list[bool] = []

    reads: list[bool] = []

    async def lost(self: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(True)
        raise RedisConnectionError("Connection closed by server.")

    real_disconnect = AsyncConnection.disconnect

    async def disconnect(self: Any, *args: Any, **kwargs: Any) -> None:
        dropped.append(True)
        await real_disconnect(self, *args, **kwargs)

    try:
        monkeypatch.setattr(AsyncConnection, "read_response", lost)
        monkeypatch.setattr(AsyncConnection, "disconnect", disconnect)
        # no retry (the connection's policy allows none): raised once, the connection dropped
        with pytest.raises(RedisConnectionError):
            await script.call(client, [f"{services.keys.prefix}x"], [1, "k", 1, 5000])
        assert dropped and len(reads) == 1
        assert not client.connection_pool._in_use_connections
        monkeypatch.undo()
        assert await client.ping() is True  # the slot was given back
    finally:
        await client.aclose()
