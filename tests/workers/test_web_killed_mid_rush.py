"""`kill -9` of the web process in the middle of a rush of buyers: with no operator step, the
units its dead requests had reserved come back, `livesell check` is clean again, and the buyers
whose answer was lost can buy with the same key (docs/decisions/0013)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
import orjson
from sqlalchemy import func, select

from core.context import Services
from orders import stock
from orders.models import Order
from orders.reconcile import check_invariant
from tests.conftest import TestUser, poll_until, start_server, stop_server
from tests.infra import ROOT, TestInfra
from tests.orders.conftest import make_buyers  # noqa: F401  (shared factory fixture)
from tests.workers.conftest import CeleryProcess

BUYERS = 200
# The buyers press in waves of 20 at once, a wave every 100 ms, and the process is killed at the
# 30th answer: in the second wave, with its last buyers in flight (reserved in Redis, not yet
# written to PostgreSQL) and later waves yet to press. All 200 at once, a quick server could
# answer every one before this client had read the answer that triggers the kill.
WAVE = 20
WAVE_EVERY_SECONDS = 0.1
KILL_AFTER_ANSWERS = 30


async def press_buy(http: httpx.AsyncClient, buyer: TestUser, sale_id: int) -> httpx.Response:
    return await http.post(f"/api/sales/{sale_id}/buy", json={"quantity": 1},
                           headers={**buyer.headers, "Idempotency-Key": f"rush-{buyer.id}"})


async def test_a_web_process_killed_mid_rush_leaves_no_unit_stuck(
        infra: TestInfra, make_sale, make_buyers, services: Services,  # noqa: F811
        celery_worker: CeleryProcess, celery_beat: CeleryProcess):
    # given a worker and the scheduler running, a sale of 200 units and 200 buyers pressing buy
    # in waves on one web process, which is killed (SIGKILL) at the 30th answer
    sale = await make_sale(stock=BUYERS, quantity=BUYERS)
    buyers = await make_buyers(BUYERS)
    server = start_server(infra)
    answered = 0

    async def press(http: httpx.AsyncClient, buyer: TestUser, turn: int) -> httpx.Response | None:
        nonlocal answered
        await asyncio.sleep(turn // WAVE * WAVE_EVERY_SECONDS)
        try:
            response = await press_buy(http, buyer, sale.id)
        except httpx.TransportError:
            return None  # the process died with this request in it
        answered += 1
        if answered == KILL_AFTER_ANSWERS:
            server.process.kill()
        return response

    try:
        limits = httpx.Limits(max_connections=BUYERS)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:
            responses = await asyncio.gather(*(press(http, b, turn)
                                               for turn, b in enumerate(buyers)))
        server.process.wait(10)
        lost = [b for b, r in zip(buyers, responses, strict=True) if r is None]
        assert lost, "the kill came after every answer"
        # every answer is an order, or (on a machine too busy to get a database connection in
        # time) a 503 that tells the buyer to try again: never an error that loses the buy
        statuses = sorted(r.status_code for r in responses if r is not None)
        assert 201 in statuses and set(statuses) <= {201, 503}, statuses
        stuck = (await check_invariant(services, sale.id)).unbacked_holds

        # when nobody does anything: then within seconds the invariant holds again, with every
        # reserved unit backed by an order
        async def clean() -> bool:
            return (await check_invariant(services, sale.id)).ok

        await poll_until(clean, timeout=30, interval=0.05,
                         message=f"the {len(stuck)} reservations without an order to go back")
        check = subprocess.run([sys.executable, "-m", "web.cli", "check", str(sale.id)],
                               cwd=ROOT, env={**os.environ, **infra.env()},
                               capture_output=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        assert orjson.loads(check.stdout.splitlines()[-1])["ok"] is True

        # and every buyer whose answer was lost (or who was told to try again) buys with the
        # same key on a new web process: their order, if it was written, or a new one
        again = lost + [b for b, r in zip(buyers, responses, strict=True)
                        if r is not None and r.status_code == 503]
        server = start_server(infra)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            retries = await asyncio.gather(*(press_buy(http, b, sale.id) for b in again))
        assert [r.status_code for r in retries] == [201] * len(again), \
            [r.text for r in retries if r.status_code != 201][:3]
    finally:
        if server.process.poll() is None:
            stop_server(server)

    # then each buyer has exactly one order, and all 200 units are reserved by those orders
    async with services.db.session() as session:
        per_buyer = dict((await session.execute(
            select(Order.user_id, func.count()).where(Order.sale_id == sale.id)
            .group_by(Order.user_id))).all())
    assert per_buyer == {b.id: 1 for b in buyers}
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems
    assert report.redis == stock.Counts(available=0, reserved=BUYERS, sold=0)
