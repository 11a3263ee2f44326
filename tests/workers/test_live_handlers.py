"""Each handler of the live package's events (workers/handlers.py) tells the room one change,
called with the event as the bus calls it after the commit."""

from __future__ import annotations

from typing import Any

import pytest

from core.context import Services
from live.events import (
    ChatMessageDeleted,
    LineupChanged,
    ProductPinned,
    ProductUnpinned,
    RoomEnded,
    RoomUpdated,
    RoomWentLive,
    UserMuted,
    UserUnmuted,
)
from orders.events import SaleAction, SaleCreated
from realtime import moderation
from realtime.publish import ServerEvent
from tests.conftest import capture_news
from workers import handlers


@pytest.fixture
async def room_with_products(client, make_user, make_product, make_room,
                             ) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    host = await make_user("host")
    products = [await make_product(host, title="Silk scarf", description="Hand-rolled hems"),
                await make_product(host, title="Wool hat")]
    room = await make_room(host, products=products)
    return host, room, products


async def test_a_room_update_tells_the_room_its_row(services: Services, room_with_products):
    _, room, _ = room_with_products

    async with capture_news(services) as published:
        await handlers.announce_room(services, RoomUpdated(room_id=room["id"]))

    [event] = published
    assert (event["type"], event["data"]["id"], event["data"]["title"]) == (
        ServerEvent.ROOM, room["id"], "Evening drop")
    assert event["state"] == {"room": event["data"]}


async def test_a_room_that_went_live_or_ended_tells_the_room_its_status(
        client, services: Services, room_with_products):
    host, room, _ = room_with_products
    for status, event in (("live", RoomWentLive(room_id=room["id"], host_id=host.id)),
                          ("ended", RoomEnded(room_id=room["id"]))):
        await client.post(f"/api/rooms/{room['id']}/status", json={"status": status},
                          headers=host.headers)

        async with capture_news(services) as published:
            await handlers.announce_room(services, event)

        [event] = published
        assert (event["type"], event["data"]["status"]) == (ServerEvent.ROOM, status)
    # an ended room has no pin, and nothing on air
    assert event["state"] == {"room": event["data"], "pin": None, "on_air": False}


async def test_an_ended_room_has_its_report_sent_to_a_worker(
        services: Services, monkeypatch: pytest.MonkeyPatch):
    from workers import analytics_tasks

    sent: list[int] = []
    monkeypatch.setattr(analytics_tasks.build_report, "delay", sent.append)

    await handlers.build_report_of_ended_room(services, RoomEnded(room_id=17))

    assert sent == [17]


async def test_a_lineup_change_tells_the_room_the_lineup_as_committed(
        services: Services, room_with_products):
    _, room, products = room_with_products

    async with capture_news(services) as published:
        await handlers.republish_lineup(services, LineupChanged(room_id=room["id"]))

    [event] = published
    assert event["type"] == ServerEvent.LINEUP
    assert [p["id"] for p in event["data"]["products"]] == [p["id"] for p in products]
    assert event["state"] == {"lineup": event["data"]["products"]}


async def test_a_pin_tells_the_room_the_whole_product(services: Services, room_with_products):
    _, room, products = room_with_products

    async with capture_news(services) as published:
        await handlers.announce_pin(services, ProductPinned(
            room_id=room["id"], product_id=products[0]["id"], replaced=None))

    [event] = published
    assert event["type"] == ServerEvent.PIN
    assert event["data"]["product"]["description"] == "Hand-rolled hems"
    assert event["state"] == {"pin": event["data"]["product"]}


async def test_an_unpin_clears_the_rooms_pin(services: Services, room_with_products):
    _, room, products = room_with_products

    async with capture_news(services) as published:
        await handlers.announce_unpin(services, ProductUnpinned(
            room_id=room["id"], product_id=products[0]["id"]))

    # (the units left of a product just pinned may be flushed, coalesced, in the same moment)
    assert [e for e in published if e["type"] != ServerEvent.VARIANT_STOCK] == [
        {"room_id": room["id"], "type": ServerEvent.UNPIN,
         "data": {"product_id": products[0]["id"]}, "state": {"pin": None}}]


async def test_a_mute_is_enforced_and_told_then_lifted(services: Services, make_user):
    viewer = await make_user()
    muted = moderation.muted_key(services.keys, 5)

    async with capture_news(services) as published:
        await handlers.enforce_mute(services, UserMuted(room_id=5, user_id=viewer.id,
                                                        until_epoch_s=None, muted_by=1))
        assert await services.redis.hget(muted, str(viewer.id)) in (b"0", "0")
        await handlers.lift_mute(services, UserUnmuted(room_id=5, user_id=viewer.id,
                                                       unmuted_by=1))

    assert await services.redis.hget(muted, str(viewer.id)) is None
    assert [(e["type"], e["data"]["action"], e["data"]["user_id"]) for e in published] == [
        (ServerEvent.MODERATION, "mute", viewer.id), (ServerEvent.MODERATION, "unmute", viewer.id)]


async def test_a_deleted_chat_line_leaves_the_snapshot_and_is_told(services: Services):
    async with capture_news(services) as published:
        await handlers.remove_chat_message(services, ChatMessageDeleted(
            room_id=5, message_id="m-1", deleted_by=1))

    assert await services.redis.zscore(moderation.deleted_key(services.keys, 5), "m-1")
    assert [(e["type"], e["data"]["action"], e["data"]["message_id"]) for e in published] == [
        (ServerEvent.MODERATION, "delete", "m-1")]


async def test_a_new_sale_pins_its_product(client, services: Services, make_sale):
    # given a sale whose product the host has since unpinned
    sale = await make_sale(quantity=2)
    await client.delete(f"/api/rooms/{sale.room['id']}/pin", headers=sale.host.headers)

    async with capture_news(services) as published:
        await handlers.pin_product_of_new_sale(services, SaleCreated(
            sale_id=sale.id, room_id=sale.room["id"], product_id=sale.product["id"],
            quantity=2, action=SaleAction.STARTED))

    assert [(e["type"], e["data"]["product"]["id"]) for e in published] == [
        (ServerEvent.PIN, sale.product["id"])]
    room = (await client.get(f"/api/rooms/{sale.room['id']}")).json()
    assert room["pinned_product_id"] == sale.product["id"]
