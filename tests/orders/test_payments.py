"""Payments: the sandbox page, signed webhooks applied once, and the order state machine."""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select, update

from core.context import Services
from live import queries as live_queries
from orders import order_moves, paying, sales
from orders.models import Order, OrderEvent, OutboxMessage, Payment, PaymentEvent
from orders.payments.sandbox import WEBHOOK_PATH, SandboxProvider
from orders.reconcile import check_invariant
from tests.conftest import capture_news
from tests.orders.conftest import buy


async def _queued_event(services: Services, order_id: int, *, pay: bool = True) -> dict[str, Any]:
    outbox_id = await paying.submit_sandbox_payment(
        services, order_id, pay=pay)
    async with services.db.session() as session:
        message = await session.get(OutboxMessage, outbox_id)
    assert message is not None
    event: dict[str, Any] = message.payload["event"]
    return event


async def _post(client: httpx.AsyncClient, services: Services, event: dict[str, Any], *,
                timestamp: int | None = None, secret: bytes | None = None) -> httpx.Response:
    provider = SandboxProvider.from_settings(services.settings)
    if secret is not None:
        provider = SandboxProvider(secret, provider.link_secret)
    body = orjson.dumps(event)
    return await client.post(WEBHOOK_PATH, content=body,
                             headers=provider.signed_headers(body, timestamp=timestamp))


async def _order(services: Services, order_id: int) -> Order:
    async with services.db.session() as session:
        order = await session.get(Order, order_id)
    assert order is not None
    return order


async def _event_types(services: Services, order_id: int) -> list[str]:
    async with services.db.session() as session:
        return list(await session.scalars(select(OrderEvent.type).where(
            OrderEvent.order_id == order_id).order_by(OrderEvent.id)))


@pytest.mark.redis6
async def test_the_sandbox_page_pays_and_the_webhook_confirms_the_order(
        client, make_user, make_sale, services: Services):
    # given a buyer with an order awaiting payment
    sale = await make_sale(quantity=5)
    buyer = await make_user()
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]

    # when they open the payment link, and the gateway's webhook for "Pay" arrives
    page = await client.get(order["payment_url"],
                            headers={**buyer.headers, "Accept-Language": "en"})
    forged_link = await client.get(f"/sandbox/pay/{order['id']}?sig=0000", headers=buyer.headers)
    event = await _queued_event(services, order["id"])
    async with capture_news(services) as published:
        response = await _post(client, services, event)

    # then the page offers Pay and Decline, the order is paid, and the buyer is told
    assert page.status_code == 200 and 'value="pay"' in page.text and "$15.00" in page.text
    assert forged_link.status_code == 403
    assert response.status_code == 200 and response.json()["outcome"] == "paid"
    assert (await _order(services, order["id"])).status == "paid"
    assert await _event_types(services, order["id"]) == ["order_placed", "order_paid"]
    mine = [e for e in published if e.get("user_id") == buyer.id]
    assert mine and mine[0]["type"] == "order" and mine[0]["data"]["status"] == "paid"
    stock_ticks = [e for e in published if e["type"] == "stock"]
    assert stock_ticks and stock_ticks[-1]["data"]["sold"] == 1
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems
    assert (report.redis.reserved, report.redis.sold) == (0, 1)


async def test_pay_page_form_submits_and_queues_one_signed_webhook(client, make_user, make_sale,
                                                                   services: Services):
    sale = await make_sale(quantity=5)
    buyer = await make_user()
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]
    signature = order["payment_url"].split("sig=")[1]

    submitted = await client.post(f"/sandbox/pay/{order['id']}", headers=buyer.headers,
                                  data={"sig": signature, "action": "pay"})
    again = await client.post(f"/sandbox/pay/{order['id']}", headers=buyer.headers,
                              data={"sig": signature, "action": "pay"})

    assert submitted.status_code == 200 and 'data-status="submitted"' in submitted.text
    assert again.status_code == 409 and "payment_in_flight" in again.text
    async with services.db.session() as session:
        messages = list(await session.scalars(select(OutboxMessage)))
    assert len(messages) == 1
    assert messages[0].payload["event"]["type"] == "payment.succeeded"
    assert messages[0].payload["url"] == services.settings.internal_base_url + WEBHOOK_PATH


async def test_forged_stale_replayed_and_shuffled_webhooks_have_one_effect(
        client, make_user, make_sale, services: Services):
    # given an order and the gateway's success event for it
    sale = await make_sale(quantity=5)
    buyer = await make_user()
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]
    succeeded = await _queued_event(services, order["id"])
    failed = {**succeeded, "id": "evt_failed_late", "type": "payment.failed"}

    # when a forger signs with the wrong key, someone replays a 10-minute-old delivery,
    # and the real event arrives three times, shuffled with a late failure for the same payment
    forged = await _post(client, services, succeeded, secret=b"not-the-secret")
    stale = await _post(client, services, succeeded, timestamp=int(time.time()) - 600)
    tampered_body = orjson.dumps({**succeeded, "data": {**succeeded["data"], "amount_minor": 1}})
    good_headers = SandboxProvider.from_settings(services.settings).signed_headers(
        orjson.dumps(succeeded))
    tampered = await client.post(WEBHOOK_PATH, content=tampered_body, headers=good_headers)
    deliveries = [succeeded, succeeded, failed, succeeded]
    random.Random(7).shuffle(deliveries)
    outcomes = [(await _post(client, services, e)).json()["outcome"] for e in deliveries]

    # then the forged, stale and tampered ones are refused, and the payment applies once
    assert (forged.status_code, forged.json()["error"]["code"]) == (400, "bad_signature")
    assert (stale.status_code, stale.json()["error"]["code"]) == (400, "stale_webhook")
    assert (tampered.status_code, tampered.json()["error"]["code"]) == (400, "bad_signature")
    assert outcomes.count("paid") == 1
    assert outcomes.count("duplicate") == 2
    assert (await _order(services, order["id"])).status == "paid"
    assert await _event_types(services, order["id"]) == ["order_placed", "order_paid"]
    async with services.db.session() as session:
        recorded = await session.scalar(select(func.count()).select_from(PaymentEvent))
    assert recorded == 2  # the success and the failure, once each
    report = await check_invariant(services, sale.id)
    assert report.ok and report.redis.sold == 1


async def test_a_declined_payment_leaves_the_order_payable(client, make_user, make_sale,
                                                           services: Services):
    sale = await make_sale(quantity=5)
    buyer = await make_user()
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]

    declined = await _post(client, services, await _queued_event(services, order["id"], pay=False))
    paid = await _post(client, services, await _queued_event(services, order["id"]))

    assert declined.json()["outcome"] == "payment_failed"
    assert paid.json()["outcome"] == "paid"
    assert (await _order(services, order["id"])).status == "paid"


async def test_the_buyer_cancels_and_the_units_go_back_once(client, make_user, make_sale,
                                                            services: Services):
    sale = await make_sale(quantity=3)
    buyer = await make_user()
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]

    stranger = await client.post(f"/api/orders/{order['id']}/cancel",
                                 headers=(await make_user()).headers)
    cancelled = await client.post(f"/api/orders/{order['id']}/cancel", headers=buyer.headers)
    twice = await client.post(f"/api/orders/{order['id']}/cancel", headers=buyer.headers)

    assert stranger.status_code == 403
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "illegal_transition")
    report = await check_invariant(services, sale.id)
    assert report.ok and report.redis.available == 3
    # the buyer may buy again: their per-user count went back with the units
    assert (await buy(client, buyer, sale.id, "k2")).status_code == 201


async def test_unpaid_orders_expire_and_give_their_units_back(client, make_user, make_sale,
                                                              services: Services):
    # given three orders: two past their hold, one of which has a payment in flight
    sale = await make_sale(quantity=5)
    orders = [(await buy(client, await make_user(), sale.id, "k")).json()["order"]
              for _ in range(3)]
    await _queued_event(services, orders[1]["id"])  # the buyer pressed Pay; no webhook yet
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id.in_([orders[0]["id"], orders[1]["id"]]))
                              .values(hold_expires_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 1)))

    # when the sweep runs (twice: the second finds nothing)
    first = await order_moves.expire_due_orders(services)
    second = await order_moves.expire_due_orders(services)

    # then only the unpaid one past its hold expired, and its unit went back once
    assert first == [orders[0]["id"]] and second == []
    assert [(await _order(services, o["id"])).status for o in orders] == [
        "expired", "pending_payment", "pending_payment"]
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems
    assert (report.redis.available, report.redis.reserved) == (3, 2)


async def _expire_with_payment_in_flight(services: Services, order_id: int) -> None:
    """The buyer pressed Pay but the webhook is later than the in-flight grace: the sweep
    expires the order."""
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == order_id).values(
            hold_expires_at=func.now()))
        await session.execute(update(Payment).where(Payment.order_id == order_id).values(
            created_at=func.now() - func.make_interval(
                0, 0, 0, 0, 0, 0, paying.PAYMENT_IN_FLIGHT_GRACE_SECONDS + 1)))
    assert await order_moves.expire_due_orders(services) == [order_id]


async def test_a_payment_after_expiry_re_reserves_while_a_unit_is_free(
        client, make_user, make_sale, services: Services):
    # given a sale of one unit whose order expired while its payment was in flight
    sale = await make_sale(quantity=1)
    late = (await buy(client, await make_user(), sale.id, "k")).json()["order"]
    late_event = await _queued_event(services, late["id"])
    await _expire_with_payment_in_flight(services, late["id"])

    # when its payment lands while the unit is still free
    outcome = (await _post(client, services, late_event)).json()["outcome"]

    # then the unit is re-reserved for it and the order is paid
    assert outcome == "paid_after_expiry"
    assert (await _order(services, late["id"])).status == "paid"
    assert await _event_types(services, late["id"]) == [
        "order_placed", "order_expired", "order_paid"]
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems
    assert report.redis.sold == 1


async def test_a_late_payment_for_a_unit_sold_meanwhile_is_refunded(client, make_user, make_sale,
                                                                    services: Services):
    # given a one-unit sale whose first order expired and whose unit a second buyer took
    sale = await make_sale(quantity=1)
    late = (await buy(client, await make_user(), sale.id, "k")).json()["order"]
    late_event = await _queued_event(services, late["id"])
    await _expire_with_payment_in_flight(services, late["id"])
    second = (await buy(client, await make_user(), sale.id, "k2")).json()["order"]

    # when the first buyer's payment lands
    outcome = (await _post(client, services, late_event)).json()["outcome"]

    # then it is refunded, and the second buyer keeps the unit
    assert outcome == "refunded_after_expiry"
    assert (await _order(services, late["id"])).status == "expired"
    assert (await _order(services, second["id"])).status == "pending_payment"
    async with services.db.session() as session:
        statuses = list(await session.scalars(select(Payment.status)))
    assert statuses == ["refunded"]
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems


async def test_ops_refund_a_paid_order_and_the_unit_goes_back(client, make_user, make_sale,
                                                              services: Services):
    sale = await make_sale(quantity=2)
    buyer = await make_user()
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]
    await _post(client, services, await _queued_event(services, order["id"]))
    ops = await make_user("ops")

    by_buyer = await client.post(f"/api/orders/{order['id']}/refund", headers=buyer.headers)
    refunded = await client.post(f"/api/orders/{order['id']}/refund", headers=ops.headers)
    again = await client.post(f"/api/orders/{order['id']}/refund", headers=ops.headers)

    assert by_buyer.status_code == 403
    assert refunded.status_code == 200 and refunded.json()["status"] == "refunded"
    assert again.status_code == 409
    assert await _event_types(services, order["id"]) == [
        "order_placed", "order_paid", "order_refunded"]
    report = await check_invariant(services, sale.id)
    assert report.ok and (report.redis.available, report.redis.sold) == (2, 0)


async def test_an_ended_sale_settles_once_its_orders_are_decided(client, make_user, make_sale,
                                                                 services: Services):
    # given a product with 50 units, 10 of them on sale; one sold, one awaiting payment
    sale = await make_sale(stock=50, quantity=10)
    paid = (await buy(client, await make_user(), sale.id, "a")).json()["order"]
    await _post(client, services, await _queued_event(services, paid["id"]))
    pending = (await buy(client, await make_user(), sale.id, "b")).json()["order"]
    product_url = f"/api/products/{sale.product['id']}"

    # when the host stops the sale, and later the pending order expires
    await client.post(f"/api/sales/{sale.id}/stop", headers=sale.host.headers)
    before = await _product_stock(client, sale, product_url)
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == pending["id"]).values(
            hold_expires_at=func.now()))
    await order_moves.expire_due_orders(services)
    after = await _product_stock(client, sale, product_url)

    # then nothing went back while an order was open, and exactly the unsold 9 went back after
    assert before == 40
    assert after == 49
    assert await sales.settle_sale(services, sale.id) is None  # once only


async def _product_stock(client: httpx.AsyncClient, sale: Any, url: str) -> int:
    products = (await client.get("/api/products", headers=sale.host.headers)).json()["products"]
    return int(next(p for p in products if p["id"] == sale.product["id"])["stock"])


async def test_the_host_completes_a_paid_order_once(client, make_user, make_sale,
                                                    services: Services):
    sale = await make_sale(quantity=2)
    buyer = await make_user()
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]
    unpaid = await client.post(f"/api/orders/{order['id']}/complete", headers=sale.host.headers)
    await _post(client, services, await _queued_event(services, order["id"]))

    other_host = await client.post(f"/api/orders/{order['id']}/complete",
                                   headers=(await make_user("host")).headers)
    completed = await client.post(f"/api/orders/{order['id']}/complete",
                                  headers=sale.host.headers)
    refund = await client.post(f"/api/orders/{order['id']}/refund",
                               headers=(await make_user("ops")).headers)

    assert unpaid.status_code == 409
    assert other_host.status_code == 403
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    # a completed order can still be refunded (a return: docs/commissions.md), once
    assert refund.status_code == 200 and refund.json()["status"] == "refunded"
    assert await _event_types(services, order["id"]) == [
        "order_placed", "order_paid", "order_completed", "order_refunded"]
    report = await check_invariant(services, sale.id)
    assert report.ok and report.redis.sold == 0


async def test_a_sale_stops_when_its_room_ends(client, make_user, make_sale, services: Services):
    sale = await make_sale(quantity=5)
    ended = await client.post(f"/api/rooms/{sale.room['id']}/status",
                              json={"status": "ended", "end_running_sale": True},
                              headers=sale.host.headers)

    moved = await sales.advance_sales(
        services, ended_rooms=lambda room_ids: live_queries.ended_rooms(services, room_ids))
    late = await buy(client, await make_user(), sale.id, "k")

    assert ended.status_code == 200
    assert moved["stopped_with_room"] == [sale.id]
    assert late.json()["error"]["code"] == "sale_ended"
    detail = (await client.get(f"/api/sales/{sale.id}")).json()
    assert detail["status"] == "ended" and detail["remaining"] == 5

