"""The host panel driven by clicks only: log in, create products and a room, build the
lineup, go live, pin, end. Checked against the JSON API, so it needs no second page."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from live.models import RoomEventType
from tests.conftest import LiveServer
from tests.e2e.conftest import Api, Pages, screenshot

pytestmark = pytest.mark.browser


async def test_host_runs_a_show_by_clicking_only(api: Api, pages: Pages) -> None:
    # given a host account, signed out
    host = await api.signup("Mia", role="host")
    page = await pages.open("/")

    # when they sign in from the top bar
    await page.get_by_role("banner").get_by_role("link", name="Sign in").click()
    await page.get_by_label("Email").fill(host.email)
    await page.get_by_label("Password").fill(host.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile("/host$"))

    # and add two products to the catalog
    form = page.get_by_test_id("product-form")
    for title, price, stock in (("Silk scarf", "19.99", "20"), ("Leather tote", "129", "4")):
        await form.get_by_label("Title").fill(title)
        await form.get_by_label("Price").fill(price)
        await form.get_by_label("Stock").fill(stock)
        await form.get_by_role("button", name="Add product").click()
        await expect(page.get_by_test_id("catalog")).to_contain_text(title)

    # and create a show
    room_form = page.get_by_test_id("room-form")
    await room_form.get_by_label("Title").fill("Friday vintage drop")
    await room_form.get_by_role("button", name="Create show").click()
    await expect(page).to_have_url(re.compile(r"/host/rooms/\d+$"))
    room_id = int(page.url.rsplit("/", 1)[1])
    await expect(page.get_by_test_id("room-status")).to_have_text("Scheduled")
    await expect(page.get_by_test_id("stream-key")).not_to_be_empty()

    # and build the lineup: add both, then move the tote to the top
    catalog = page.get_by_test_id("room-catalog")
    await catalog.locator("li", has_text="Silk scarf").get_by_test_id("add-to-lineup").click()
    await catalog.locator("li", has_text="Leather tote").get_by_test_id("add-to-lineup").click()
    items = page.get_by_test_id("lineup-item")
    await expect(items).to_have_count(2)
    await items.filter(has_text="Leather tote").get_by_role("button", name="Move up").click()
    await expect(items.first).to_contain_text("Leather tote")

    # and go live, pin the scarf, then end the show
    await page.get_by_test_id("go-live").click()
    await expect(page.get_by_test_id("room-status")).to_have_text("Live")
    await items.filter(has_text="Silk scarf").get_by_test_id("pin").click()
    await expect(page.get_by_test_id("host-pinned")).to_have_text("Silk scarf")
    await expect(items.filter(has_text="Silk scarf").get_by_test_id("unpin")).to_be_visible()
    await screenshot(page, "host-room-flow")
    await page.get_by_test_id("end-room").click()
    await screenshot(page, "host-room-end-dialog", full_page=False)
    await page.get_by_test_id("confirm-yes").click()

    # then the page shows the ended show, with nothing left to press
    await expect(page.get_by_test_id("room-status")).to_have_text("Ended")
    await expect(page.get_by_test_id("go-live")).to_be_hidden()
    await expect(page.get_by_test_id("end-room")).to_be_hidden()
    await expect(items.first.get_by_test_id("pin")).to_be_disabled()
    await expect(page.get_by_role("link", name="See the report")).to_have_attribute(
        "href", f"/ops/broadcasts/{room_id}")

    # and the server holds exactly what was clicked
    room = await api.call("GET", f"/api/rooms/{room_id}")
    assert room["status"] == "ended"
    assert [p["title"] for p in room["lineup"]] == ["Leather tote", "Silk scarf"]
    assert [(p["price_minor"], p["currency"], p["stock"]) for p in room["lineup"]] == [
        (12900, "USD", 4), (1999, "USD", 20)]
    events = await api.call("GET", f"/api/rooms/{room_id}/events", host)
    kinds = [e["type"] for e in events["events"]]
    assert kinds.index(RoomEventType.ROOM_LIVE) < kinds.index(RoomEventType.PIN) \
        < kinds.index(RoomEventType.ROOM_ENDED)

    # and the host panel lists the show as ended
    await page.get_by_role("link", name="Host panel").first.click()
    await expect(page.get_by_test_id("host-rooms")).to_contain_text("Friday vintage drop")
    await expect(page.get_by_test_id("host-rooms").locator("li", has_text="Friday vintage drop")
                 ).to_contain_text("Ended")
    await screenshot(page, "host-panel-rooms")


async def test_host_sets_slow_mode_and_playback_url(api: Api, pages: Pages,
                                                   server: LiveServer) -> None:
    # given a host on their room's page
    host = await api.signup("Mia", role="host")
    room = await api.room(host, live=False)
    page = await pages.open(f"/host/rooms/{room['id']}", host)

    # when they switch slow mode on at 30 s and set a playback URL
    await page.get_by_test_id("slow-seconds").select_option("30")
    await page.get_by_text("Slow mode", exact=True).click()
    await expect(page.locator("#toasts")).to_contain_text("Slow mode on")
    # (a URL on the test server itself: the browser talks to no one else; it answers 404)
    stream = f"{server.url}/static/streams/friday.mp4"
    await page.get_by_label("Playback URL").fill(stream)
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#toasts")).to_contain_text("Playback URL saved")

    # then the room has both
    stored = await api.call("GET", f"/api/rooms/{room['id']}")
    assert stored["slow_mode_seconds"] == 30
    assert stored["playback_url"] == stream

    # and the viewer's page loads that URL in a video element, and says so when it cannot play
    watch = await pages.open(f"/rooms/{room['id']}")
    await expect(watch.locator("video#player")).to_have_attribute("src", stream)
    await expect(watch.locator("#poster-text")).to_have_text("The video can't be played right now.")

    # when slow mode is switched off again
    await page.get_by_text("Slow mode", exact=True).click()
    await expect(page.locator("#toasts")).to_contain_text("Slow mode off")
    assert (await api.call("GET", f"/api/rooms/{room['id']}"))["slow_mode_seconds"] == 0
