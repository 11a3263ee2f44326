"""The host panel and the live room, both open at once, talking through the websocket hub."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import (
    LIVE_TIMEOUT_MS,
    Account,
    Api,
    Pages,
    connected,
    host_and_viewer,
    screenshot,
    until,
)

pytestmark = pytest.mark.browser

XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


async def chat(page: Page, text: str) -> None:
    await page.get_by_test_id("chat-input").fill(text)
    await page.get_by_test_id("chat-input").press("Enter")


def line(page: Page, text: str) -> Any:
    return page.get_by_test_id("chat-list").locator("li", has_text=text)


async def show(api: Api, *, live: bool = True) -> tuple[Account, dict[str, Any], list[dict[str, Any]]]:
    scene = await api.show({"title": "Silk scarf", "price_minor": 1999, "currency": "USD",
                            "stock": 50},
                           {"title": "Leather tote", "price_minor": 12900, "currency": "USD",
                            "stock": 4}, live=live, title="Friday vintage drop")
    return scene.host, scene.room, scene.products


async def test_host_pins_and_the_viewer_card_changes_within_two_seconds(api: Api, pages: Pages) -> None:
    # given a live room with the host panel and a viewer's page open
    host, room, _ = await show(api)
    panel, watch, _ = await host_and_viewer(api, pages, host, room)
    card = watch.get_by_test_id("pinned-card")
    await expect(card).to_have_attribute("data-empty", "true")

    # when the host pins the scarf
    await panel.get_by_test_id("lineup-item").filter(has_text="Silk scarf").get_by_test_id("pin").click()

    # then the viewer's card shows it, price and stock formatted, within two seconds
    await expect(watch.get_by_test_id("pinned-title")).to_have_text("Silk scarf", timeout=LIVE_TIMEOUT_MS)
    await expect(watch.get_by_test_id("pinned-price")).to_have_text("$19.99")
    await expect(watch.get_by_test_id("pinned-stock")).to_have_text("50 in stock")
    await expect(panel.get_by_test_id("host-pinned")).to_have_text("Silk scarf")

    # when the host pins the tote instead
    await panel.get_by_test_id("lineup-item").filter(has_text="Leather tote").get_by_test_id("pin").click()

    # then the card changes to it, again within two seconds
    await expect(watch.get_by_test_id("pinned-title")).to_have_text("Leather tote", timeout=LIVE_TIMEOUT_MS)
    await expect(watch.get_by_test_id("pinned-price")).to_have_text("$129.00")
    await expect(watch.get_by_test_id("pinned-stock")).to_have_text("Only 4 left")
    await screenshot(watch, "room-viewer-pinned")
    await screenshot(panel, "host-room-live")

    # when the host unpins
    await panel.get_by_test_id("unpin").click()

    # then the card is empty again
    await expect(card).to_have_attribute("data-empty", "true", timeout=LIVE_TIMEOUT_MS)


async def test_viewer_chats_and_the_host_sees_it(api: Api, pages: Pages) -> None:
    # given a live room, the host panel and a viewer's page
    host, room, _ = await show(api)
    panel, watch, _ = await host_and_viewer(api, pages, host, room)

    # when the viewer chats
    await chat(watch, "Is the scarf real silk?")

    # then the host sees the line with the viewer's name, and so does the viewer
    await expect(line(panel, "Is the scarf real silk?")).to_contain_text("Leo")
    await expect(line(watch, "Is the scarf real silk?")).to_be_visible()

    # when the host answers
    await chat(panel, "Yes, 100% mulberry silk")

    # then the viewer sees it marked as the host's
    answer = line(watch, "Yes, 100% mulberry silk")
    await expect(answer).to_contain_text("Host")
    await screenshot(watch, "room-viewer-chat")


async def test_chat_markup_shows_as_text_and_never_runs(api: Api, pages: Pages) -> None:
    # given a live room, the host panel and a viewer's page
    host, room, _ = await show(api)
    viewer = await api.signup("Leo")
    # (with the pages' Content-Security-Policy off: the text must be safe without it)
    panel = await connected(await pages.open(f"/host/rooms/{room['id']}", host, bypass_csp=True))
    watch = await connected(await pages.open(f"/rooms/{room['id']}", viewer, bypass_csp=True))

    # when the viewer sends a line of markup
    await chat(watch, XSS)

    # then both pages show it as text, create no element from it, and run none of it
    for page in (panel, watch):
        text = page.get_by_test_id("chat-text").filter(has_text="<script>")
        await expect(text).to_have_text(XSS)
        assert await page.get_by_test_id("chat-list").locator("script, img").count() == 0
        assert await page.evaluate("window.__xss") is None
    await screenshot(panel, "host-room-chat-markup")

    # and the pages forbid inline scripts anyway
    page_response = await watch.request.get(watch.url)
    assert "script-src 'self'" in page_response.headers["content-security-policy"]


async def chat_frame_refused(page: Page, text: str, code: str) -> None:
    """The page's socket sends a chat line, past the page's own checks; the server answers with
    an error of this code."""
    await page.evaluate(f"window.livesell.socket.send({{type: 'chat', text: {json.dumps(text)}}})")
    await until(page, f"window.livesell.errors.some(e => e.code === {json.dumps(code)})")


async def test_guest_sees_sign_in_prompt_and_cannot_chat(api: Api, pages: Pages) -> None:
    # given a live room where a viewer has chatted, open to a guest
    host, room, _ = await show(api)
    panel, watch, _ = await host_and_viewer(api, pages, host, room)
    guest = await connected(await pages.open(f"/rooms/{room['id']}"))
    await chat(watch, "hello from Leo")

    # then the guest reads the chat but gets a sign-in prompt instead of a chat box
    await expect(line(guest, "hello from Leo")).to_be_visible()
    await expect(guest.get_by_test_id("chat-signin")).to_contain_text("Sign in to chat")
    await expect(guest.get_by_test_id("chat-input")).to_have_count(0)
    await screenshot(guest, "room-guest")

    # when the guest's page sends a chat frame anyway, then the server refuses it
    await chat_frame_refused(guest, "sneaky guest line", "auth_required")

    # and no one sees it
    await chat(watch, "after the guest")
    await expect(line(panel, "after the guest")).to_be_visible()
    await expect(line(panel, "sneaky guest line")).to_have_count(0)

    # and the sign-in prompt leads to the login page and back to the room
    await guest.get_by_role("link", name="Sign in to chat").click()
    await expect(guest).to_have_url(re.compile(rf"/login\?next=/rooms/{room['id']}$"))


async def test_host_deletes_a_message_and_the_viewers_copy_disappears(api: Api, pages: Pages) -> None:
    # given a viewer's line on both pages
    host, room, _ = await show(api)
    panel, watch, viewer = await host_and_viewer(api, pages, host, room)
    await chat(watch, "buy followers at spam.example")
    await expect(line(panel, "spam.example")).to_be_visible()
    await expect(line(watch, "spam.example")).to_be_visible()

    # when the host deletes it from the chat line
    await line(panel, "spam.example").hover()
    await line(panel, "spam.example").get_by_test_id("chat-delete").click()

    # then it disappears from the viewer's page, and from the host's
    await expect(line(watch, "spam.example")).to_have_count(0)
    await expect(line(panel, "spam.example")).to_have_count(0)

    # and a page opened later does not get it back
    late = await connected(await pages.open(f"/rooms/{room['id']}", viewer))
    await expect(late.get_by_test_id("chat-list")).not_to_contain_text("spam.example")


async def test_host_mutes_a_user_and_their_chat_is_refused(api: Api, pages: Pages) -> None:
    # given two viewers; one chats
    host, room, _ = await show(api)
    rude = await api.signup("Rex")
    polite = await api.signup("Ana")
    panel = await connected(await pages.open(f"/host/rooms/{room['id']}", host))
    rex = await connected(await pages.open(f"/rooms/{room['id']}", rude))
    ana = await connected(await pages.open(f"/rooms/{room['id']}", polite))
    await chat(rex, "this show is trash")
    await expect(line(panel, "this show is trash")).to_be_visible()

    # when the host mutes him from his chat line
    await line(panel, "this show is trash").hover()
    await line(panel, "this show is trash").get_by_test_id("chat-mute").click()

    # then his chat box is closed and says why
    await expect(rex.get_by_test_id("chat-input")).to_be_disabled()
    await expect(rex.get_by_test_id("chat-notice")).to_contain_text("muted")
    await expect(line(panel, "this show is trash").get_by_test_id("chat-unmute")).to_be_visible()
    await screenshot(rex, "room-viewer-muted")

    # when his page sends a chat frame anyway, then the server refuses it
    await chat_frame_refused(rex, "still here", "muted")

    # and no one sees it, while others still chat
    await chat(ana, "love the tote")
    await expect(line(panel, "love the tote")).to_be_visible()
    await expect(line(panel, "still here")).to_have_count(0)
    await expect(line(ana, "still here")).to_have_count(0)

    # when the host unmutes him, he can chat again
    await line(panel, "this show is trash").hover()
    await line(panel, "this show is trash").get_by_test_id("chat-unmute").click()
    await expect(rex.get_by_test_id("chat-input")).to_be_enabled()
    await chat(rex, "sorry about that")
    await expect(line(panel, "sorry about that")).to_be_visible()


async def test_viewer_sees_the_room_go_live_and_end(api: Api, pages: Pages) -> None:
    # given a scheduled room with a viewer waiting
    host, room, _ = await show(api, live=False)
    panel, watch, _ = await host_and_viewer(api, pages, host, room)
    await expect(watch.get_by_test_id("status-banner")).to_contain_text("hasn't started")
    await expect(watch.get_by_test_id("room-status")).to_have_text("Upcoming")
    await screenshot(watch, "room-scheduled")

    # when the host goes live
    await panel.get_by_test_id("go-live").click()

    # then the viewer's page turns live
    await expect(watch.get_by_test_id("room-status")).to_have_text("Live")
    await expect(watch.get_by_test_id("status-banner")).to_be_hidden()

    # when the host ends the show
    await panel.get_by_test_id("end-room").click()
    await panel.get_by_test_id("confirm-yes").click()

    # then the viewer sees that it has ended, and can no longer chat
    await expect(watch.get_by_test_id("status-banner")).to_contain_text("ended")
    await expect(watch.get_by_test_id("chat-input")).to_be_disabled()
    await screenshot(watch, "room-ended")


async def test_likes_and_viewer_count_reach_the_host(api: Api, pages: Pages) -> None:
    # given a live room with the host panel open
    host, room, _ = await show(api)
    viewer = await api.signup("Leo")
    panel = await connected(await pages.open(f"/host/rooms/{room['id']}", host))

    # when a viewer joins and taps like three times
    watch = await connected(await pages.open(f"/rooms/{room['id']}", viewer))
    for _ in range(3):
        await watch.get_by_test_id("like-button").click()

    # then the host sees the likes and the one viewer watching (their own panel is not counted)
    await expect(panel.get_by_test_id("like-count")).to_have_text("3")
    await expect(panel.get_by_test_id("viewer-count")).to_have_text("1")
    await expect(watch.get_by_test_id("like-count")).to_have_text("3")


async def test_viewer_resumes_after_a_dropped_connection(api: Api, pages: Pages) -> None:
    # given a viewer connected to a live room
    host, room, products = await show(api)
    viewer = await api.signup("Leo")
    watch = await connected(await pages.open(f"/rooms/{room['id']}", viewer))
    offset_before = await watch.evaluate("window.livesell.socket.offset")

    # when the connection drops, and meanwhile the host pins and someone chats
    await watch.evaluate("window.livesell.socket.stopped = true; window.livesell.socket.ws.close()")
    await expect(watch.get_by_test_id("connection")).not_to_have_attribute("data-state", "open")
    await api.call("POST", f"/api/rooms/{room['id']}/pin", host, json={"product_id": products[1]["id"]})
    other = await connected(await pages.open(f"/rooms/{room['id']}", await api.signup("Ana")))
    await chat(other, "missed me?")
    await expect(line(other, "missed me?")).to_be_visible()

    # and the page reconnects from its last offset
    await watch.evaluate("window.livesell.socket.stopped = false; window.livesell.socket.connect()")
    await connected(watch)

    # then the missed pin and chat line are applied, and the offset moved on
    await expect(watch.get_by_test_id("pinned-title")).to_have_text("Leather tote")
    await expect(line(watch, "missed me?")).to_be_visible()
    assert await watch.evaluate("window.livesell.socket.offset") > offset_before


async def test_room_page_fits_a_phone(api: Api, pages: Pages) -> None:
    # given a live room with a pinned product and a chat line
    host, room, products = await show(api)
    await api.call("POST", f"/api/rooms/{room['id']}/pin", host, json={"product_id": products[0]["id"]})
    viewer = await api.signup("Leo")

    # when a viewer opens it on a phone-sized screen and chats
    phone = await connected(await pages.open(f"/rooms/{room['id']}", viewer, width=390, height=844))
    await chat(phone, "does it come in blue?")

    # then the video, the pinned card and the chat box are all there, one above the other,
    # and nothing is wider than the screen
    await expect(line(phone, "does it come in blue?")).to_be_visible()
    await expect(phone.get_by_test_id("pinned-title")).to_have_text("Silk scarf")
    stage = await phone.locator("#stage").bounding_box()
    card = await phone.get_by_test_id("pinned-card").bounding_box()
    assert stage is not None and card is not None and stage["y"] < card["y"]
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await phone.evaluate("window.scrollTo(0, 0)")
    await screenshot(phone, "room-phone")


async def test_a_restock_reaches_the_pinned_card(api: Api, pages: Pages) -> None:
    # given a viewer watching a pinned product with 4 left
    host, room, products = await show(api)
    await api.call("POST", f"/api/rooms/{room['id']}/pin", host, json={"product_id": products[1]["id"]})
    watch = await connected(await pages.open(f"/rooms/{room['id']}", await api.signup("Leo")))
    await expect(watch.get_by_test_id("pinned-stock")).to_have_text("Only 4 left")

    # when the host restocks it and changes its price
    await api.call("PATCH", f"/api/products/{products[1]['id']}", host,
                   json={"stock": 25, "price_minor": 9900})

    # then the card shows the new stock and price
    await expect(watch.get_by_test_id("pinned-stock")).to_have_text("25 in stock")
    await expect(watch.get_by_test_id("pinned-price")).to_have_text("$99.00")


async def test_viewer_opens_product_details_and_the_click_is_counted(api: Api, pages: Pages) -> None:
    # given a viewer watching a live room with a pinned product
    host, room, products = await show(api)
    await api.call("PATCH", f"/api/products/{products[0]['id']}", host,
                   json={"description": "Hand-rolled edges.\nMulberry silk."})
    await api.call("POST", f"/api/rooms/{room['id']}/pin", host, json={"product_id": products[0]["id"]})
    watch = await connected(await pages.open(f"/rooms/{room['id']}", await api.signup("Leo")))
    await expect(watch.get_by_test_id("pinned-title")).to_have_text("Silk scarf")

    # when they tap the pinned card
    async with watch.expect_response(lambda r: r.url.endswith(f"/api/rooms/{room['id']}/track")
                                     and "product_click" in (r.request.post_data or "")) as info:
        await watch.get_by_test_id("pinned-open").click()

    # then the details open, and the click is reported for the room's funnel
    dialog = watch.get_by_test_id("product-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Mulberry silk.")
    await expect(dialog).to_contain_text("$19.99")
    await screenshot(watch, "room-product-details", full_page=False)
    response = await info.value
    assert response.status == 202

    # when they close it and open the tote from the lineup
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_be_hidden()
    await watch.get_by_test_id("viewer-lineup").get_by_role("button", name="Leather tote: details").click()

    # then the tote's details show
    await expect(dialog).to_contain_text("Only 4 left")


async def test_chat_keeps_a_reader_where_they_scrolled(api: Api, pages: Pages) -> None:
    # given a host panel whose (short) chat is full of lines, scrolled up by the host
    host, room, _ = await show(api)
    panel = await connected(await pages.open(f"/host/rooms/{room['id']}", host))
    chat_list = panel.get_by_test_id("chat-list")
    await chat_list.evaluate("list => { list.style.flex = 'none'; list.style.height = '110px'; }")
    for number in range(4):
        await chat(panel, f"line {number}")
        await expect(line(panel, f"line {number}")).to_have_count(1)
    await chat_list.evaluate("list => { list.scrollTop = 0; list.dispatchEvent(new Event('scroll')); }")

    # when a new line arrives
    viewer = await connected(await pages.open(f"/rooms/{room['id']}", await api.signup("Leo")))
    await chat(viewer, "a new question")
    await expect(line(panel, "a new question")).to_have_count(1)

    # then the host stays where they were, with a button to jump to the new lines
    assert await chat_list.evaluate("list => list.scrollTop") == 0
    await panel.get_by_role("button", name="New messages ↓").click()
    await expect(line(panel, "a new question")).to_be_in_viewport()
    await expect(panel.get_by_role("button", name="New messages ↓")).to_be_hidden()


async def test_slow_mode_holds_a_line_until_it_may_go(api: Api, pages: Pages) -> None:
    # given a live room in slow mode (one line every 2 s) with a viewer
    host, room, _ = await show(api)
    await api.call("PATCH", f"/api/rooms/{room['id']}", host, json={"slow_mode_seconds": 2})
    panel = await connected(await pages.open(f"/host/rooms/{room['id']}", host))
    watch = await connected(await pages.open(f"/rooms/{room['id']}", await api.signup("Leo")))
    await expect(watch.locator("#slow-mode-note")).to_have_text("Slow mode · 2s")
    await expect(panel.get_by_test_id("slow-toggle")).to_be_checked()

    # when the viewer sends two lines at once
    await chat(watch, "first!")
    await chat(watch, "second!")

    # then the second waits its turn instead of being refused, and both arrive in order
    await expect(watch.get_by_test_id("chat-notice")).to_contain_text("Sending in")
    await expect(line(panel, "second!")).to_be_visible()
    texts = await panel.get_by_test_id("chat-text").all_text_contents()
    assert texts.index("first!") < texts.index("second!")
