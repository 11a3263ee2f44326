"""Ending a room sends the broadcast report job to a real Celery worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from analytics.models import BroadcastReport
from core.context import Services
from tests.conftest import poll_until
from tests.infra import TestInfra
from tests.workers.conftest import CeleryProcess, start_solo_worker


@pytest.fixture(scope="module")
def report_worker(infra: TestInfra) -> Iterator[CeleryProcess]:
    worker = start_solo_worker(infra)
    yield worker
    worker.stop()


async def test_ending_a_room_builds_its_report(client, make_user, make_room, services: Services,
                                               report_worker):
    host = await make_user("host")
    room = await make_room(host, live=True)

    response = await client.post(f"/api/rooms/{room['id']}/status", json={"status": "ended"},
                                 headers=host.headers)

    assert response.status_code == 200

    async def built() -> bool:
        async with services.db.session() as session:
            return await session.get(BroadcastReport, room["id"]) is not None

    await poll_until(built, timeout=30, message="the report of the ended room")
