"""Domain events are handled after the commit that recorded them, and never after a rollback."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import text

from core.context import Services
from core.events import DomainEvent, EventBus, commit, record, unit_of_work


@dataclass(frozen=True, slots=True)
class ThingHappened(DomainEvent):
    thing_id: int


@dataclass(frozen=True, slots=True)
class OtherHappened(DomainEvent):
    name: str


class Boom(Exception):
    pass


@pytest.fixture
def bus_services(services: Services) -> Services:
    """The test run's services with a fresh bus (the shared one may carry app handlers)."""
    return Services(settings=services.settings, db=services.db, redis=services.redis,
                    keys=services.keys, events=EventBus())


async def test_handlers_run_after_commit_in_order(bus_services: Services) -> None:
    seen: list[tuple[str, object]] = []

    async def first(svc: Services, event: ThingHappened) -> None:
        # The row the transaction wrote is visible from another connection: committed.
        async with svc.db.session() as session:
            count = (await session.execute(text("select count(*) from tmp_things"))).scalar_one()
        seen.append(("first", (event.thing_id, count)))

    async def second(svc: Services, event: ThingHappened) -> None:
        seen.append(("second", event.thing_id))

    bus_services.events.subscribe(ThingHappened, first)
    bus_services.events.subscribe(ThingHappened, second)
    async with bus_services.db.engine.begin() as conn:
        await conn.execute(text("create table if not exists tmp_things (id int)"))

    async with unit_of_work(bus_services) as session:
        await session.execute(text("insert into tmp_things values (7)"))
        record(session, ThingHappened(7))
        assert seen == []  # nothing runs inside the transaction

    assert seen == [("first", (7, 1)), ("second", 7)]


async def test_rollback_drops_recorded_events(bus_services: Services) -> None:
    seen: list[DomainEvent] = []

    async def handler(svc: Services, event: ThingHappened) -> None:
        seen.append(event)

    bus_services.events.subscribe(ThingHappened, handler)
    with pytest.raises(Boom):
        async with unit_of_work(bus_services) as session:
            record(session, ThingHappened(1))
            raise Boom
    async with unit_of_work(bus_services):
        pass
    assert seen == []


async def test_a_failing_handler_does_not_stop_the_others(bus_services: Services) -> None:
    seen: list[str] = []

    async def broken(svc: Services, event: OtherHappened) -> None:
        raise RuntimeError("effect failed")

    async def fine(svc: Services, event: OtherHappened) -> None:
        seen.append(event.name)

    bus_services.events.subscribe(OtherHappened, broken)
    bus_services.events.subscribe(OtherHappened, fine)
    async with unit_of_work(bus_services) as session:
        record(session, OtherHappened("a"), ThingHappened(3))
    assert seen == ["a"]


async def test_commit_by_hand_handles_each_commits_events_once(bus_services: Services) -> None:
    seen: list[int] = []

    async def handler(svc: Services, event: ThingHappened) -> None:
        seen.append(event.thing_id)

    bus_services.events.subscribe(ThingHappened, handler)
    async with bus_services.db.session() as session:
        record(session, ThingHappened(1))
        await commit(bus_services, session)
        await session.execute(text("select 1"))
        record(session, ThingHappened(2))
        await session.rollback()
        record(session, ThingHappened(3))
        await commit(bus_services, session)
    assert seen == [1, 3]


async def test_subscribing_twice_registers_once() -> None:
    bus = EventBus()

    async def handler(svc: Services, event: ThingHappened) -> None:
        return None

    bus.subscribe(ThingHappened, handler)
    bus.subscribe(ThingHappened, handler)
    assert bus.handlers_for(ThingHappened) == [handler]
    assert bus.handlers_for(OtherHappened) == []
