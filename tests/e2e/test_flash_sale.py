"""Flash sales in the browser: the host starts one from the panel, viewers see the countdown and
the stock left, one buys, pays on the sandbox gateway's page and sees the order confirmed (the
payment's signed webhook is delivered by a real Celery worker to the live server)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import (
    LIVE_TIMEOUT_MS,
    PAYMENT_TIMEOUT_MS,
    Account,
    Api,
    Pages,
    connected,
    fill_sale_form,
    screenshot,
    until,
)
from tests.workers.conftest import CeleryProcess

pytestmark = pytest.mark.browser

async def top_screenshot(page: Page, name: str) -> None:
    """A full-page shot from the top, so the sticky bar is not drawn over the middle."""
    await page.evaluate("window.scrollTo(0, 0)")
    await screenshot(page, name)


async def _room_tab(page: Page, pages: Pages, room: dict[str, Any]) -> Page:
    """Another tab of the same browser (same session) on the room page."""
    tab = await page.context.new_page()
    tab.on("pageerror", lambda exc: pages.errors.append(f"room tab: {exc}"))
    await tab.goto(f"{pages.server.url}/rooms/{room['id']}")
    return tab


async def pinned_show(api: Api, *, stock: int = 20) -> tuple[Account, dict[str, Any], dict[str, Any]]:
    show = await api.show({"title": "Silk scarf", "price_minor": 1999, "currency": "USD",
                           "stock": stock}, pin=True, title="Friday flash drop")
    return show.host, show.room, show.products[0]


async def start_sale(api: Api, host: Account, room: dict[str, Any], product: dict[str, Any],
                     **terms: Any) -> dict[str, Any]:
    body = {"product_id": product["id"], "price_minor": 999, "quantity": 5, "per_user_limit": 1,
            "duration_seconds": 600, **terms}
    sale: dict[str, Any] = await api.call("POST", f"/api/rooms/{room['id']}/sales", host, json=body)
    return sale


async def buy(api: Api, buyer: Account, sale_id: int) -> dict[str, Any]:
    response = await api.http.post(f"/api/sales/{sale_id}/buy", json={},
                                   headers={**buyer.headers, "Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()["order"]
    return order


async def test_a_viewer_buys_in_a_flash_sale_pays_and_sees_the_order_confirmed(
        api: Api, pages: Pages, webhook_worker: CeleryProcess) -> None:
    # given a live room with the scarf pinned, the host panel and two viewers' pages open
    host, room, _ = await pinned_show(api)
    buyer = await api.signup("Leo")
    other = await api.signup("Ana")
    panel = await connected(await pages.open(f"/host/rooms/{room['id']}", host))
    watch = await connected(await pages.open(f"/rooms/{room['id']}", buyer))
    second = await connected(await pages.open(f"/rooms/{room['id']}", other, width=420, height=900))

    # when the host starts a sale from the panel: 5 scarves at $9.99, after a 6-second countdown
    form = await fill_sale_form(panel, "9.99", "5")
    await form.get_by_test_id("sale-start-mode").select_option("later")
    await form.get_by_test_id("sale-start-in").fill("6")
    await form.get_by_test_id("sale-start-unit").select_option("1")
    await form.get_by_test_id("sale-duration").fill("10")
    await form.get_by_test_id("sale-start").click()

    # then the panel counts down to the start, and the viewers see the sale price against the regular one, the stock, and a countdown
    # that ticks on the server's clock, with Buy closed until the start
    await expect(panel.get_by_test_id("host-sale-phase")).to_have_text(re.compile(r"^Starts in 0:0\d$"))
    sale_box = watch.get_by_test_id("sale")
    await expect(sale_box).to_have_attribute("data-phase", "warmup", timeout=LIVE_TIMEOUT_MS)
    await expect(watch.get_by_test_id("sale-price")).to_have_text("$9.99")
    await expect(watch.get_by_test_id("sale-regular-price")).to_have_text("$19.99")
    await expect(watch.get_by_test_id("sale-stock")).to_have_text("5 of 5 left")
    await expect(watch.get_by_test_id("sale-buy")).to_be_disabled()
    countdown = watch.get_by_test_id("sale-countdown")
    await expect(countdown).to_have_text(re.compile(r"^Starts in 0:0[1-6]$"))
    first = await countdown.text_content()
    await until(watch, f"document.querySelector('[data-testid=sale-countdown]').textContent !== {first!r}")
    await expect(second.get_by_test_id("sale-stock")).to_have_text("5 of 5 left")
    await top_screenshot(watch, "flash-sale-warmup")
    await top_screenshot(panel, "flash-sale-host-warmup")

    # when the countdown runs out and the buyer taps Buy
    buy_button = watch.get_by_test_id("sale-buy")
    await expect(buy_button).to_be_enabled(timeout=8000)
    await expect(countdown).to_have_text(re.compile(r"^Ends in (9|10):\d\d$"))
    await buy_button.click()

    # then the unit is held for them with the time left to pay, the other viewer sees the stock
    # drop within a few seconds, and the host sees the hold
    order_box = watch.get_by_test_id("sale-order")
    await expect(order_box).to_have_attribute("data-status", "pending_payment")
    await expect(watch.get_by_test_id("sale-hold")).to_have_text(re.compile(r"^(9|10):\d\d$"))
    await expect(buy_button).to_be_disabled()  # a limit of one per person
    await expect(second.get_by_test_id("sale-stock")).to_have_text("4 of 5 left", timeout=3000)
    await expect(panel.get_by_test_id("host-sale-held")).to_have_text("1", timeout=3000)
    await expect(panel.get_by_test_id("host-sale-remaining")).to_have_text("4/5")
    await top_screenshot(watch, "flash-sale-held")
    await top_screenshot(second, "flash-sale-second-viewer")

    # when they pay on the sandbox gateway's page (with the room still open in another tab of
    # theirs) and come back to the room
    tab = await connected(await _room_tab(watch, pages, room))
    await expect(tab.get_by_test_id("sale-order")).to_have_attribute("data-status", "pending_payment")
    await tab.evaluate("""() => {
        window.__orderEvents = [];
        window.livesell.store.on('frame', (f) => {
            if (f.type === 'order') window.__orderEvents.push(f.data.status);
        });
    }""")
    await watch.get_by_test_id("sale-pay").click()
    await watch.wait_for_url(re.compile(r"/sandbox/pay/\d+\?sig="))
    await watch.get_by_role("button", name="Pay", exact=True).click()
    await expect(watch.locator(".status")).to_have_attribute("data-status", "submitted")
    # (the page takes the buyer back to the show by itself)
    await watch.wait_for_url(re.compile(rf"/rooms/{room['id']}$"))

    # then the room page shows the order confirmed (the worker's webhook paid it) and the host
    # sees the sold count, the paid order and the GMV move
    await expect(watch.get_by_test_id("sale-order")).to_have_attribute("data-status", "paid",
                                                                         timeout=PAYMENT_TIMEOUT_MS)
    await expect(watch.get_by_test_id("sale-order-status")).to_have_text(
        re.compile(r"Order #\d+ confirmed · \$9\.99 paid"))
    # the tab left open heard it as the buyer's own `order` event on the websocket
    await expect(tab.get_by_test_id("sale-order")).to_have_attribute("data-status", "paid")
    await until(tab, "window.__orderEvents.includes('paid')")
    await expect(panel.get_by_test_id("host-sale-sold")).to_have_text("1", timeout=LIVE_TIMEOUT_MS * 2)
    await expect(panel.get_by_test_id("host-sale-held")).to_have_text("0")
    await expect(panel.get_by_test_id("host-sale-orders")).to_have_text("1", timeout=5000)
    await expect(panel.get_by_test_id("host-sale-gmv")).to_have_text("$9.99")
    # the room heard that someone bought (the buyer's name masked), the host's feed has the order,
    # and the show's GMV at the top of the panel counts it
    await expect(second.get_by_test_id("buyers-count")).to_have_text("1 bought",
                                                                     timeout=PAYMENT_TIMEOUT_MS)
    await expect(panel.get_by_test_id("orders-feed-line")).to_have_count(1)
    await expect(panel.get_by_test_id("orders-feed-line")).to_contain_text("***")
    await expect(panel.get_by_test_id("show-gmv")).to_have_text("$9.99", timeout=10_000)
    await top_screenshot(watch, "flash-sale-confirmed")
    await top_screenshot(panel, "flash-sale-host-sold")

    # when the host stops the sale
    await panel.get_by_test_id("sale-stop").click()

    # then both ends show it over, with the units sold
    await expect(panel.get_by_test_id("host-sale-phase")).to_have_text("Ended", timeout=LIVE_TIMEOUT_MS)
    await expect(second.get_by_test_id("sale")).to_have_attribute("data-phase", "ended",
                                                                  timeout=LIVE_TIMEOUT_MS)
    await expect(second.get_by_test_id("sale-countdown")).to_have_text("Sale ended")
    await expect(second.get_by_test_id("sale-stock")).to_have_text("1 of 5 sold")
    await expect(second.get_by_test_id("sale-buy")).to_be_disabled()
    await expect(panel.get_by_test_id("sale-new")).to_be_visible()
    await top_screenshot(second, "flash-sale-ended")


async def test_a_guest_tapping_buy_is_sent_to_sign_in(api: Api, pages: Pages) -> None:
    # given a running sale and a guest watching
    host, room, scarf = await pinned_show(api)
    await start_sale(api, host, room, scarf)
    guest = await connected(await pages.open(f"/rooms/{room['id']}"))
    await expect(guest.get_by_test_id("sale")).to_have_attribute("data-phase", "live")

    # when the guest taps Buy
    await guest.get_by_test_id("sale-buy").click()

    # then they are sent to sign in, and back to the room after
    await guest.wait_for_url(re.compile(r"/login\?next="))
    assert guest.url.endswith(f"/login?next=%2Frooms%2F{room['id']}")


async def test_a_sold_out_sale_shows_sold_out_with_buy_disabled(api: Api, pages: Pages) -> None:
    # given a running sale of two units and a viewer watching
    host, room, scarf = await pinned_show(api)
    sale = await start_sale(api, host, room, scarf, quantity=2)
    viewer = await api.signup("Leo")
    watch = await connected(await pages.open(f"/rooms/{room['id']}", viewer, width=420, height=900))
    await expect(watch.get_by_test_id("sale-stock")).to_have_text("2 of 2 left")

    # when two other buyers take both units
    await buy(api, await api.signup("Ana"), sale["id"])
    await buy(api, await api.signup("Bo"), sale["id"])

    # then the viewer's page says sold out, with Buy disabled
    await expect(watch.get_by_test_id("sale")).to_have_attribute("data-phase", "soldout",
                                                                 timeout=LIVE_TIMEOUT_MS * 2)
    await expect(watch.get_by_test_id("sale-countdown")).to_have_text("Sold out")
    await expect(watch.get_by_test_id("sale-buy")).to_have_text("Sold out")
    await expect(watch.get_by_test_id("sale-buy")).to_be_disabled()
    await expect(watch.get_by_test_id("sale-stock")).to_have_text("2 of 2 sold")
    await top_screenshot(watch, "flash-sale-sold-out")

    # and a viewer who opens the room now sees the same from the snapshot
    late = await connected(await pages.open(f"/rooms/{room['id']}", await api.signup("Cy")))
    await expect(late.get_by_test_id("sale")).to_have_attribute("data-phase", "soldout")
    await expect(late.get_by_test_id("sale-buy")).to_be_disabled()


async def force_buy(page: Page) -> None:
    """Tap Buy even though the page has closed it: as a viewer would whose page had not yet
    heard the news when they tapped."""
    await page.evaluate("""() => {
        const button = document.querySelector('[data-testid=sale-buy]');
        button.disabled = false;
        button.click();
    }""")


@pytest.mark.parametrize(("case", "code", "text"), [
    ("last unit gone", "sold_out", "Sold out"),
    ("host stopped it", "sale_ended", "This sale has ended."),
    ("still warming up", "sale_not_started", "The sale hasn't started yet"),
])
async def test_a_buy_refused_by_the_server_says_why(api: Api, pages: Pages, case: str, code: str,
                                                    text: str) -> None:
    # given a sale of one unit open on a viewer's page (a running one, or one still warming up)
    host, room, scarf = await pinned_show(api)
    warming = case == "still warming up"
    sale = await start_sale(api, host, room, scarf, quantity=1,
                            **({"start_in_seconds": 600} if warming else {}))
    viewer = await api.signup("Leo")
    watch = await connected(await pages.open(f"/rooms/{room['id']}", viewer))
    await expect(watch.get_by_test_id("sale")).to_have_attribute("data-phase",
                                                                 "warmup" if warming else "live")

    # when the last unit goes to someone else, or the host stops the sale, and the viewer taps Buy
    if case == "last unit gone":
        await buy(api, await api.signup("Ana"), sale["id"])
    elif case == "host stopped it":
        await api.call("POST", f"/api/sales/{sale['id']}/stop", host)
    await force_buy(watch)

    # then the page gives the server's reason in words, and Buy stays closed
    message = watch.get_by_test_id("sale-message")
    await expect(message).to_have_attribute("data-code", code)
    await expect(message).to_contain_text(text)
    await expect(watch.get_by_test_id("sale-buy")).to_be_disabled()
    await expect(watch.get_by_test_id("sale-order")).to_be_hidden()


async def test_the_host_form_shows_errors_next_to_the_field(api: Api, pages: Pages) -> None:
    # given the host panel of a room with a scarf of 3 in stock
    host, room, _ = await pinned_show(api, stock=3)
    panel = await connected(await pages.open(f"/host/rooms/{room['id']}", host))
    form = panel.get_by_test_id("sale-form")
    await form.get_by_test_id("sale-price-input").fill("9.99")

    # when the host asks for more units than the product has
    await form.get_by_test_id("sale-quantity").fill("4")
    await form.get_by_test_id("sale-start").click()

    # then the quantity field says so
    await expect(form.locator('[data-error-for="quantity"]')).to_have_text("Only 3 in stock.")
    await expect(form.get_by_test_id("sale-quantity")).to_have_attribute("aria-invalid", "true")

    # when the duration is shorter than the API allows (it names the field)
    await form.get_by_test_id("sale-quantity").fill("3")
    await form.get_by_test_id("sale-duration").fill("2")
    await form.get_by_test_id("sale-duration-unit").select_option("1")
    await form.get_by_test_id("sale-start").click()

    # then the error shows next to the duration, and no sale started
    await expect(form.locator('[data-error-for="duration_seconds"]')).to_contain_text("5")
    await expect(form.locator('[data-error-for="quantity"]')).to_have_text("")
    await expect(panel.get_by_test_id("host-sale")).to_be_hidden()
    await top_screenshot(panel, "flash-sale-host-form-errors")
