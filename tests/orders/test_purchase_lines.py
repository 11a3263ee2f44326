"""Social proof: a paid order tells its room "L*** just bought"; a busy room gets one line now
and then, with the payments in between counted on it."""

from __future__ import annotations

from typing import Any

import httpx

from core.context import Services
from orders import purchases
from tests.conftest import capture_news
from tests.orders.conftest import SaleSetup, buy, pay


async def _pay(client: httpx.AsyncClient, services: Services, buyer: Any, sale: SaleSetup,
               key: str) -> None:
    order = (await buy(client, buyer, sale.id, key)).json()["order"]
    paid = await pay(client, services, order["id"])
    assert paid.json()["outcome"] == "paid", paid.text


def _lines(published: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in published if e["type"] == "purchase"]


async def test_a_paid_order_tells_the_room_with_the_buyers_name_masked(
        client, services: Services, make_user, make_sale):
    # given a running sale and a buyer called Leo
    sale = await make_sale(quantity=3)
    leo = await make_user(name="Leo")

    # when Leo buys and pays
    async with capture_news(services) as published:
        await _pay(client, services, leo, sale, "k1")

    # then the room hears one purchase line, Leo's name masked, and the buyers so far
    [line] = _lines(published)
    assert line["room_id"] == sale.room["id"]
    assert line["data"] == {"name": "L***", "others": 0, "quantity": 1, "buyers": 1}
    assert line["state"] == {"buyers": 1}


async def test_a_busy_room_gets_one_line_with_the_others_counted(
        client, services: Services, make_user, make_sale):
    # given a room that just had a purchase line (its gate is shut)
    sale = await make_sale(quantity=5)
    room_id = sale.room["id"]
    gate = services.keys.room(room_id, "purchase_gate")
    await services.redis.set(gate, b"1", px=60_000)

    # when two buyers pay while the gate is shut
    async with capture_news(services) as published:
        await _pay(client, services, await make_user(name="Ann"), sale, "a")
        await _pay(client, services, await make_user(name="Bo"), sale, "b")
    # then no line goes out for them
    assert _lines(published) == []

    # when the gate opens and a third buyer pays
    await services.redis.delete(gate)
    async with capture_news(services) as published:
        await _pay(client, services, await make_user(name="Cy"), sale, "c")

    # then one line names the third and counts the two before, and all three buyers
    [line] = _lines(published)
    assert line["data"] == {"name": "C***", "others": 2, "quantity": 1, "buyers": 3}


def test_a_blank_name_is_someone() -> None:
    assert purchases.short_name("  ") == "Someone"
    assert purchases.short_name("李雷") == "李***"
