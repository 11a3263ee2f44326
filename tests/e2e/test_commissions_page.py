"""The commission statement pages in headless Chromium: a host reads their statement (totals
and entries), filters it by broadcast, and downloads it as CSV; ops filter by host."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from core.context import Services
from tests.e2e.conftest import Account, Api, Pages, screenshot
from tests.orders.conftest import pay

pytestmark = pytest.mark.browser


async def _paid_order(api: Api, services: Services, buyer: Account, sale_id: int,
                      key: str) -> int:
    response = await api.http.post(f"/api/sales/{sale_id}/buy", json={"quantity": 1},
                                   headers={**buyer.headers, "Idempotency-Key": key})
    assert response.status_code == 201, response.text
    order_id = int(response.json()["order"]["id"])
    paid = await pay(api.http, services, order_id)
    assert paid.json()["outcome"] == "paid", paid.text
    return order_id


async def _show(api: Api, services: Services, host: Account, buyers: list[Account], *,
                title: str, rate_bp: int, price_minor: int) -> dict[str, Any]:
    # (the sale at the product's regular price: above it would need the host's confirmation)
    product = await api.product(host, stock=20, price_minor=price_minor)
    room = await api.room(host, [product], title=title)
    await api.call("PATCH", f"/api/rooms/{room['id']}", host, json={"commission_rate_bp": rate_bp})
    sale = await api.call("POST", f"/api/rooms/{room['id']}/sales", host, json={
        "product_id": product["id"], "price_minor": price_minor, "quantity": 10,
        "per_user_limit": 1, "duration_seconds": 600})
    orders = [await _paid_order(api, services, buyer, sale["id"], f"room{room['id']}-{n}")
              for n, buyer in enumerate(buyers)]
    return {"room": room, "orders": orders}


async def test_a_host_reads_filters_and_downloads_their_commission_statement(
        api: Api, pages: Pages, services: Services):
    # given a host with two shows: one at 10% with two paid orders of 20.00 (one delivered),
    # one at 5% with one paid order of 40.00; and another host's show
    host = await api.signup("Mia Host", role="host")
    other = await api.signup("Other Host", role="host")
    buyers = [await api.signup(f"Buyer {n}") for n in range(3)]
    first = await _show(api, services, host, buyers[:2], title="Spring drop", rate_bp=1000,
                        price_minor=2000)
    second = await _show(api, services, host, buyers[2:], title="Night market", rate_bp=500,
                         price_minor=4000)
    foreign = await _show(api, services, other, buyers[:1], title="Elsewhere", rate_bp=1000,
                          price_minor=2000)
    await api.call("POST", f"/api/orders/{first['orders'][0]}/complete", host)

    # when the host opens their statement
    page = await pages.open("/host/commissions", host)

    # then they see their three entries and the totals by status, and not the other host's
    rows = page.locator("[data-testid=commission-table] tbody tr")
    assert await rows.count() == 3
    order_ids = {int(await rows.nth(i).get_attribute("data-order-id") or 0) for i in range(3)}
    assert order_ids == set(first["orders"] + second["orders"])
    assert foreign["orders"][0] not in order_ids
    totals = page.locator("[data-testid=commission-totals]")
    assert await totals.locator("[data-total=pending] .ops-kpi-value").inner_text() == "$4.00"
    assert await totals.locator("[data-total=frozen] .ops-kpi-value").inner_text() == "$2.00"
    assert await totals.locator("[data-total=settled] .ops-kpi-value").inner_text() == "$0.00"
    frozen = page.locator(f"tr[data-order-id='{first['orders'][0]}']")
    assert await frozen.get_attribute("data-status") == "frozen"
    assert "10.00%" in await frozen.inner_text()
    await screenshot(page, "commissions-host")

    # when they filter by the first show and download the CSV
    await page.select_option("select[name=room_id]", str(first["room"]["id"]))
    await page.click("[data-testid=commission-filter] button[type=submit]")
    await page.wait_for_url(f"**room_id={first['room']['id']}**")
    assert await page.locator("[data-testid=commission-table] tbody tr").count() == 2
    async with page.expect_download() as download_info:
        await page.click("[data-testid=commission-csv]")
    path = await (await download_info.value).path()

    # then the file has the show's two entries
    table = list(csv.DictReader(io.StringIO(path.read_text())))
    assert sorted((int(r["order_id"]), r["status"], r["amount_minor"], r["rate_bp"])
                  for r in table) == sorted([
        (first["orders"][0], "frozen", "200", "1000"),
        (first["orders"][1], "pending", "200", "1000")])


async def test_ops_see_every_host_and_filter_by_one(api: Api, pages: Pages, services: Services,
                                                    make_user: Any):
    # given two hosts with a paid order each
    alice = await api.signup("Alice Host", role="host")
    bob = await api.signup("Bob Host", role="host")
    ops = await make_user("ops")  # ops accounts are not signed up, an operator makes them
    buyer = await api.signup("Buyer")
    a = await _show(api, services, alice, [buyer], title="Alice live", rate_bp=1000,
                    price_minor=1000)
    b = await _show(api, services, bob, [buyer], title="Bob live", rate_bp=2000,
                    price_minor=1000)

    # when ops open the statement, then pick Bob
    page = await pages.open("/ops/commissions", ops)
    everyone = await page.locator("[data-testid=commission-table] tbody tr").count()
    await page.select_option("select[name=host_id]", str(bob.id))
    await page.click("[data-testid=commission-filter] button[type=submit]")
    await page.wait_for_url(f"**host_id={bob.id}**")

    # then they saw both hosts' entries, and now Bob's alone
    rows = page.locator("[data-testid=commission-table] tbody tr")
    assert everyone == 2
    assert await rows.count() == 1
    assert await rows.first.get_attribute("data-order-id") == str(b["orders"][0])
    assert await page.locator(f"tr[data-order-id='{a['orders'][0]}']").count() == 0
    assert "Bob Host" in await rows.first.inner_text()
    pending = page.locator("[data-testid=commission-totals] [data-total=pending] .ops-kpi-value")
    assert await pending.inner_text() == "$2.00"
