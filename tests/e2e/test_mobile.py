"""Every page at a phone's size (390x844) and a laptop's (1366x900): nothing scrolls sideways,
for a guest, a viewer, a host and ops; the viewer buys from the bottom sheet, and the host runs
the show by tapping. Screenshots of each page go to test-artifacts/screenshots/ (git-ignored)
for a reviewer to look at."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import MakeUser
from tests.e2e.conftest import (
    LIVE_TIMEOUT_MS,
    SCREENSHOTS,
    Account,
    Api,
    Pages,
    fill_sale_form,
    until,
)

pytestmark = pytest.mark.browser

PHONE = (390, 844)
LAPTOP = (1366, 900)


async def _settled(page: Page) -> None:
    """The page's scripts have drawn it: a page with a room socket is connected."""
    await page.wait_for_load_state("load")
    await until(page, "!document.querySelector('[data-testid=connection]') || "
                      "document.querySelector('[data-testid=connection]').dataset.state === 'open'")
    await page.evaluate("document.fonts.ready.then(() => true)")


async def _viewer_room(pages: Pages, show: dict[str, Any], **options: Any) -> Page:
    """The show's viewer in its room on a phone, once the page has settled."""
    page = await pages.open(f"/rooms/{show['room']['id']}", show["viewer"], width=PHONE[0],
                            height=PHONE[1], **options)
    await _settled(page)
    return page


async def _fits(page: Page, name: str) -> None:
    """No sideways scrolling; a screenshot of the page for the reviewer."""
    await _settled(page)
    width, inner = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
    if width > inner:
        culprits = await page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
            .slice(0, 8).map((el) => `${el.tagName.toLowerCase()}.${el.className}`
                                       + ` right=${Math.round(el.getBoundingClientRect().right)}`)""")
        raise AssertionError(f"{name}: {width}px wide in a {inner}px window: {culprits}")


async def _show(api: Api, make_user: MakeUser) -> dict[str, Any]:
    """A live show with a lineup, a pinned product in a flash sale and a chat line; an ended
    show with its report; the accounts that look at them."""
    host = await api.signup("Mia Chen", role="host")
    viewer = await api.signup("Leo")
    scarf = await api.product(host, title="真丝围巾 Mulberry silk scarf, hand-rolled edges",
                              price_minor=129900, currency="CNY", stock=80)
    mug = await api.product(host, title="Stoneware mug", price_minor=2500, currency="CNY")
    room = await api.room(host, [scarf, mug], title="Friday night drop · 周五上新")
    await api.call("POST", f"/api/rooms/{room['id']}/sales", host, json={
        "product_id": scarf["id"], "price_minor": 99900, "quantity": 20, "per_user_limit": 2,
        "duration_seconds": 900})
    ended = await api.room(host, [mug], title="Last week's show")
    await api.call("POST", f"/api/rooms/{ended['id']}/status", host, json={"status": "ended"})
    ops = await make_user("ops")
    return {"host": host, "viewer": viewer, "ops": ops, "room": room, "ended": ended}


async def test_no_page_scrolls_sideways_at_phone_or_laptop_size(
        api: Api, pages: Pages, make_user: MakeUser) -> None:
    show = await _show(api, make_user)
    room, ended = show["room"]["id"], show["ended"]["id"]
    visits: list[tuple[str, Account | Any | None, str]] = [
        ("guest-home", None, "/"),
        ("guest-login", None, "/login"),
        ("guest-signup", None, "/signup"),
        ("guest-room", None, f"/rooms/{room}"),
        ("guest-404", None, "/rooms/abc"),
        ("viewer-home", show["viewer"], "/"),
        ("viewer-room", show["viewer"], f"/rooms/{room}"),
        ("host-panel", show["host"], "/host"),
        ("host-room", show["host"], f"/host/rooms/{room}"),
        ("host-live-data", show["host"], f"/host/rooms/{room}/data"),
        ("host-commissions", show["host"], "/host/commissions"),
        ("host-report", show["host"], f"/ops/broadcasts/{ended}"),
        ("ops-dashboard", show["ops"], "/ops"),
        ("ops-report", show["ops"], f"/ops/broadcasts/{ended}"),
        ("ops-commissions", show["ops"], "/ops/commissions"),
    ]
    # one browser page per account, sized and sent from page to page: a new context per visit
    # would start a renderer process each time, most of a visit's cost
    opened: dict[int, Page] = {}
    for width, height in (PHONE, LAPTOP):
        for name, who, path in visits:
            page = opened.get(id(who))
            if page is None:
                page = opened[id(who)] = await pages.open(path, who, width=width, height=height)
            else:
                await page.set_viewport_size({"width": width, "height": height})
                await page.goto(pages.server.url + path)
            await _fits(page, f"{name}-{width}")


async def test_the_phone_room_puts_chat_and_the_pinned_card_over_the_video(
        api: Api, pages: Pages, make_user: MakeUser) -> None:
    show = await _show(api, make_user)
    page = await _viewer_room(pages, show, has_touch=True)

    # the stage fills the screen's width and most of its height; chat and the pinned card are
    # drawn inside it; the player has its place
    stage = await page.locator("#stage").bounding_box()
    chat = await page.get_by_test_id("chat-form").bounding_box()
    pinned = await page.get_by_test_id("pinned-card").bounding_box()
    assert stage and chat and pinned
    assert stage["width"] == PHONE[0] and stage["height"] > PHONE[1] * 0.8
    assert stage["y"] <= chat["y"] and chat["y"] + chat["height"] <= stage["y"] + stage["height"]
    assert stage["y"] <= pinned["y"] < chat["y"]
    await expect(page.get_by_test_id("player")).to_have_count(1)
    # the lineup waits behind the bag, with its count
    await expect(page.get_by_test_id("bag-count")).to_have_text("2")
    await expect(page.get_by_test_id("lineup-sheet")).to_be_hidden()
    await page.get_by_test_id("bag-button").tap()
    await expect(page.get_by_test_id("lineup-sheet")).to_be_visible()
    await expect(page.get_by_test_id("viewer-lineup")).to_contain_text("Stoneware mug")
    await page.screenshot(path=str(SCREENSHOTS / "viewer-room-lineup-sheet-390.png"))
    await page.get_by_test_id("sheet-backdrop").tap(position={"x": 195, "y": 60})
    await expect(page.get_by_test_id("lineup-sheet")).to_be_hidden()


async def test_a_viewer_buys_from_the_bottom_sheet_and_the_room_hears_it(
        api: Api, pages: Pages, make_user: MakeUser) -> None:
    # given a viewer on a phone in a room with a flash sale on the pinned product
    show = await _show(api, make_user)
    page = await _viewer_room(pages, show, has_touch=True)
    await expect(page.get_by_test_id("sale-buy")).to_be_hidden()

    # when they tap the pinned card, the sheet opens with the sale's countdown and stock bar
    await page.get_by_test_id("pinned-card").tap()
    await expect(page.get_by_test_id("sale-countdown")).to_be_visible()
    await expect(page.get_by_test_id("sale-stock")).to_be_visible()
    await page.screenshot(path=str(SCREENSHOTS / "viewer-room-sale-sheet-390.png"))

    # and they tap Buy
    await page.get_by_test_id("sale-buy").tap()

    # then their order is held in the sheet, waiting for payment
    await expect(page.get_by_test_id("sale-order")).to_have_attribute(
        "data-status", "pending_payment", timeout=LIVE_TIMEOUT_MS * 2)
    await expect(page.get_by_test_id("sale-pay")).to_be_visible()


async def test_the_room_shows_who_just_bought(api: Api, pages: Pages,
                                              make_user: MakeUser) -> None:
    # given a viewer watching on a phone
    show = await _show(api, make_user)
    page = await _viewer_room(pages, show)

    # when a purchase line reaches the room
    await page.evaluate("""() => window.livesell.store.apply({type: 'purchase', data:
        {name: 'L***', others: 3, quantity: 1, buyers: 12}})""")

    # then the line and the number of buyers show on the video
    await expect(page.get_by_test_id("buy-line")).to_have_text("L*** and 3 others just bought")
    await expect(page.get_by_test_id("buyers-count")).to_have_text("12 bought")


def _line(page: Page, text: str) -> Any:
    return page.get_by_test_id("chat-list").locator("li", has_text=text)


async def test_the_host_runs_the_show_from_a_phone_by_tapping(
        api: Api, pages: Pages, make_user: MakeUser) -> None:
    # given a live show with nothing pinned, a host on a phone and two viewers chatting
    host = await api.signup("Mia", role="host")
    scarf = await api.product(host, title="Silk scarf", price_minor=1999, stock=30)
    room = await api.room(host, [scarf])
    panel = await pages.open(f"/host/rooms/{room['id']}", host, width=PHONE[0],
                             height=PHONE[1], has_touch=True)
    await _settled(panel)
    rex = await pages.open(f"/rooms/{room['id']}", await api.signup("Rex"))
    ana = await pages.open(f"/rooms/{room['id']}", await api.signup("Ana"))
    await _settled(rex)
    await _settled(ana)
    for page, text in ((rex, "buy followers at spam.example"), (ana, "love the scarf")):
        await page.get_by_test_id("chat-input").fill(text)
        await page.get_by_test_id("chat-send").click()
    await expect(_line(panel, "spam.example")).to_be_visible(timeout=LIVE_TIMEOUT_MS * 2)

    # the show's numbers come first on the page, side by side, none cut off
    stats = panel.get_by_test_id("show-stats")
    box = await stats.bounding_box()
    assert box and box["y"] < PHONE[1] / 2
    for testid in ("viewer-count", "like-count", "show-gmv", "show-orders"):
        value = panel.get_by_test_id(testid)
        assert await value.evaluate("(el) => el.scrollWidth <= el.clientWidth"), testid

    # when the host taps Pin
    await panel.get_by_test_id("lineup-item").filter(has_text="Silk scarf").get_by_test_id(
        "pin").tap()
    # then the viewers see it pinned
    await expect(rex.get_by_test_id("pinned-title")).to_have_text("Silk scarf")

    # when the host starts a flash sale by tapping
    form = await fill_sale_form(panel, "9.99", "5")
    await form.get_by_test_id("sale-start").tap()
    # then it is live on the panel and in the room
    await expect(panel.get_by_test_id("host-sale-phase")).to_contain_text("Live")
    await expect(rex.get_by_test_id("sale-buy")).to_be_enabled()
    # and a GMV in the hundred thousands is shown whole in the sale panel, not cut to "CN¥99.…"
    for testid in ("host-sale-gmv", "host-sale-orders", "host-sale-sold"):
        whole = await panel.get_by_test_id(testid).evaluate("""(el) => {
            el.textContent = 'CN¥199,999.00';
            return el.scrollWidth <= el.clientWidth && el.getBoundingClientRect().right <= innerWidth;
        }""")
        assert whole, testid

    # when the host taps Delete on the spam line and Mute on its sender (no hover on a phone)
    await _line(panel, "spam.example").get_by_test_id("chat-delete").tap()
    await expect(_line(rex, "spam.example")).to_have_count(0)
    await ana.get_by_test_id("chat-input").fill("and the mug?")
    await ana.get_by_test_id("chat-send").click()
    await expect(_line(panel, "and the mug?")).to_be_visible()
    await _line(panel, "and the mug?").get_by_test_id("chat-mute").tap()

    # then the muted viewer's box closes, the deleted line is gone for everyone
    await expect(ana.get_by_test_id("chat-input")).to_be_disabled()
    await expect(_line(panel, "spam.example")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await panel.screenshot(path=str(SCREENSHOTS / "host-room-running-390.png"), full_page=True)
    width = await panel.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE[0]


async def test_the_host_is_warned_before_going_live_empty_and_before_cutting_a_sale_short(
        api: Api, pages: Pages) -> None:
    # given a scheduled show with an empty lineup
    host = await api.signup("Mia", role="host")
    room = await api.room(host, live=False)
    panel = await pages.open(f"/host/rooms/{room['id']}", host, width=PHONE[0],
                             height=PHONE[1], has_touch=True)
    await _settled(panel)

    # when the host taps Go live, they are asked first; "Add products first" keeps it scheduled
    await panel.get_by_test_id("go-live").tap()
    await expect(panel.get_by_test_id("empty-lineup")).to_contain_text("empty lineup")
    await panel.get_by_test_id("empty-lineup-no").tap()
    await expect(panel.get_by_test_id("room-status")).to_have_text("Scheduled")
    # and going live anyway works
    await panel.get_by_test_id("go-live").tap()
    await panel.get_by_test_id("empty-lineup-yes").tap()
    await expect(panel.get_by_test_id("room-status")).to_have_text("Live")

    # given a running sale (with a product lined up)
    scarf = await api.product(host, title="Silk scarf", price_minor=1999, stock=30)
    await api.call("PUT", f"/api/rooms/{room['id']}/lineup", host,
                   json={"product_ids": [scarf["id"]]})
    await expect(panel.get_by_test_id("lineup-item")).to_have_count(1)

    # when the host types a sale price above the regular price, the panel asks
    form = await fill_sale_form(panel, "199.90", "5")
    await form.get_by_test_id("sale-start").tap()
    await expect(panel.get_by_test_id("price-above")).to_contain_text("above the regular")
    await panel.get_by_test_id("price-above-no").tap()
    await expect(form.get_by_test_id("sale-price-input")).to_have_attribute("aria-invalid", "true")
    await form.get_by_test_id("sale-price-input").fill("9.99")
    await form.get_by_test_id("sale-start").tap()
    await expect(panel.get_by_test_id("host-sale-phase")).to_contain_text("Live")

    # when they tap End show, the question says the sale stops too
    await panel.get_by_test_id("end-room").tap()
    await expect(panel.locator("#confirm-text")).to_contain_text("flash sale is still on")
    await panel.get_by_test_id("confirm-yes").tap()

    # then the show ends
    await expect(panel.get_by_test_id("room-status")).to_have_text("Ended")


async def test_quick_chat_lines_all_go_out_and_a_refusal_is_said(api: Api, pages: Pages) -> None:
    # given the host's panel and a viewer
    host = await api.signup("Mia", role="host")
    room = await api.room(host)
    panel = await pages.open(f"/host/rooms/{room['id']}", host)
    watch = await pages.open(f"/rooms/{room['id']}", await api.signup("Leo"))
    await _settled(panel)
    await _settled(watch)

    # the limit is visible while typing
    await panel.get_by_test_id("chat-input").fill("hello")
    await expect(panel.get_by_test_id("chat-count")).to_have_text("5/300")

    # when the host sends four lines less than a second apart
    for n in range(1, 5):
        await panel.get_by_test_id("chat-input").fill(f"line {n}")
        await panel.get_by_test_id("chat-send").click()

    # then all four reach the viewer, in order (none dropped)
    await expect(watch.get_by_test_id("chat-list").locator("li")).to_have_count(
        4, timeout=10_000)
    texts = await watch.get_by_test_id("chat-text").all_inner_texts()
    assert texts == ["line 1", "line 2", "line 3", "line 4"]

    # when the server refuses a line (here: a frame sent past the page's pacing)
    await watch.evaluate("""() => {
        window.livesell.socket.send({type: 'chat', text: 'one'});
        window.livesell.socket.send({type: 'chat', text: 'two'});
    }""")
    # then the sender is told why, not left guessing
    await until(watch, "window.livesell.errors.some((e) => e.code === 'rate_limited')")
    await expect(watch.get_by_test_id("chat-notice")).to_have_attribute("data-kind", "error")
    await expect(watch.get_by_test_id("chat-notice")).not_to_be_empty()


async def test_ops_pages_show_times_in_the_readers_own_zone(
        api: Api, pages: Pages, make_user: MakeUser) -> None:
    # given an ended show, and ops reading in Shanghai
    show = await _show(api, make_user)
    for path in ("/ops", f"/ops/broadcasts/{show['ended']['id']}", "/host"):
        who = show["host"] if path == "/host" else show["ops"]
        page = await pages.open(path, who, timezone_id="Asia/Shanghai")
        await _settled(page)
        # then every moment on the page is written in that zone, and says so
        times = await page.locator("time[data-local-time], .row-sub").all_inner_texts()
        stamped = [t for t in times if re.search(r"\d:\d\d", t)]
        assert stamped, path
        assert all("UTC" not in t and "GMT+8" in t for t in stamped), (path, stamped)
