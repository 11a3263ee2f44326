"""The Celery side, through a real worker: webhook delivery with retries, redelivery after a
worker dies mid-task, the scheduled expiry sweep and sale clock."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import psutil
from sqlalchemy import func, select, update
from starlette.requests import Request
from starlette.responses import Response

from core.context import Services
from orders import paying
from orders.models import Order, OrderEvent, OutboxMessage, PaymentEvent, Sale
from orders.reconcile import check_invariant
from tests.conftest import poll_until
from tests.orders.conftest import buy
from web.payments import enqueue_webhook

pytestmark = __import__("pytest").mark.slow


async def _status(services: Services, order_id: int) -> str:
    async with services.db.session() as session:
        order = await session.get(Order, order_id)
    assert order is not None
    return order.status


async def _delivered(services: Services, outbox_id: int) -> OutboxMessage:
    async with services.db.session() as session:
        message = await session.get(OutboxMessage, outbox_id)
    assert message is not None
    return message


async def test_paying_on_the_sandbox_page_confirms_the_order_through_the_worker(
        celery_worker, app_server, make_user, make_sale, client, services: Services):
    # given a sale and a buyer who bought over HTTP from the app's own server
    sale = await make_sale(quantity=3)
    buyer = await make_user()
    async with httpx.AsyncClient(base_url=app_server.url) as http:
        bought = await http.post(f"/api/sales/{sale.id}/buy", json={},
                                 headers={**buyer.headers, "Idempotency-Key": "k"})
        order = bought.json()["order"]
        page = await http.get(order["payment_url"], headers=buyer.headers)
        signature = order["payment_url"].split("sig=")[1]

        # when they press Pay on the sandbox page
        submitted = await http.post(f"/sandbox/pay/{order['id']}", headers=buyer.headers,
                                    data={"sig": signature, "action": "pay"})

    # then the worker delivers the signed webhook and the order is paid
    assert bought.status_code == 201 and page.status_code == 200
    assert 'data-status="submitted"' in submitted.text

    async def paid() -> bool:
        return await _status(services, order["id"]) == "paid"

    await poll_until(paid, timeout=30, message="the order to be paid")

    async def sold() -> bool:  # Redis moves the unit to sold right after the commit
        report = await check_invariant(services, sale.id)
        return report.ok and report.redis is not None and report.redis.sold == 1

    await poll_until(sold, message="the unit to count as sold")


async def test_webhook_delivery_is_retried_until_the_endpoint_answers(
        celery_worker, webhook_gate, make_user, make_sale, client, services: Services):
    # given an endpoint that fails twice before it answers
    sale = await make_sale(quantity=3)
    order = (await buy(client, await make_user(), sale.id, "k")).json()["order"]

    async def flaky(request: Request, attempt: int) -> Response:
        if attempt <= 2:
            return Response("unavailable", status_code=503)
        return await webhook_gate.forward(request)

    webhook_gate.handler = flaky
    outbox_id = await paying.submit_sandbox_payment(webhook_gate.services(services),
                                                     order["id"], pay=True)

    # when the delivery is enqueued after the commit
    await enqueue_webhook(outbox_id)

    # then it is retried with backoff until it lands, and the payment applies once
    async def delivered() -> bool:
        return (await _delivered(services, outbox_id)).delivered_at is not None

    await poll_until(delivered, timeout=40, message="the webhook to be delivered")
    message = await _delivered(services, outbox_id)
    assert message.attempts == 3 and webhook_gate.attempts == 3
    assert await _status(services, order["id"]) == "paid"


async def test_a_worker_killed_mid_webhook_applies_the_payment_once(
        celery_worker, webhook_gate, make_user, make_sale, client, services: Services):
    # given a delivery whose first attempt reaches the app (the payment is applied) and then
    # stalls, so the worker process dies before it can acknowledge the task
    sale = await make_sale(quantity=3)
    order = (await buy(client, await make_user(), sale.id, "k")).json()["order"]
    applied, never = webhook_gate.event("applied"), webhook_gate.event("never")

    async def stall_after_applying(request: Request, attempt: int) -> Response:
        answer = await webhook_gate.forward(request)
        if attempt == 1:
            applied.set()
            await never.wait()
        return answer

    webhook_gate.handler = stall_after_applying
    outbox_id = await paying.submit_sandbox_payment(webhook_gate.services(services),
                                                     order["id"], pay=True)
    await enqueue_webhook(outbox_id)
    await asyncio.wait_for(applied.wait(), 30)

    # when the worker's pool process is killed mid-task
    pool = psutil.Process(celery_worker.process.pid).children()
    assert pool, "the worker has no pool process"
    for process in pool:
        process.kill()

    # then the task is redelivered (acks_late + reject_on_worker_lost) and the second
    # delivery is recognised as the same event: one payment, one paid move, one unit sold
    async def delivered() -> bool:
        return (await _delivered(services, outbox_id)).delivered_at is not None

    await poll_until(delivered, timeout=60, message="the redelivered webhook")
    assert webhook_gate.attempts == 2
    assert await _status(services, order["id"]) == "paid"
    async with services.db.session() as session:
        outcomes = list(await session.scalars(select(PaymentEvent.outcome)))
        moves = list(await session.scalars(select(OrderEvent.type).where(
            OrderEvent.order_id == order["id"]).order_by(OrderEvent.id)))
    assert outcomes == ["paid"]
    assert moves == ["order_placed", "order_paid"]
    report = await check_invariant(services, sale.id)
    assert report.ok and report.redis.sold == 1


async def test_the_scheduled_sweep_expires_unpaid_orders(
        celery_worker, celery_beat, make_user, make_sale, client, services: Services):
    # given an order whose hold is over
    sale = await make_sale(quantity=3)
    order = (await buy(client, await make_user(), sale.id, "k")).json()["order"]
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == order["id"]).values(
            hold_expires_at=func.now()))

    # when the scheduler's sweep runs on the worker, then it expires and the unit is back
    # (the unit goes back to Redis right after the expiry commits, so wait for both)
    async def expired_and_back() -> bool:
        report = await check_invariant(services, sale.id)
        return (await _status(services, order["id"]) == "expired" and report.ok
                and report.redis is not None and report.redis.available == 3)

    await poll_until(expired_and_back, timeout=30, message="the sweep to expire the order")


async def test_the_scheduler_starts_and_ends_a_sale_on_time(
        celery_worker, celery_beat, make_sale, services: Services):
    # given a sale that starts in a second and lasts five (the shortest a sale may be)
    sale = await make_sale(quantity=3, start_in_seconds=1, duration_seconds=5)
    assert sale.sale["status"] == "scheduled"

    async def status(wanted: str) -> bool:
        async with services.db.session() as session:
            row = await session.get(Sale, sale.id)
        return row is not None and row.status == wanted and (
            wanted != "ended" or row.settled_at is not None)

    # then it runs, and ends, and the room state says so
    await poll_until(lambda: status("running"), timeout=30, message="the sale to start")
    await poll_until(lambda: status("ended"), timeout=30, message="the sale to end and settle")
    state: dict[bytes, Any] = await services.redis.hgetall(
        services.keys.room(sale.room["id"], "state"))
    assert orjson.loads(state[b"sale"])["status"] == "ended"
