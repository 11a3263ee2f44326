"""Follows, go-live alerts and reviews in headless Chromium: follow from the room, the
follower's home lists the host first, a notification arrives when the host goes live (sent by
a real Celery worker), and a review of a completed order moves the score on the room page."""

from __future__ import annotations

import re

import orjson
import pytest
from playwright.async_api import Page, expect

from core.context import Services
from orders import paying
from orders.models import OutboxMessage
from orders.payments.sandbox import WEBHOOK_PATH, SandboxProvider
from tests.e2e.conftest import Api, Pages
from tests.e2e.test_flash_sale import buy, start_sale
from tests.workers.conftest import CeleryProcess

pytestmark = pytest.mark.browser

# The alert goes commit -> broker -> worker -> notification rows -> user event -> page; a worker
# on a loaded two-core machine can take a while to pick a task up.
ALERT_TIMEOUT_MS = 30_000


@pytest.fixture
def alert_worker(solo_worker: CeleryProcess) -> CeleryProcess:
    return solo_worker


async def connected(page: Page) -> Page:
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    return page


async def test_follow_from_the_room_then_home_lists_the_host_first_and_going_live_notifies(
        api: Api, pages: Pages, alert_worker: CeleryProcess) -> None:
    # given a host live now, another host live too, and a viewer in the first host's room
    host = await api.signup("Mia", role="host")
    other = await api.signup("Zed", role="host")
    room = await api.room(host, title="Mia's vintage hour")
    await api.room(other, title="Zed's gadgets")
    viewer = await api.signup("Ann")
    page = await connected(await pages.open(f"/rooms/{room['id']}", viewer))
    await expect(page.get_by_test_id("follower-count")).to_have_text("0")

    # when the viewer follows the host from the room
    await page.get_by_test_id("follow-button").click()

    # then the button and the count say so
    await expect(page.get_by_test_id("follow-button")).to_have_text("Following")
    await expect(page.get_by_test_id("follower-count")).to_have_text("1")

    # and when the host schedules another show, the viewer's home lists the host's shows first
    later = await api.room(host, live=False, title="Mia's Sunday drop")
    home = await pages.open("/", viewer)
    following = home.get_by_test_id("following-rooms")
    await expect(following.locator("a.room-card")).to_have_count(2)
    assert await following.locator("a.room-card").first.get_attribute("data-room-id") == \
        str(room["id"])
    first_section = home.locator("section.section").first
    await expect(first_section).to_have_attribute("aria-labelledby", "following-heading")
    assert await home.get_by_test_id("live-rooms").locator(
        f'a[data-room-id="{room["id"]}"]').count() == 0

    # when the host goes live with the scheduled show while the viewer watches the first one
    await api.call("POST", f"/api/rooms/{later['id']}/status", host, json={"status": "live"})

    # then a notification arrives on the room page: the badge counts it, a toast says it
    badge = page.get_by_test_id("unread-count")
    await expect(badge).to_have_text("1", timeout=ALERT_TIMEOUT_MS)
    await expect(badge).to_be_visible()
    await expect(page.locator(".toast")).to_contain_text("Mia is live")
    # and the notifications page lists it, and marking it read clears the badge
    inbox = await pages.open("/notifications", viewer)
    item = inbox.get_by_test_id("notification")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("Mia is live")
    await expect(item.locator("a")).to_have_attribute("href", f"/rooms/{later['id']}")
    await inbox.get_by_test_id("mark-read").click()
    await expect(inbox.get_by_test_id("unread-count")).to_be_hidden()
    await expect(inbox.get_by_test_id("page-unread")).to_have_text("0")


async def _pay(api: Api, services: Services, order_id: int) -> None:
    """The sandbox gateway's signed webhook for a paid order, posted to the live server."""
    outbox_id = await paying.submit_sandbox_payment(services, order_id, pay=True)
    async with services.db.session() as session:
        message = await session.get(OutboxMessage, outbox_id)
    assert message is not None
    body = orjson.dumps(message.payload["event"])
    provider = SandboxProvider.from_settings(services.settings)
    response = await api.http.post(WEBHOOK_PATH, content=body,
                                   headers=provider.signed_headers(body))
    assert response.status_code == 200, response.text


async def test_a_buyer_reviews_a_completed_order_and_the_score_updates_in_the_room(
        api: Api, pages: Pages, services: Services) -> None:
    # given a buyer in a host's room whose order from the host's flash sale was paid
    host = await api.signup("Mia", role="host")
    scarf = await api.product(host, title="Silk scarf", price_minor=1999, stock=20)
    room = await api.room(host, [scarf], title="Friday flash drop")
    sale = await start_sale(api, host, room, scarf)
    buyer = await api.signup("Ben")
    order = await buy(api, buyer, sale["id"])
    await _pay(api, services, order["id"])
    page = await connected(await pages.open(f"/rooms/{room['id']}", buyer))
    card = page.get_by_test_id("review-card")
    await expect(card).to_be_hidden()
    await api.call("POST", f"/api/orders/{order['id']}/complete", host)

    # when the host marks it fulfilled, the room offers to rate it (the buyer's `order` user
    # event), the score is not there yet, and the buyer rates the order 4
    await expect(card).to_be_visible()
    score = page.get_by_test_id("seller-score")
    await expect(score).to_have_text("No reviews yet")
    await expect(page.get_by_test_id("review-order")).to_contain_text("Silk scarf")
    await page.get_by_test_id("star-4").check()
    await page.get_by_test_id("review-body").fill("Lovely, a day late")
    await page.get_by_test_id("review-submit").click()

    # then the card goes and the score beside the host's name counts the review
    await expect(card).to_be_hidden()
    await expect(score).to_contain_text("1 review, 1 paid order")
    await expect(score).to_contain_text(re.compile(r"\d\.\d★"))
    # and a fresh load shows the same, and the product's details show the review
    again = await pages.open(f"/rooms/{room['id']}", buyer)
    await expect(again.get_by_test_id("seller-score")).to_contain_text("1 review")
    await expect(again.get_by_test_id("review-card")).to_be_hidden()
    await again.get_by_test_id("pinned-open").or_(
        again.locator("#lineup [data-product-id]").first).first.click()
    reviews = again.get_by_test_id("product-reviews")
    await expect(reviews).to_be_visible()
    await expect(reviews).to_contain_text("Lovely, a day late")

    # and when the host replies from their panel, the reply stands on the host's public page
    panel = await pages.open("/host", host)
    review = panel.get_by_test_id("host-review")
    await expect(review).to_contain_text("Lovely, a day late")
    await review.locator("textarea[name=reply]").fill("Sorry for the wait, Ben!")
    await review.get_by_role("button", name="Reply").click()
    await expect(review.locator(".review-reply")).to_contain_text("Sorry for the wait, Ben!")
    await expect(review.get_by_test_id("reply-form")).to_have_count(0)
    public = await pages.open(f"/hosts/{host.id}", buyer)
    await expect(public.get_by_test_id("review")).to_contain_text("Seller: Sorry for the wait")
    await expect(public.get_by_test_id("seller-score")).to_contain_text("1 review")


async def test_remind_me_on_a_scheduled_show_notifies_when_it_goes_live(
        api: Api, pages: Pages, alert_worker: CeleryProcess) -> None:
    # given a scheduled show and a viewer (not a follower) on its page
    host = await api.signup("Mia", role="host")
    later = await api.room(host, live=False, title="Mia's Sunday drop")
    viewer = await api.signup("Cat")
    page = await connected(await pages.open(f"/rooms/{later['id']}", viewer))

    # when they ask to be reminded, and the host goes live
    await page.get_by_test_id("remind-button").click()
    await expect(page.get_by_test_id("remind-button")).to_have_text("Reminder set")
    await api.call("POST", f"/api/rooms/{later['id']}/status", host, json={"status": "live"})

    # then the page shows the room live and the reminder arrives
    await expect(page.get_by_test_id("room-status")).to_have_attribute("data-status", "live")
    await expect(page.get_by_test_id("remind-button")).to_be_hidden()
    await expect(page.get_by_test_id("unread-count")).to_have_text("1", timeout=ALERT_TIMEOUT_MS)
    await expect(page.locator(".toast")).to_contain_text("Mia is live")
