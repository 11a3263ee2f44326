"""Each domain-event handler of workers/handlers.py does its one job, called with an event."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.context import Services
from live.models import Product
from orders.events import (
    OrderCancelled,
    OrderPaid,
    RefundQueued,
    SaleAction,
    SaleCreated,
    SaleEnded,
    SaleSettled,
    SaleStarted,
    SaleStockChanged,
    SaleStopped,
    UnitsReleased,
)
from tests.conftest import capture_news
from tests.orders.conftest import buy
from tests.orders.regular_helpers import checkout, fill_cart, open_shop, with_address
from tests.orders.test_buy import statements_seen
from workers import handlers


async def _stock_of(services: Services, product_id: int) -> int:
    async with services.db.session() as session:
        stock = await session.scalar(select(Product.stock).where(Product.id == product_id))
    assert stock is not None
    return stock


@pytest.mark.parametrize(("handler", "event_type", "action"), [
    (handlers.announce_created_sale, SaleCreated, "started"),
    (handlers.announce_started_sale, SaleStarted, "started"),
    (handlers.announce_ended_sale, SaleEnded, "ended"),
    (handlers.announce_stopped_sale, SaleStopped, "stopped"),
])
async def test_a_sale_event_tells_the_room_the_sale_and_its_counters(
        make_sale, services: Services, handler: Any, event_type: Any, action: str):
    sale = await make_sale(quantity=4)
    fields: dict[str, Any] = {"sale_id": sale.id, "room_id": sale.room["id"]}
    if event_type is SaleCreated:
        fields.update(product_id=sale.product["id"], quantity=4, action=SaleAction.STARTED)
    if event_type is SaleStopped:
        fields["stopped_by"] = None

    async with capture_news(services) as published:
        await handler(services, event_type(**fields))

    # (a coalesced `variant_stock` flush of an earlier move may land in the same moment)
    [event] = [e for e in published if e["type"] == "sale"]
    assert (event["room_id"], event["type"], event["data"]["action"]) == (
        sale.room["id"], "sale", action)
    assert event["data"]["sale"]["id"] == sale.id
    assert event["state"]["stock"] == {"sale_id": sale.id, "remaining": 4, "reserved": 0,
                                       "sold": 0}


async def test_a_created_or_settled_sale_republishes_the_rooms_lineup(
        make_sale, services: Services):
    sale = await make_sale(stock=10, quantity=4)

    async with capture_news(services) as published:
        await handlers.republish_lineup(services, SaleCreated(
            sale_id=sale.id, room_id=sale.room["id"], product_id=sale.product["id"],
            quantity=4, action=SaleAction.STARTED))
        await handlers.republish_lineup(services, SaleSettled(
            sale_id=sale.id, room_id=sale.room["id"], product_id=sale.product["id"],
            units_returned=0))

    assert [e["type"] for e in published] == ["lineup", "lineup"]
    assert [p["stock"] for p in published[0]["data"]["products"]] == [6]


async def test_a_stock_change_tells_the_room_the_counters(client, make_user, make_sale,
                                                          services: Services):
    sale = await make_sale(quantity=4)
    await buy(client, await make_user(), sale.id, "k")

    async with capture_news(services) as published:
        await handlers.publish_sale_stock(services, SaleStockChanged(
            sale_id=sale.id, room_id=sale.room["id"]))

    assert published == [{"room_id": sale.room["id"], "type": "stock",
                           "data": {"sale_id": sale.id, "remaining": 3, "reserved": 1,
                                    "sold": 0},
                           "state": {"stock": {"sale_id": sale.id, "remaining": 3,
                                               "reserved": 1, "sold": 0}}}]


async def test_an_order_event_tells_its_buyer_the_order_as_committed(
        client, make_user, make_sale, services: Services):
    sale = await make_sale(quantity=4)
    buyer = await make_user()
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]

    async with capture_news(services) as published:
        await handlers.notify_buyer(services, OrderPaid(order_id=order["id"], sale_id=sale.id,
                                                        user_id=buyer.id))

    [event] = published
    assert (event["user_id"], event["type"]) == (buyer.id, "order")
    assert event["data"] == order


async def test_a_queued_refund_is_handed_to_a_worker(services: Services,
                                                     monkeypatch: pytest.MonkeyPatch):
    from workers import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.deliver_refund, "delay", sent.append)

    await handlers.send_refund_to_provider(services, RefundQueued(outbox_id=41, order_id=7))

    assert sent == [41]


async def test_a_refund_that_cannot_be_enqueued_is_left_to_the_relay(
        services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    from workers import tasks

    def broker_down(outbox_id: int) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.deliver_refund, "delay", broker_down)

    await handlers.send_refund_to_provider(services, RefundQueued(outbox_id=41, order_id=7))

    assert "the outbox relay will" in caplog.text


async def test_released_units_go_back_to_the_product_in_the_callers_transaction(
        make_sale, services: Services):
    sale = await make_sale(stock=10, quantity=4)
    product_id = sale.product["id"]

    # a rolled-back transaction gives nothing back
    with pytest.raises(RuntimeError):
        async with services.db.transaction() as session:
            await services.events.run_in_transaction(session, UnitsReleased(
                product_id=product_id, units=3, sale_id=sale.id))
            raise RuntimeError("the settlement failed")
    assert await _stock_of(services, product_id) == 6

    async with services.db.transaction() as session:
        await handlers.return_units_to_product(session, UnitsReleased(
            product_id=product_id, units=3, sale_id=sale.id))
    assert await _stock_of(services, product_id) == 9


async def test_an_in_transaction_event_with_no_handler_fails_the_action(services: Services):
    from core.events import EventBus

    bare = EventBus()
    async with services.db.session() as session:
        with pytest.raises(LookupError, match="UnitsReleased"):
            await bare.run_in_transaction(session, UnitsReleased(product_id=1, units=1,
                                                                 sale_id=1))


async def test_a_regular_orders_cancel_tells_its_buyer_without_reading_its_lines(
        client, make_user, make_product, make_room, services: Services):
    # given a regular-price order of two lines, cancelled by its buyer
    shop = await open_shop(client, make_user, make_product, make_room)
    buyer = await with_address(client, await make_user())
    await fill_cart(client, buyer, shop.room["id"],
                    [(shop.variant("S", "Blue"), 1), (shop.mug_variant["id"], 2)])
    order = (await checkout(client, buyer, shop.room["id"])).json()["order"]
    cancelled = await client.post(f"/api/orders/{order['id']}/cancel", headers=buyer.headers)
    assert cancelled.status_code == 200, cancelled.text

    # when its event reaches the handler (as an expiry sweep's thousands do)
    async with capture_news(services) as published:
        with statements_seen(services) as statements:
            await handlers.notify_buyer(services, OrderCancelled(
                order_id=order["id"], sale_id=None, user_id=buyer.id))

    # then the buyer hears the move, read with the order alone: no lines, no ledger
    [event] = [e for e in published if e["type"] == "order"]
    assert (event["data"]["id"], event["data"]["kind"], event["data"]["status"]) == (
        order["id"], "regular", "cancelled")
    assert "lines" not in event["data"]
    assert [s for s in statements if "order_lines" in s or "commission_entries" in s] == []
    assert len(statements) == 1
