"""The live package's actions tell the room only after their transaction has committed: a pin,
an unpin, a lineup or a status change that rolls back is never heard of."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from core.context import Services
from live import actions, queries
from realtime.publish import ServerEvent
from tests.conftest import capture_news, settle_stock_news

NO_SUCH_USER = 2**31 - 1


@pytest.fixture
def fail_commits(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """From the call on, every room-log entry names a user who does not exist: an action runs
    to its end and records its events, then its commit fails (a foreign key) and the
    transaction rolls back."""
    original = actions.record_room_event

    def log_with_a_missing_actor(session: Any, room_id: int, event_type: Any,
                                 actor_id: int | None, data: dict[str, Any] | None = None) -> None:
        original(session, room_id, event_type, NO_SUCH_USER, data)

    def start() -> None:
        monkeypatch.setattr(actions, "record_room_event", log_with_a_missing_actor)

    return start


async def test_a_pin_whose_transaction_rolls_back_publishes_nothing(
        make_user, make_product, make_room, services: Services, fail_commits):
    # given a room with a product in its lineup
    host = await make_user("host")
    scarf = await make_product(host, title="Scarf")
    room = await make_room(host, products=[scarf], live=True)
    await settle_stock_news(services)
    fail_commits()

    # when the host pins it and the transaction fails at its commit
    async with capture_news(services) as published:
        with pytest.raises(IntegrityError):
            await actions.pin_product(services, host.principal, room["id"], scarf["id"])

    # then the room heard nothing and nothing is pinned
    assert [e for e in published if e["room_id"] == room["id"]] == []
    async with services.db.session() as session:
        assert (await queries.get_room(session, room["id"])).pinned_product_id is None


async def test_a_lineup_or_status_change_that_rolls_back_publishes_nothing(
        make_user, make_product, make_room, services: Services, fail_commits):
    host = await make_user("host")
    scarf = await make_product(host, title="Scarf")
    room = await make_room(host, products=[scarf])
    await settle_stock_news(services)
    fail_commits()

    async with capture_news(services) as published:
        with pytest.raises(IntegrityError):
            await actions.set_lineup(services, host.principal, room["id"], [])
        with pytest.raises(IntegrityError):
            await actions.change_status(services, host.principal, room["id"],
                                        actions.parse_status("live"))

    assert [e for e in published if e["room_id"] == room["id"]] == []
    async with services.db.session() as session:
        assert (await queries.get_room(session, room["id"])).status == "scheduled"
        assert [p.id for p in await queries.lineup(session, room["id"])] == [scarf["id"]]


async def test_a_committed_pin_is_told_once(make_user, make_product, make_room,
                                            services: Services):
    # given a room with a product in its lineup
    host = await make_user("host")
    scarf = await make_product(host, title="Scarf")
    room = await make_room(host, products=[scarf], live=True)

    # when the host pins it
    async with capture_news(services) as published:
        await actions.pin_product(services, host.principal, room["id"], scarf["id"])

    # then the room hears one pin, from the handler after the commit (and, on a slow machine,
    # maybe already the pinned product's units left, which a pin sends coalesced)
    assert [(e["type"], e["data"]["product"]["id"]) for e in published
            if e["type"] != ServerEvent.VARIANT_STOCK] == [(ServerEvent.PIN, scarf["id"])]
    async with services.db.session() as session:
        assert (await queries.get_room(session, room["id"])).pinned_product_id == scarf["id"]
