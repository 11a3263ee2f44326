"""Fixtures of the engagement tests: many viewers at once, a live room with its host."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, text

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
