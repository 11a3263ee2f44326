"""Fixtures of the engagement tests: many viewers at once, a live room with its host."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from core.accounts import User
from core.context import Services
from core.security import sign_token
from core.settings import Settings
from tests.conftest import MakeUser, TestUser


@pytest.fixture
def make_viewers(services: Services, settings: Settings) -> Callable[[int], Awaitable[list[TestUser]]]:
    """Many viewers at once, inserted in one statement (hashing thousands of passwords would
    take minutes), each with a valid bearer token."""
    made = {"n": 0}

    async def make(count: int) -> list[TestUser]:
        start = made["n"]
        made["n"] += count
        async with services.db.transaction() as session:
            rows = (await session.execute(insert(User).values([
                {"email": f"viewer{n}@example.com", "display_name": f"viewer{n}",
                 "password_hash": "not-a-hash", "role": "viewer"}
                for n in range(start, start + count)
            ]).returning(User.id, User.email, User.display_name, User.token_version))).all()
        secret = settings.secret_key.reveal()
        return [TestUser(r.id, r.email, "", "viewer", r.display_name,
                         sign_token(secret, r.id, r.token_version, 3600)) for r in rows]

    return make


@dataclass
class LiveRoom:
    host: TestUser
    room: dict[str, Any]

    @property
    def id(self) -> int:
        return int(self.room["id"])


@pytest.fixture
def live_room(make_user: MakeUser, make_room: Callable[..., Awaitable[dict[str, Any]]],
              ) -> Callable[[], Awaitable[LiveRoom]]:
    async def make() -> LiveRoom:
        host = await make_user("host")
        return LiveRoom(host, await make_room(host, live=True))

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
async def no_web_tick(app: Any, services: Services) -> AsyncIterator[None]:
    """As if no web process were running: the test app's engagement tick is stopped for the
    test (and started again after)."""
    from engagement.runtime import runtime_of, start_ticking

    runtime = runtime_of(services)
    ticks = [task for task in runtime.tasks if task.get_name() == "engagement-tick"]
    assert ticks, "the test app runs no engagement tick"
    for task in ticks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        runtime.tasks.remove(task)
    yield
    start_ticking(services, services.settings.engagement.tick_seconds)


# The websocket clients and the live server they talk to, as the realtime tests have them.
from tests.realtime.conftest import connect_viewer, live_server  # noqa: E402, F401
