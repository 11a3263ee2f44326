"""Pages that need no websocket: home, sign in / sign up, the host panel's guards and forms."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import expect

from tests.conftest import LiveServer
from tests.e2e.conftest import Api, Pages, screenshot

pytestmark = pytest.mark.browser


async def test_home_lists_live_and_upcoming_rooms(api: Api, pages: Pages) -> None:
    # given a live room and a scheduled one
    host = await api.signup("Mia", role="host")
    live = await api.room(host, title="Vintage denim, live")
    # (40 days ahead: a room may be scheduled at most a year ahead, and never in the past)
    when = (datetime.now(UTC) + timedelta(days=40)).replace(hour=18, minute=0, second=0,
                                                            microsecond=0)
    await api.room(host, live=False, title="Sneaker Sunday", scheduled_at=when.isoformat())

    # when a guest opens the home page
    page = await pages.open("/")

    # then each room is in its section and links to its live page
    await expect(page.get_by_test_id("live-rooms")).to_contain_text("Vintage denim, live")
    await expect(page.get_by_test_id("upcoming-rooms")).to_contain_text("Sneaker Sunday")
    await expect(page.get_by_test_id("upcoming-rooms")).to_contain_text(
        f"{when:%b} {when.day}")
    await screenshot(page, "home")
    await page.get_by_text("Vintage denim, live").click()
    await expect(page).to_have_url(re.compile(f"/rooms/{live['id']}$"))


async def test_signup_then_logout_and_login(pages: Pages, server: LiveServer) -> None:
    # given the sign-up page
    page = await pages.open("/signup")
    await screenshot(page, "signup")

    # when someone signs up as a host
    await page.get_by_label("Display name").fill("Nora")
    await page.get_by_label("Email").fill("nora@example.com")
    await page.get_by_label("Password").fill("password123")
    await page.get_by_text("Sell live", exact=True).click()
    await page.get_by_role("button", name="Create account").click()

    # then they land in the host panel, signed in
    await expect(page).to_have_url(re.compile("/host$"))
    await expect(page.get_by_test_id("current-user")).to_contain_text("Nora")

    # when they log out and sign in again with a wrong, then the right password
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()
    await page.goto(server.url + "/login")
    await page.get_by_label("Email").fill("nora@example.com")
    await page.get_by_label("Password").fill("wrong-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#form-error")).to_contain_text("Wrong email or password")
    await screenshot(page, "login-error")
    await page.get_by_label("Password").fill("password123")
    await page.get_by_role("button", name="Sign in").click()

    # then they are back in the host panel
    await expect(page).to_have_url(re.compile("/host$"))


async def test_signup_shows_field_errors(pages: Pages) -> None:
    # given the sign-up page
    page = await pages.open("/signup")

    # when the form is sent with a bad email and a short password
    await page.get_by_label("Display name").fill("Sam")
    await page.get_by_label("Email").fill("not-an-email")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Create account").click()

    # then the field at fault says why, and no one is signed in
    await expect(page.locator("[data-error-for=email]:not(:empty), "
                              "[data-error-for=password]:not(:empty)").first).to_be_visible()
    await expect(page.get_by_test_id("current-user")).to_have_count(0)


async def test_host_pages_send_guests_to_login_and_back(pages: Pages, api: Api) -> None:
    # given a room
    host = await api.signup("Mia", role="host")
    room = await api.room(host, live=False)

    # when a guest opens the host panel, then a room's control page
    page = await pages.open("/host")
    await expect(page).to_have_url(re.compile(r"/login\?next=/host$"))
    await page.goto(page.url.split("/login")[0] + f"/host/rooms/{room['id']}")

    # then they are sent to sign in, and come back to that page after
    await expect(page).to_have_url(re.compile(rf"/login\?next=/host/rooms/{room['id']}$"))
    await page.get_by_label("Email").fill(host.email)
    await page.get_by_label("Password").fill(host.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(rf"/host/rooms/{room['id']}$"))


async def test_host_pages_refuse_viewers_and_other_hosts(pages: Pages, api: Api) -> None:
    # given a room, a viewer and another host
    host = await api.signup("Mia", role="host")
    room = await api.room(host, live=False)
    viewer = await api.signup("Leo")
    other = await api.signup("Ola", role="host")

    # when the viewer opens the host panel, and the other host the room's control page
    as_viewer = await pages.open("/host", viewer)
    as_other = await pages.open(f"/host/rooms/{room['id']}", other)

    # then both get a 403 page
    await expect(as_viewer.get_by_role("heading", name="Hosts only")).to_be_visible()
    await expect(as_other.get_by_role("heading", name="Not your room")).to_be_visible()
    await screenshot(as_other, "forbidden")
    assert (await as_viewer.request.get(as_viewer.url)).status == 403
    assert (await as_other.request.get(as_other.url)).status == 403


async def test_unknown_room_is_a_404_page(pages: Pages) -> None:
    page = await pages.open("/rooms/999999")
    await expect(page.get_by_role("heading", name="No such room")).to_be_visible()
    assert (await page.request.get(page.url)).status == 404


async def test_host_creates_products_priced_in_minor_units(pages: Pages, api: Api) -> None:
    # given a host on the host panel
    host = await api.signup("Mia", role="host")
    page = await pages.open("/host", host)

    # when they add a product priced in euros and one in yen
    form = page.get_by_test_id("product-form")
    for title, price, currency, stock in (("Linen shirt", "34.50", "EUR", "12"),
                                          ("Tea bowl", "4800", "JPY", "3")):
        await form.get_by_label("Title").fill(title)
        await form.get_by_label("Price").fill(price)
        await form.get_by_label("Currency").select_option(currency)
        await form.get_by_label("Stock").fill(stock)
        await form.get_by_role("button", name="Add product").click()
        await expect(page.get_by_test_id("catalog")).to_contain_text(title)

    # then the API holds integer minor units, and the page shows formatted prices
    listed = await api.call("GET", "/api/products", host)
    products = {p["title"]: p for p in listed["products"]}
    assert (products["Linen shirt"]["price_minor"], products["Linen shirt"]["currency"]) == (3450, "EUR")
    assert (products["Tea bowl"]["price_minor"], products["Tea bowl"]["currency"]) == (4800, "JPY")
    await expect(page.get_by_test_id("catalog")).to_contain_text("€34.50")
    await expect(page.get_by_test_id("catalog")).to_contain_text("¥4,800")

    # when a price is not a price
    await form.get_by_label("Title").fill("Broken")
    await form.get_by_label("Price").fill("12.345")
    await form.get_by_role("button", name="Add product").click()

    # then the form says so and nothing is created
    await expect(form.locator("[data-error-for=price_minor]")).to_contain_text("Enter a price")
    await screenshot(page, "host-panel")
    assert len((await api.call("GET", "/api/products", host))["products"]) == 2


async def test_host_edits_price_and_stock_in_place(pages: Pages, api: Api) -> None:
    # given a host with a product
    host = await api.signup("Mia", role="host")
    product = await api.product(host, title="Silk scarf", price_minor=1999, currency="USD", stock=5)
    page = await pages.open("/host", host)

    # when they edit its price and stock from the catalog
    row = page.get_by_test_id("catalog").locator("li", has_text="Silk scarf")
    await row.get_by_test_id("edit-product").click()
    await row.get_by_label("Price").fill("24.50")
    await row.get_by_label("Stock").fill("40")
    await screenshot(page, "host-panel-edit")
    await row.get_by_role("button", name="Save").click()

    # then the catalog shows, and the server holds, the new price and stock
    await expect(row).to_contain_text("$24.50")
    await expect(row).to_contain_text("40 in stock")
    stored = (await api.call("GET", "/api/products", host))["products"][0]
    assert (stored["id"], stored["price_minor"], stored["stock"]) == (product["id"], 2450, 40)


async def test_the_pages_format_money_by_its_currency_and_times_in_the_readers_zone(
        pages: Pages, server: LiveServer) -> None:
    # given a reader in Tokyo whose browser speaks US English
    context = await pages.browser.new_context(locale="en-US", timezone_id="Asia/Tokyo")
    pages.contexts.append(context)
    page = await context.new_page()
    await page.goto(f"{server.url}/")

    # when the pages' one formatters module formats amounts and a moment
    shown = await page.evaluate("""async () => {
        const f = await import("/static/js/format.js");
        // (Intl may put no-break spaces between the parts; compare them as spaces)
        const plain = (v) => typeof v === "string" ? v.replace(/[\u00a0\u202f]/g, " ") : v;
        return [f.formatMoney(1999, "USD"), f.formatMoney(4800, "JPY"), f.formatMoney(48000, "KRW"),
                f.formatMoney(1234, "KWD"), f.formatMoneyShort(480000, "JPY"),
                f.parsePrice("4800", "JPY"), f.parsePrice("12.34", "JPY"),
                f.formatDateTime("2026-11-20T20:00:00Z"),
                f.formatDateTime("2026-11-20T20:00:30Z", {date: false, seconds: true})].map(plain);
    }""")

    # then minor units follow the currency (no cents in yen or won, mils in dinars) and the
    # time is the reader's, with the zone named
    assert shown == ["$19.99", "¥4,800", "₩48,000", "KWD 1.234", "¥480.0k", 4800, None,
                     "Sat, Nov 21, 2026, 5:00 AM GMT+9", "5:00:30 AM GMT+9"]
