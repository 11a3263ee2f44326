"""The room hears the units left of a product's variants at the regular price: after a buy, a
cancel or a sale taking its units (`variant_stock` events, after the commit), coalesced to one
event per product per interval, and a viewer's hello carries the last one."""

from __future__ import annotations

from typing import Any

from core.context import Services
from orders.runtime import VariantStockPublisher
from tests.conftest import capture_news
from tests.orders.regular_helpers import buy, open_shop, with_address
from tests.realtime.conftest import Connect


def _left(event: dict[str, Any], variant_id: int) -> int | None:
    return next((v["remaining"] for v in event["data"]["variants"] if v["id"] == variant_id),
                None)


async def test_buys_and_cancels_tell_the_room_the_units_left(
        client, make_user, make_product, make_room, connect_viewer: Connect,
        services: Services) -> None:
    # given a viewer in a live room with a shirt (M / Blue: 3 units)
    shop = await open_shop(client, make_user, make_product, make_room)
    shirt, blue_m = shop.shirt["id"], shop.variant("M", "Blue")
    viewer = await connect_viewer(shop.room["id"])
    await viewer.next("hello")

    # when a buyer holds 2 of them
    buyer = await with_address(client, await make_user())
    placed = await buy(client, buyer, shop.room["id"], blue_m, 2)
    assert placed.status_code == 201, placed.text

    # then the room hears 1 left of M / Blue, and the shirt's units left in all
    held = await viewer.next("variant_stock", where=lambda e: (
        e["data"]["product_id"] == shirt and _left(e, blue_m) == 1))
    assert held["data"]["remaining"] == 5 + 1 + 2 + 0

    # when the buyer cancels, the units are back for everyone
    order_id = placed.json()["order"]["id"]
    cancelled = await client.post(f"/api/orders/{order_id}/cancel", headers=buyer.headers)
    assert cancelled.status_code == 200, cancelled.text
    await viewer.next("variant_stock", where=lambda e: (
        e["data"]["product_id"] == shirt and _left(e, blue_m) == 3))

    # and a viewer who comes in now finds the units left in the room's state
    late = await connect_viewer(shop.room["id"])
    hello = await late.next("hello")
    state = hello["data"][f"variant_stock:{shirt}"]
    assert (state["remaining"], _left({"data": state}, blue_m)) == (10, 3)


async def test_a_flash_sale_taking_units_tells_the_room(
        client, make_user, make_product, make_room, connect_viewer: Connect) -> None:
    host = await make_user("host")
    mug = await make_product(host, title="Tea mug", price_minor=800, stock=10)
    room = await make_room(host, products=[mug], live=True)
    viewer = await connect_viewer(room["id"])
    await viewer.next("hello")

    sale = await client.post(f"/api/rooms/{room['id']}/sales", headers=host.headers, json={
        "product_id": mug["id"], "price_minor": 500, "quantity": 4, "duration_seconds": 600})
    assert sale.status_code == 201, sale.text

    await viewer.next("variant_stock", where=lambda e: (
        e["data"]["product_id"] == mug["id"] and e["data"]["remaining"] == 6))


async def test_a_burst_of_changes_is_one_event_per_product(
        client, make_user, make_product, make_room, services: Services) -> None:
    shop = await open_shop(client, make_user, make_product, make_room)
    # a room of its own: the app's handlers publish the shop's room's news meanwhile
    room = await make_room(shop.host)
    publisher = VariantStockPublisher(services)

    async with capture_news(services) as published:
        for _ in range(50):  # fifty buys' news within one interval
            publisher.changed(room["id"], [shop.shirt["id"], shop.mug["id"]])
        assert publisher.task is not None
        await publisher.task

    units = [e for e in published if e["type"] == "variant_stock" and e["room_id"] == room["id"]]
    assert sorted(e["data"]["product_id"] for e in units) == sorted(
        [shop.shirt["id"], shop.mug["id"]])
    assert {e["data"]["product_id"]: e["data"]["remaining"] for e in units} == {
        shop.shirt["id"]: 10, shop.mug["id"]: 10}
