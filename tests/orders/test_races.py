"""Races, with the invariant checked after each: an expiry against a payment, Redis lost in
the middle of a sale, and the reconcile command."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import orjson
from sqlalchemy import func, select, update

from core.context import Services
from orders import order_moves, paying, reconcile
from orders.models import Order, OrderEvent, OutboxMessage, Payment, SaleEvent
from orders.payments.sandbox import WEBHOOK_PATH, SandboxProvider
from orders.reconcile import check_invariant
from tests.infra import ROOT
from tests.orders.conftest import buy


async def test_expiry_racing_payments_has_one_winner_per_order(client, make_buyers, make_sale,
                                                               services: Services):
    # given 40 units, 40 orders past their hold whose payments are landing late, and 20 more
    # buyers ready to take any unit the expiry frees
    sale = await make_sale(quantity=40)
    buyers = await make_buyers(60)
    orders = [(await buy(client, b, sale.id, "k")).json()["order"] for b in buyers[:40]]
    events = []
    for order in orders:
        outbox_id = await paying.submit_sandbox_payment(services, order["id"], pay=True)
        async with services.db.session() as session:
            message = await session.get(OutboxMessage, outbox_id)
        assert message is not None
        events.append(message.payload["event"])
    async with services.db.transaction() as session:
        await session.execute(update(Order).values(hold_expires_at=func.now()))
        await session.execute(update(Payment).values(created_at=func.now() - func.make_interval(
            0, 0, 0, 0, 0, 0, paying.PAYMENT_IN_FLIGHT_GRACE_SECONDS + 1)))
    provider = SandboxProvider.from_settings(services.settings)

    async def deliver(event: dict) -> str:
        body = orjson.dumps(event)
        response = await client.post(WEBHOOK_PATH, content=body,
                                     headers=provider.signed_headers(body))
        assert response.status_code == 200, response.text
        return str(response.json()["outcome"])

    # when three sweepers, the 40 payments and the 20 new buyers all run at once
    results = await asyncio.gather(
        *(order_moves.expire_due_orders(services) for _ in range(3)),
        *(deliver(e) for e in events),
        *(buy(client, b, sale.id, "late") for b in buyers[40:]))

    # then each order has one fate: paid (with its money kept), or expired with its payment
    # refunded; no order moved twice the same way; and the units add up
    outcomes = results[3:43]
    assert set(outcomes) <= {"paid", "paid_after_expiry", "refunded_after_expiry"}
    async with services.db.session() as session:
        for order, outcome in zip(orders, outcomes, strict=True):
            row = await session.get(Order, order["id"])
            payment = await session.scalar(select(Payment).where(Payment.order_id == order["id"]))
            moves = list(await session.scalars(select(OrderEvent.type).where(
                OrderEvent.order_id == order["id"]).order_by(OrderEvent.id)))
            assert row is not None and payment is not None
            if outcome == "refunded_after_expiry":
                assert (row.status, payment.status) == ("expired", "refunded")
            else:
                assert (row.status, payment.status) == ("paid", "succeeded")
            assert len(moves) == len(set(moves))
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems


async def test_redis_lost_mid_sale_then_reconcile_keeps_every_acknowledged_order(
        client, make_buyers, make_sale, services: Services):
    # given 150 units, 100 of them bought; 200 more buyers press buy, and after the tenth of
    # them got its answer the sale's Redis keys are wiped while the rest are in flight; then
    # 200 more arrive
    sale = await make_sale(stock=150, quantity=150)
    buyers = await make_buyers(500)
    first_wave = await asyncio.gather(*(buy(client, b, sale.id, f"k{b.id}") for b in buyers[:100]))
    answered = 0
    wiped = asyncio.Event()

    async def buy_and_maybe_wipe(buyer):  # type: ignore[no-untyped-def]
        nonlocal answered
        response = await buy(client, buyer, sale.id, f"k{buyer.id}")
        answered += 1
        if answered == 10:
            keys = [k async for k in services.redis.scan_iter(
                match=services.keys.sale(sale.id) + "*")]
            await services.redis.delete(*keys)
            wiped.set()
        return response

    second_wave = await asyncio.gather(*(buy_and_maybe_wipe(b) for b in buyers[100:300]))
    assert wiped.is_set()
    third_wave = await asyncio.gather(*(buy(client, b, sale.id, f"k{b.id}") for b in buyers[300:]))
    responses = [*first_wave, *second_wave, *third_wave]

    # when the operator reconciles
    report = await reconcile.reconcile_sale(services, sale.id)

    # then every order that got a 2xx exists, no unit was sold twice, and the counters add up
    accepted = [r.json()["order"]["id"] for r in responses if r.status_code == 201]
    refused = {r.json()["error"]["code"] for r in responses if r.status_code != 201}
    assert refused <= {"sold_out", "sale_unavailable"}
    assert not [r for r in responses if r.status_code >= 500 and r.status_code != 503]
    async with services.db.session() as session:
        ids = set(await session.scalars(select(Order.id).where(Order.sale_id == sale.id)))
    assert set(accepted) <= ids
    assert len(ids) <= 150
    assert report.reserved == len(ids) and report.available == 150 - len(ids)
    invariant = await check_invariant(services, sale.id)
    assert invariant.ok, invariant.problems
    async with services.db.session() as session:
        rebuilds = await session.scalar(select(func.count()).select_from(SaleEvent).where(
            SaleEvent.sale_id == sale.id, SaleEvent.type == "sale_reconciled"))
    assert rebuilds == 3  # at the start, when a buyer found the keys gone, by the operator


async def test_the_reconcile_command_rebuilds_a_sale(client, make_user, make_sale, infra,
                                                     services: Services):
    sale = await make_sale(quantity=4, per_user_limit=2)
    buyer = await make_user()
    assert (await buy(client, buyer, sale.id, "k", quantity=2)).status_code == 201
    keys = [k async for k in services.redis.scan_iter(match=services.keys.sale(sale.id) + "*")]
    await services.redis.delete(*keys)

    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "web.cli", "reconcile", str(sale.id)],
        cwd=ROOT, env={**os.environ, **infra.env()}, capture_output=True, timeout=60)

    assert result.returncode == 0, result.stderr.decode()
    printed = orjson.loads(result.stdout)
    assert (printed["available"], printed["reserved"], printed["initial"]) == (2, 2, 4)
    again = await buy(client, buyer, sale.id, "k2")
    assert again.json()["error"]["code"] == "limit_reached"  # per-user counts came back too
    invariant = await check_invariant(services, sale.id)
    assert invariant.ok, invariant.problems
    checked = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "web.cli", "check", str(sale.id)],
        cwd=ROOT, env={**os.environ, **infra.env()}, capture_output=True, timeout=60)
    assert checked.returncode == 0, checked.stderr.decode()
    assert orjson.loads(checked.stdout)["ok"] is True
