"""Steps of a buyer's flow in the browser: typing the shipping address, the order confirmed
once paid, and the buyer's orders page."""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page, expect

from tests.e2e.conftest import ADDRESS, PAYMENT_TIMEOUT_MS


async def fill_address(form: Locator, *, leave_out: tuple[str, ...] = ()) -> None:
    """Type ADDRESS into the page's address form (but for the fields left out)."""
    for name in ("name", "line1", "city", "postal_code", "country", "phone"):
        if name not in leave_out:
            await form.locator(f"[name={name}]").fill(ADDRESS[name])


async def expect_confirmed(page: Page, order_box: Locator, status: re.Pattern[str]) -> None:
    """The page's order turns paid (through the webhook) and its status line reads so."""
    await expect(order_box).to_have_attribute("data-status", "paid", timeout=PAYMENT_TIMEOUT_MS)
    await expect(page.get_by_test_id("shop-order-status")).to_have_text(status)


async def newest_order_card(page: Page) -> Locator:
    """Follow the page's link to the buyer's orders: the newest order's card."""
    await page.get_by_test_id("shop-orders-link").click()
    await page.wait_for_url(re.compile(r"/orders$"))
    return page.get_by_test_id("order-card").first
