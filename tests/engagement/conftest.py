"""Fixtures of the engagement tests: many viewers at once, a live room with its host."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from sqlalchemy import text

from core.context import Services
from core.settings import Settings
from engagement.presence import mark_present
from tests.conftest import MakeUser, TestUser, insert_viewers


@pytest.fixture
def make_viewers(services: Services, settings: Settings) -> Callable[[int], Awaitable[list[TestUser]]]:
    """Many viewers at once, inserted in one statement (hashing thousands of passwords would
    take minutes), each with a valid bearer token."""
    made = {"n": 0}

    async def make(count: int) -> list[TestUser]:
        start = made["n"]
        made["n"] += count
        return await insert_viewers(services, settings, "viewer", range(start, start + count))

    return make


@dataclass
class LiveRoom:
    host: TestUser
    room: dict[str, Any]
    services: Services

    @property
    def id(self) -> int:
        return int(self.room["id"])

    async def admit(self, *viewers: TestUser) -> None:
        """These viewers are in the room for the next ten minutes, as if each had its page open
        (the mark a web process keeps for a websocket of the room: engagement/presence.py)."""
        await mark_present(self.services.redis, self.services.keys,
                           {self.id: [viewer.id for viewer in viewers]}, ttl_ms=600_000)


@pytest.fixture
def live_room(make_user: MakeUser, make_room: Callable[..., Awaitable[dict[str, Any]]],
              services: Services) -> Callable[[], Awaitable[LiveRoom]]:
    async def make() -> LiveRoom:
        host = await make_user("host")
        return LiveRoom(host, await make_room(host, live=True), services)

    return make


async def drop(client: httpx.AsyncClient, room: LiveRoom, **overrides: Any) -> dict[str, Any]:
    body = {"envelope_count": 10, "total_minor": 1000, "currency": "USD",
            "countdown_seconds": 0, "duration_seconds": 30, **overrides}
    response = await client.post(f"/api/rooms/{room.id}/rains", json=body,
                                 headers=room.host.headers)
    assert response.status_code == 201, response.text
    rain: dict[str, Any] = response.json()
    return rain


@pytest.fixture
def no_web_tick(app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if no web process were running: the test app's engagement tick does nothing for the
    test (its loop calls the module's `tick` each round), and the run's app server processes
    (this run's children, which tick on the same database) are paused until it ends."""
    import psutil

    from engagement import runtime

    async def idle(svc: Services, followers_of: Any = None) -> None:
        pass

    monkeypatch.setattr(runtime, "tick", idle)
    def app_server(process: psutil.Process) -> bool:
        try:
            command = process.cmdline()
        except psutil.Error:  # gone, or a zombie not yet reaped
            return False
        return "serve" in command or "web.asgi:app" in " ".join(command)

    servers = [child for child in psutil.Process().children(recursive=True)
               if app_server(child)]
    for server in servers:
        server.suspend()
    try:
        yield
    finally:
        for server in servers:
            with contextlib.suppress(psutil.NoSuchProcess):
                server.resume()


@dataclass
class RedisCalls:
    """The Redis commands sent one by one (their names), and the size of each pipeline sent."""

    alone: list[str]
    pipelines: list[int]

    def scripts_alone(self) -> int:
        return sum(1 for command in self.alone if command.startswith("EVAL"))


@pytest.fixture
def redis_calls(monkeypatch: pytest.MonkeyPatch) -> RedisCalls:
    """Counts, from now on, what this process sends to Redis alone and in pipelines."""
    calls = RedisCalls([], [])
    execute_command = aioredis.Redis.execute_command
    execute_pipeline = Pipeline.execute

    async def counting_command(self: aioredis.Redis, *args: Any, **options: Any) -> Any:
        calls.alone.append(str(args[0]).upper())
        return await execute_command(self, *args, **options)

    async def counting_pipeline(self: Pipeline, raise_on_error: bool = True) -> list[Any]:
        calls.pipelines.append(len(self.command_stack))
        return await execute_pipeline(self, raise_on_error)

    monkeypatch.setattr(aioredis.Redis, "execute_command", counting_command)
    monkeypatch.setattr(Pipeline, "execute", counting_pipeline)
    return calls
async def close_draw_now(services: Services, draw_id: int) -> None:
    """Bring an open draw's close forward to now, for a test with nothing left to do in its
    countdown (at least 5 s, a rule of the API): the tick draws it as at its time. A draw's
    close cannot change once its seed is committed (a trigger): the test steps around that
    for this one statement, in a transaction of its own that no other session sees halfway.
    The keyword draw in test_draws.py still waits out its countdown."""
    async with services.db.transaction() as session:
        await session.execute(text("alter table draws disable trigger draws_committed"))
        await session.execute(text("update draws set closes_at = now() where id = :id "
                                   "and status = 'open'"), {"id": draw_id})
        await session.execute(text("alter table draws enable trigger draws_committed"))


# The websocket clients and the live server they talk to, as the realtime tests have them.
from tests.realtime.conftest import connect_viewer, live_server  # noqa: E402, F401
