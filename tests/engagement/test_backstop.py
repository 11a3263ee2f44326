"""The Celery beat's backstop of the web processes' tick: with no web process ticking, the
rains and draws overdue are settled, each exactly once however often the backstop runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from core.context import Services
from engagement import draws, runtime
from engagement.models import EntryRule, WalletEntry, WalletKind
from tests.conftest import capture_news, poll_until
from tests.engagement.conftest import LiveRoom, drop


async def test_the_backstop_settles_what_no_web_process_ticked_once_however_often_it_runs(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]], services: Services,
        no_web_tick: None) -> None:
    # given, with no web process ticking, a one-second rain and a one-second keyword draw
    room = await live_room()
    rain = await drop(client, room, duration_seconds=1)
    draw = await draws.start_draw(services, room.host.principal, room.id, draws.DrawTerms(
        prize="A mug", winner_count=1, rule=EntryRule.KEYWORD, keyword="mug",
        countdown_seconds=1))

    async with capture_news(services) as published:
        # then nothing is touched before it is overdue
        assert await runtime.settle_overdue(services, overdue_by=timedelta(hours=1)) == {
            "rains": [], "draws": []}
        # when the backstop runs again and again, twice at once, until both are settled
        done: dict[str, list[int]] = {"rains": [], "draws": []}

        async def settled_both() -> bool:
            for result in await asyncio.gather(
                    runtime.settle_overdue(services, overdue_by=timedelta(seconds=1)),
                    runtime.settle_overdue(services, overdue_by=timedelta(seconds=1))):
                done["rains"] += result["rains"]
                done["draws"] += result["draws"]
            return bool(done["rains"]) and bool(done["draws"])

        await poll_until(settled_both, timeout=20, interval=0.2, message="the backstop")
        await runtime.settle_overdue(services, overdue_by=timedelta(0))

    # then each was settled once: one settle, one return to the host, one draw, one event each
    assert done == {"rains": [rain["id"]], "draws": [draw.id]}
    async with services.db.session() as session:
        returned = await session.scalar(select(func.count()).select_from(WalletEntry).where(
            WalletEntry.rain_id == rain["id"], WalletEntry.kind == WalletKind.RAIN_RETURNED.value))
    assert returned == 1
    assert [e["data"]["action"] for e in published if e["type"] == "rain"] == ["settled"]
    assert [e["data"]["action"] for e in published if e["type"] == "draw"] == ["drawn"]
    assert (await draws.get_draw(services, draw.id)).status == "drawn"


def test_the_backstop_is_on_the_beat_schedule() -> None:
    from workers import engagement_tasks
    from workers.app import app as celery_app

    entry = celery_app.conf.beat_schedule["settle-overdue-engagement"]
    assert entry["task"] == "engagement.settle_overdue"
    assert engagement_tasks.settle_overdue.name in celery_app.tasks
