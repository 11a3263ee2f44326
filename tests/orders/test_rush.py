"""The rush, at a smaller scale than the benchmark's: distinct logged-in buyers, warmed by one
`GET /api/me` each, send their buys at scheduled moments within one second to a real
`livesell serve` process over HTTP. Exact counts and the invariant afterwards; `livesell check`
agrees. (bench/buy.py runs the full 5,000-buyer rush and measures it; nothing here is timed.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter

from sqlalchemy import func, select

from core.context import Services
from orders import stock
from orders.models import Order
from orders.reconcile import check_invariant
from tests.conftest import LiveServer, warm_accounts
from tests.infra import ROOT, TestInfra
from tests.rawhttp import RawClient, Reply

BUYERS = 600
UNITS = 60


async def test_a_rush_of_distinct_buyers_within_a_second_gets_exactly_the_units(
        live_server: LiveServer, infra: TestInfra, make_buyers, make_sale,
        services: Services) -> None:
    # given a sale of 60 units and 600 logged-in buyers, each seen once by the server
    sale = await make_sale(stock=UNITS, quantity=UNITS)
    buyers = await make_buyers(BUYERS)
    async with RawClient(live_server.url, max_connections=200) as http:
        await warm_accounts(http, buyers)

        # when each sends one buy at its own moment, all within one second (open loop: a
        # slow reply does not delay the next send)
        start = time.monotonic()

        async def buy_at(index: int) -> Reply:
            await asyncio.sleep(max(0.0, start + index / BUYERS - time.monotonic()))
            buyer = buyers[index]
            return await http.post(f"/api/sales/{sale.id}/buy", json={"quantity": 1},
                                   headers={**buyer.headers, "Idempotency-Key": f"r{buyer.id}"})

        replies = await asyncio.gather(*(buy_at(i) for i in range(BUYERS)))

    # then exactly the units were sold, to distinct buyers, and everyone else heard sold_out
    codes = Counter(r.json()["error"]["code"] if r.status_code >= 400 else r.status_code
                    for r in replies)
    assert codes == {201: UNITS, "sold_out": BUYERS - UNITS}, codes
    async with services.db.session() as session:
        orders, distinct = (await session.execute(
            select(func.count(), func.count(func.distinct(Order.user_id)))
            .where(Order.sale_id == sale.id))).one()
    assert orders == distinct == UNITS
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems
    assert report.redis == stock.Counts(available=0, reserved=UNITS, sold=0)
    check = subprocess.run([sys.executable, "-m", "web.cli", "check", str(sale.id)], cwd=ROOT,
                           env={**os.environ, **infra.env()}, capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
