"""The sandbox gateway's webhook goes where the settings say, whatever the pay request's Host
header claims: through the app's own server and a real worker."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from core.context import Services
from orders.models import Order, OutboxMessage
from orders.payments.sandbox import WEBHOOK_PATH
from tests.conftest import poll_until
from tests.orders.conftest import buy

pytestmark = __import__("pytest").mark.slow


async def test_a_forged_host_header_does_not_redirect_the_webhook(
        celery_worker, app_server, make_user, make_sale, client, services: Services):
    # given a buyer with an order awaiting payment, and a server that sends the gateway's
    # webhooks to itself (INTERNAL_BASE_URL)
    sale = await make_sale(quantity=3)
    buyer = await make_user()
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]
    signature = order["payment_url"].split("sig=")[1]

    # when the Pay press arrives with a Host header naming another port
    async with httpx.AsyncClient(base_url=app_server.url) as http:
        submitted = await http.post(f"/sandbox/pay/{order['id']}",
                                    data={"sig": signature, "action": "pay"},
                                    headers={**buyer.headers, "Host": "127.0.0.1:1"})

    # then the queued webhook targets the configured URL, the worker delivers it there on the
    # first attempt, and the order is paid
    assert submitted.status_code == 200 and 'data-status="submitted"' in submitted.text
    async with services.db.session() as session:
        message = await session.scalar(select(OutboxMessage))
    assert message is not None
    assert message.payload["url"] == app_server.url + WEBHOOK_PATH

    async def paid() -> bool:
        async with services.db.session() as session:
            current = await session.get(Order, order["id"])
        return current is not None and current.status == "paid"

    await poll_until(paid, timeout=30, message="the order to be paid")

    async def delivered() -> bool:
        async with services.db.session() as session:
            sent = await session.get(OutboxMessage, message.id)
        return sent is not None and sent.delivered_at is not None

    await poll_until(delivered, message="the outbox message to be marked delivered")
    async with services.db.session() as session:
        sent = await session.get(OutboxMessage, message.id)
    assert sent is not None and sent.attempts == 1 and sent.last_error is None
