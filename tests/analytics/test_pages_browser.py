"""The ops pages in headless Chromium: the dashboard, the report's charts for the scripted
broadcast, the CSV downloads, and the live data screen picking up a new order."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Page
from sqlalchemy import func, select

from analytics.models import AnalyticsEvent
from core.context import Services
from live.models import LineupItem, Product, Room
from orders.models import Order, OrderEvent, Sale
from tests import conftest as shared
from tests.analytics.conftest import Broadcast, PageErrors, at
from tests.conftest import LiveServer, MakeUser, poll_until
from tests.infra import ROOT

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
OpenAs = Callable[[shared.TestUser], Awaitable[tuple[Page, PageErrors]]]


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"analytics-{name}.png"), full_page=True)


async def test_the_dashboard_and_the_report_draw_the_scripted_broadcast(
        live_server: LiveServer, broadcast: Broadcast, open_as: OpenAs) -> None:
    # given ops on the dashboard
    page, errors = await open_as(broadcast.ops)
    await page.goto(f"{live_server.url}/ops")

    # then the broadcast is listed with its headline numbers
    row = page.locator(f"[data-testid=broadcast-table] tr[data-room-id='{broadcast.room_id}']")
    await row.wait_for()
    # (the list shows "being built" until the report is first read; read it and reload)
    await page.goto(f"{live_server.url}/ops/broadcasts/{broadcast.room_id}")
    await page.goto(f"{live_server.url}/ops")
    cells = await row.locator("td").all_inner_texts()
    assert cells[:3] == ["Friday drop", "Mia Studio", "Fri, Nov 20, 2026, 8:00 PM UTC"]
    assert cells[3:] == ["$212.00", "$114.00", "3", "2", "3", "5", "3m 54s", "40.0%"]
    await page.wait_for_selector("body[data-charts-ready='1']")
    bars = page.locator("[data-testid=broadcasts-chart] [data-testid=broadcast-bars] rect")
    assert await bars.count() == 1
    assert await bars.first.get_attribute("data-room-id") == str(broadcast.room_id)
    await _shot(page, "dashboard")

    # when they open its report
    await row.locator("a.ops-title").click()
    await page.wait_for_selector("body[data-charts-ready='1']")

    # then the numbers and the three charts are there
    assert await page.inner_text("[data-testid=kpi-gmv]") == "$212.00"
    assert await page.inner_text("[data-testid=kpi-net-gmv]") == "$114.00"
    assert await page.inner_text("[data-testid=kpi-peak]") == "3"
    assert await page.inner_text("[data-testid=kpi-unique]") == "5"
    timeline = page.locator("[data-testid=timeline-chart] svg")
    assert await timeline.count() == 1
    assert await timeline.locator("[data-testid=pin-marker]").count() == 3
    assert await timeline.locator("[data-testid=gmv-bars] rect").count() == 3
    assert await timeline.locator(".ops-hover-col").count() == 13
    assert await page.locator("[data-testid=funnel-chart] .ops-funnel-step").count() == 4
    funnel_counts = await page.locator(
        "[data-testid=funnel-chart] .ops-funnel-count").all_text_contents()
    assert funnel_counts == ["5", "4", "4", "2"]
    bars = page.locator("[data-testid=products-chart] .ops-product-row")
    assert await bars.count() == 3
    assert await bars.first.get_attribute("data-product-id") == str(broadcast.products["scarf"])
    assert await page.locator("[data-testid=product-table] tbody tr").count() == 3
    assert "EUR" in await page.inner_text("[data-testid=other-currencies]") or \
        "€30.00" in await page.inner_text("[data-testid=other-currencies]")
    await _shot(page, "report")
    assert errors.messages == []


async def test_the_csv_downloads_have_the_expected_rows(
        live_server: LiveServer, broadcast: Broadcast, open_as: OpenAs) -> None:
    # given the host on their broadcast's report
    page, errors = await open_as(broadcast.host)
    await page.goto(f"{live_server.url}/ops/broadcasts/{broadcast.room_id}")
    await page.wait_for_selector("body[data-charts-ready='1']")

    # when they download the orders and the report
    async with page.expect_download() as orders_info:
        await page.click("[data-testid=orders-csv]")
    orders_file = await (await orders_info.value).path()
    async with page.expect_download() as report_info:
        await page.click("[data-testid=report-csv]")
    report_file = await (await report_info.value).path()

    # then the orders file has a header and one row per order, and the report its numbers
    # (with a UTF-8 byte-order mark first, so Excel reads Chinese names right)
    assert orders_file.read_bytes().startswith(b"\xef\xbb\xbf")
    orders = list(csv.reader(io.StringIO(orders_file.read_text(encoding="utf-8-sig"))))
    assert orders[0][:3] == ["order_id", "created_at", "status"]
    assert [(row[2], row[6], row[7]) for row in orders[1:]] == [
        ("completed", "4900", "USD"), ("refunded", "9800", "USD"), ("paid", "6500", "USD"),
        ("expired", "2400", "USD"), ("cancelled", "6500", "USD"), ("paid", "3000", "EUR")]
    report = dict(tuple(row) for row in csv.reader(io.StringIO(
                      report_file.read_text(encoding="utf-8-sig")))
                  if len(row) == 2)
    assert (report["gmv_minor"], report["net_gmv_minor"], report["buyers"],
            report["unique_viewers"]) == ("21200", "11400", "2", "5")
    assert errors.messages == []


async def _live_room(services: Services, host: shared.TestUser) -> tuple[int, int, int]:
    async with services.db.transaction() as session:
        product = Product(host_id=host.id, title="Beeswax candles", price_minor=1800,
                          currency="USD")
        session.add(product)
        await session.flush()
        room = Room(host_id=host.id, title="Candle night", status="live", stream_key="k-live-ui",
                    started_at=at("20:00:00"))
        session.add(room)
        await session.flush()
        session.add(LineupItem(room_id=room.id, product_id=product.id, position=0))
        sale = Sale(room_id=room.id, product_id=product.id, host_id=host.id, price_minor=1800,
                    currency="USD", quantity=50, per_user_limit=5, starts_at=at("20:00:00"),
                    ends_at=at("20:00:00") + timedelta(days=3650), status="running")
        session.add(sale)
        await session.flush()
        return room.id, product.id, sale.id


async def _paid_order(services: Services, room_id: int, product_id: int, sale_id: int,
                      buyer: int, number: int) -> None:
    async with services.db.transaction() as session:
        order = Order(sale_id=sale_id, room_id=room_id, product_id=product_id, user_id=buyer,
                      quantity=1, amount_minor=1800, currency="USD", status="paid",
                      idempotency_key=f"ui-{number}", reservation_no=number,
                      hold_expires_at=at("20:10:00"), paid_at=at("20:01:00"))
        session.add(order)
        await session.flush()
        session.add(OrderEvent(order_id=order.id, type="order_paid",
                               from_status="pending_payment", to_status="paid"))


async def test_the_live_data_screen_picks_up_a_new_order(
        live_server: LiveServer, services: Services, make_user: MakeUser,
        open_as: OpenAs) -> None:
    # given a live room with one paid order, and its host on the live data screen
    host = await make_user("host", name="Candle Co")
    buyer = await make_user("viewer")
    room_id, product_id, sale_id = await _live_room(services, host)
    await _paid_order(services, room_id, product_id, sale_id, buyer.id, 1)
    page, errors = await open_as(host)
    await page.goto(f"{live_server.url}/host/rooms/{room_id}/data")
    assert await page.inner_text("[data-testid=live-gmv]") == "$18.00"
    assert await page.inner_text("[data-testid=live-orders]") == "1"
    # and the trend chart starts at the show's start, from the report's minutes, not at the
    # moment the screen was opened
    await page.wait_for_selector("#trend-chart[data-history]")
    assert int(await page.get_attribute("#trend-chart", "data-history") or 0) > 1

    # when a second order is paid
    await _paid_order(services, room_id, product_id, sale_id, buyer.id, 2)

    # then the screen shows it without a reload
    async def updated() -> bool:
        return await page.inner_text("[data-testid=live-gmv]") == "$36.00"
    await poll_until(updated, timeout=15, interval=0.2, message="the live GMV to update")
    top = await page.locator("[data-testid=top-products] li").all_inner_texts()
    assert len(top) == 1
    assert "Beeswax candles" in top[0]
    assert "2 sold" in top[0]
    await _shot(page, "live-data")
    assert errors.messages == []


async def test_pages_refuse_viewers_and_other_hosts(
        live_server: LiveServer, broadcast: Broadcast, make_user: MakeUser,
        open_as: OpenAs) -> None:
    viewer = await make_user("viewer")
    other_host = await make_user("host")
    page, _ = await open_as(viewer)
    response: Any = await page.goto(f"{live_server.url}/ops")
    assert response.status == 403
    page, _ = await open_as(other_host)
    response = await page.goto(f"{live_server.url}/ops/broadcasts/{broadcast.room_id}")
    assert response.status == 403
    response = await page.goto(f"{live_server.url}/ops")
    assert response.status == 200
    assert await page.locator("[data-testid=broadcast-table]").count() == 0


async def test_the_room_page_reports_card_views_and_clicks(
        live_server: LiveServer, services: Services, make_user: MakeUser,
        open_as: OpenAs) -> None:
    # given a viewer on a live room page (which tracks its product cards) with one product
    host, viewer = await make_user("host"), await make_user("viewer")
    room_id, product_id, _ = await _live_room(services, host)
    page, errors = await open_as(viewer)
    await page.goto(f"{live_server.url}/rooms/{room_id}")
    card = page.locator(f".lineup-card[data-product-id='{product_id}']")
    await card.wait_for()

    # when they see the card and tap it twice quickly
    await _until_recorded_once(services, room_id, "product_view", "the card view")
    # (two taps in a row, in the page: a real click opens the product dialog over the card)
    await card.evaluate("card => { card.click(); card.click(); }")

    # then one view and one click are recorded for them
    await _until_recorded_once(services, room_id, "product_click", "the click")
    async with services.db.session() as session:
        keys = set(await session.scalars(
            select(AnalyticsEvent.viewer_key).where(AnalyticsEvent.room_id == room_id)))
    assert keys == {f"u:{viewer.id}"}
    assert errors.messages == []


async def _until_recorded_once(services: Services, room_id: int, kind: str, what: str) -> None:
    async def recorded() -> bool:
        return await _recorded(services, room_id, kind) == 1
    await poll_until(recorded, timeout=15, interval=0.2, message=f"{what} to be recorded")


async def _recorded(services: Services, room_id: int, kind: str) -> int:
    async with services.db.session() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(AnalyticsEvent.count), 0))
            .where(AnalyticsEvent.room_id == room_id, AnalyticsEvent.kind == kind))
    return int(total or 0)


async def test_the_report_of_a_room_on_air_shows_the_numbers_so_far(
        live_server: LiveServer, services: Services, make_user: MakeUser,
        open_as: OpenAs) -> None:
    host, buyer = await make_user("host"), await make_user("viewer")
    room_id, product_id, sale_id = await _live_room(services, host)
    await _paid_order(services, room_id, product_id, sale_id, buyer.id, 1)
    page, errors = await open_as(host)

    await page.goto(f"{live_server.url}/ops/broadcasts/{room_id}")
    await page.wait_for_selector("body[data-charts-ready='1']")

    assert "so far" in (await page.inner_text("h1")).lower()
    assert await page.inner_text("[data-testid=kpi-gmv]") == "$18.00"
    assert await page.locator("[data-testid=timeline-chart] svg").count() == 1
    assert errors.messages == []
