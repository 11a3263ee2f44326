"""Effects after commit: refunds through the outbox, nothing heard of a rolled-back action."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from core.context import Services
from orders import commissions, order_moves, outbox, paying
from orders.models import OutboxKind, OutboxMessage, Payment
from tests.conftest import capture_news
from tests.orders.conftest import buy, deliver_sandbox_webhook, pay


class CountingProvider:
    """A provider at the edge of the world that remembers each refund by its key, as a real
    one's idempotency key does, and counts the calls."""

    name = "sandbox"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.refunds: dict[str, str] = {}

    async def refund(self, provider_ref: str, amount_minor: int, currency: str, *,
                     refund_key: str) -> str:
        self.calls.append(refund_key)
        await asyncio.sleep(0)  # let a concurrent delivery interleave here
        return self.refunds.setdefault(refund_key, f"re_{len(self.refunds) + 1}")


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The refunds handed to Celery (recorded, not sent: no worker runs in these tests)."""
    from workers import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.deliver_refund, "delay", sent.append)
    return sent


async def _paid_order(client: httpx.AsyncClient, services: Services, make_user: Any,
                      make_sale: Any) -> tuple[Any, dict[str, Any]]:
    sale = await make_sale(quantity=3)
    order = (await buy(client, await make_user(), sale.id, "k")).json()["order"]
    paid = await pay(client, services, order["id"])
    assert paid.json()["outcome"] == "paid", paid.text
    return sale, order


async def _refund_messages(services: Services) -> list[OutboxMessage]:
    async with services.db.session() as session:
        return list(await session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == OutboxKind.PROVIDER_REFUND.value).order_by(OutboxMessage.id)))


async def _refund_waiting(client: Any, services: Services, make_user: Any,
                          make_sale: Any) -> OutboxMessage:
    """A paid order that ops refunded: its refund's message, waiting in the outbox."""
    _, order = await _paid_order(client, services, make_user, make_sale)
    await client.post(f"/api/orders/{order['id']}/refund",
                      headers=(await make_user("ops")).headers)
    [message] = await _refund_messages(services)
    return message


async def test_a_refund_is_queued_in_the_orders_transaction_and_delivered_once(
        client, make_user, make_sale, services: Services, enqueued: list[int]):
    # given a paid order
    _, order = await _paid_order(client, services, make_user, make_sale)
    ops = await make_user("ops")

    # when ops refund it
    refunded = await client.post(f"/api/orders/{order['id']}/refund", headers=ops.headers)

    # then the refund is in the outbox, committed with the order's move, and handed to a worker
    # after the commit; no provider was called inside the transaction
    assert refunded.status_code == 200 and refunded.json()["status"] == "refunded"
    [message] = await _refund_messages(services)
    assert message.delivered_at is None
    assert message.payload["order_id"] == order["id"]
    assert enqueued == [message.id]

    # when the delivery task runs twice, one after the other
    provider = CountingProvider()
    first = await outbox.deliver_refund(services, message.id, provider=provider)
    second = await outbox.deliver_refund(services, message.id, provider=provider)

    # then the provider refunded once
    assert (first, second) == ("delivered", "already_delivered")
    assert provider.calls == [message.payload["refund_key"]]
    [delivered] = await _refund_messages(services)
    assert delivered.delivered_at is not None and delivered.attempts == 1
    assert delivered.payload["refund_id"] == "re_1"


async def test_two_deliveries_of_one_refund_at_once_are_one_refund_at_the_provider(
        client, make_user, make_sale, services: Services, enqueued: list[int]):
    # given a refund waiting in the outbox
    message = await _refund_waiting(client, services, make_user, make_sale)

    # when two workers deliver it at the same time (a redelivered task)
    provider = CountingProvider()
    outcomes = await asyncio.gather(
        outbox.deliver_refund(services, message.id, provider=provider),
        outbox.deliver_refund(services, message.id, provider=provider))

    # then both asked by the same key, so the provider holds one refund
    assert "delivered" in outcomes
    assert set(provider.calls) == {message.payload["refund_key"]}
    assert len(provider.refunds) == 1


async def test_a_failed_refund_delivery_is_retried_by_the_same_key(
        client, make_user, make_sale, services: Services, enqueued: list[int]):
    # given a refund waiting in the outbox, and a provider that is down once
    message = await _refund_waiting(client, services, make_user, make_sale)

    class DownOnce(CountingProvider):
        async def refund(self, provider_ref: str, amount_minor: int, currency: str, *,
                         refund_key: str) -> str:
            if not self.calls:
                self.calls.append(refund_key)
                raise ConnectionError("provider unavailable")
            return await super().refund(provider_ref, amount_minor, currency,
                                        refund_key=refund_key)

    provider = DownOnce()

    # when the delivery fails, and the task's retry delivers it
    with pytest.raises(outbox.RefundDeliveryFailed):
        await outbox.deliver_refund(services, message.id, provider=provider)
    retried = await outbox.deliver_refund(services, message.id, provider=provider)

    # then the retry asked by the same key and the message is delivered
    assert retried == "delivered"
    assert provider.calls == [message.payload["refund_key"]] * 2
    [delivered] = await _refund_messages(services)
    assert delivered.attempts == 2 and delivered.delivered_at is not None


async def test_a_rolled_back_refund_publishes_nothing_and_queues_no_refund(
        client, make_user, make_sale, services: Services, enqueued: list[int],
        monkeypatch: pytest.MonkeyPatch):
    # given a paid order, and the commission ledger failing inside the refund's transaction
    # (after the refund was queued and the order moved)
    _, order = await _paid_order(client, services, make_user, make_sale)

    async def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("ledger unavailable")

    monkeypatch.setattr(commissions, "void_or_reverse", broken)

    ops = await make_user("ops")
    # when ops refund it
    async with capture_news(services) as published:
        with pytest.raises(RuntimeError):
            await order_moves.refund_order(services, ops.principal, order["id"])

    # then nothing happened: no refund queued or sent, the payment and order unchanged, and
    # neither the buyer nor the room heard of it
    assert await _refund_messages(services) == []
    assert enqueued == []
    assert published == []
    detail = await client.get(f"/api/orders/{order['id']}", headers=ops.headers)
    assert detail.json()["status"] == "paid"
    async with services.db.session() as session:
        statuses = list(await session.scalars(select(Payment.status).where(
            Payment.order_id == order["id"])))
    assert statuses == ["succeeded"]


async def test_a_late_payment_for_a_cancelled_order_is_refunded_through_the_outbox(
        client, make_user, make_sale, services: Services, enqueued: list[int]):
    # given an order whose payment is submitted, then the order is cancelled meanwhile
    sale = await make_sale(quantity=3)
    buyer = await make_user()
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]
    outbox_id = await paying.submit_sandbox_payment(services, order["id"], pay=True)
    async with services.db.transaction() as session:
        message = await session.get(OutboxMessage, outbox_id)
        # the payment is no longer in flight (its webhook is late), so the buyer may cancel
        await session.execute(update(Payment).where(Payment.order_id == order["id"]).values(
            created_at=func.now() - timedelta(seconds=paying.PAYMENT_IN_FLIGHT_GRACE_SECONDS + 1)))
    assert message is not None
    cancelled = await client.post(f"/api/orders/{order['id']}/cancel", headers=buyer.headers)
    assert cancelled.status_code == 200, cancelled.text

    # when the payment's success lands
    outcome = (await deliver_sandbox_webhook(client, services, message.id)).json()["outcome"]

    # then the money goes back through the outbox, handed to a worker after the commit
    assert outcome == "refunded_order_cancelled"
    [refund] = await _refund_messages(services)
    assert enqueued == [refund.id]
    assert refund.payload["order_id"] == order["id"]


async def test_a_refused_sale_takes_no_units_from_the_product_and_tells_no_one(
        client, make_sale, services: Services):
    # given a room with a sale running, 100 of its product's 500 units on sale
    sale = await make_sale(stock=500, quantity=100)

    # when the host starts a second sale of the same product there (live takes the units in
    # the sale's transaction, then orders refuses: one sale at a time per room)
    async with capture_news(services) as published:
        response = await client.post(f"/api/rooms/{sale.room['id']}/sales", json={
            "product_id": sale.product["id"], "price_minor": 100, "quantity": 50,
            "duration_seconds": 60}, headers=sale.host.headers)

    # then the units taken went back with the rollback, and the room heard nothing
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sale_in_progress"
    products = (await client.get("/api/products", headers=sale.host.headers)).json()
    assert [p["stock"] for p in products["products"]] == [400]
    assert published == []
