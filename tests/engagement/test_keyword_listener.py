"""The draw keyword listener the hub hands every accepted chat line to: a room without a
keyword draw costs a dict look-up, a repeat of the keyword costs nothing, the tasks in flight
are bounded, and the keyword is set in Redis only once the draw is committed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from core.context import Services
from core.events import EventBus
from engagement import draws
from engagement.events import DrawStarted
from engagement.models import Draw, DrawEntry, EntryRule
from tests.conftest import TestUser
from tests.engagement.conftest import LiveRoom

MakeViewers = Callable[[int], Awaitable[list[TestUser]]]


async def settled(listener: draws.KeywordListener) -> None:
    while listener.tasks:
        await asyncio.gather(*listener.tasks, return_exceptions=True)


def keyword_terms(keyword: str = "lucky") -> draws.DrawTerms:
    return draws.DrawTerms(prize="A scarf", winner_count=1, rule=EntryRule.KEYWORD,
                           keyword=keyword, countdown_seconds=60)


async def test_the_keyword_is_set_once_the_draw_is_committed_and_before_the_room_hears_it(
        live_room: Callable[[], Awaitable[LiveRoom]], services: Services,
        monkeypatch: pytest.MonkeyPatch) -> None:
    room = await live_room()
    seen: dict[str, Any] = {}
    set_key = services.redis.set

    async def checking_set(name: str, value: Any, **options: Any) -> Any:
        if name == draws.keyword_key(services, room.id):
            # another connection sees the draw already: it was committed before the key
            async with services.db.session() as session:
                seen["committed"] = await session.scalar(
                    select(func.count()).select_from(Draw).where(Draw.room_id == room.id))
        return await set_key(name, value, **options)

    async def on_started(svc: Services, event: Any) -> None:
        seen["key_when_announced"] = await svc.redis.get(draws.keyword_key(svc, room.id))

    monkeypatch.setattr(services.redis, "set", checking_set)
    bus = EventBus()
    bus.subscribe(DrawStarted, on_started)
    svc = dataclasses.replace(services, events=bus)
    draw = await draws.start_draw(svc, room.host.principal, room.id, keyword_terms())
    assert seen["committed"] == 1
    assert seen["key_when_announced"] == f"{draw.id}:lucky".encode()


async def test_lines_of_a_room_without_a_keyword_draw_cost_a_lookup_once(
        live_room: Callable[[], Awaitable[LiveRoom]], make_viewers: MakeViewers,
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    room = await live_room()
    (viewer,) = await make_viewers(1)
    reads: list[int] = []
    read = draws.read_room_keyword

    async def counting_read(svc: Services, room_id: int) -> draws.RoomKeyword:
        reads.append(room_id)
        return await read(svc, room_id)

    monkeypatch.setattr(draws, "read_room_keyword", counting_read)
    listener = draws.KeywordListener(services)
    listener.fresh_seconds = 3600.0
    # the first lines of the room share one look-up
    for _ in range(5):
        listener(room.id, viewer.id, "lucky me", "k")
    await settled(listener)
    assert reads == [room.id]
    # then a thousand more cost no task and no read
    for _ in range(1000):
        listener(room.id, viewer.id, "lucky me", "k")
    assert not listener.tasks and reads == [room.id]


async def test_a_repeated_keyword_enters_once_and_costs_one_transaction(
        live_room: Callable[[], Awaitable[LiveRoom]], make_viewers: MakeViewers,
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    room = await live_room()
    viewers = await make_viewers(3)
    draw = await draws.start_draw(services, room.host.principal, room.id, keyword_terms())
    entries: list[tuple[int, int]] = []
    record_entry = draws._record_entry

    async def counting_entry(svc: Services, draw_id: int, user_id: int, *,
                             rule: EntryRule) -> bool:
        entries.append((draw_id, user_id))
        return await record_entry(svc, draw_id, user_id, rule=rule)

    monkeypatch.setattr(draws, "_record_entry", counting_entry)
    listener = draws.KeywordListener(services)
    listener.fresh_seconds = 3600.0
    # each viewer sends the keyword twenty times, in bursts and after being entered; the host
    # sends it too
    for _ in range(10):
        for viewer in viewers:
            listener(room.id, viewer.id, "LUCKY!", "k")
    await settled(listener)
    for _ in range(10):
        for viewer in [*viewers, room.host]:
            listener(room.id, viewer.id, "lucky", "k")
    await settled(listener)
    listener(room.id, room.host.id, "lucky", "k")
    await settled(listener)
    # one transaction each, and the host's refusal is remembered too
    assert sorted(entries) == sorted([(draw.id, v.id) for v in [*viewers, room.host]])
    async with services.db.session() as session:
        entered = sorted(await session.scalars(select(DrawEntry.user_id).where(
            DrawEntry.draw_id == draw.id)))
    assert entered == sorted(v.id for v in viewers)


async def test_tasks_in_flight_are_bounded_and_the_lines_past_the_bound_counted(
        services: Services) -> None:
    listener = draws.KeywordListener(services)
    listener.max_tasks = 3

    def dropped() -> float:
        return REGISTRY.get_sample_value("livesell_draw_keyword_lines_dropped_total") or 0.0

    before = dropped()
    # ten lines of ten rooms nobody looked at yet, all at once
    for room_id in range(1, 11):
        listener(room_id, 1, "lucky", "k")
    assert len(listener.tasks) == 3
    assert dropped() - before == 7
    await settled(listener)
