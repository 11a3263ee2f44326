"""Red envelope rains and lucky draws in the browser: the host drops a rain and starts a draw
from the host panel, a viewer grabs an envelope and joins the draw in the room, the winners
appear in both pages, the verification page agrees, and so does `livesell verify-draw`; a
draw that follows the host is won by following from the room."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.conftest import Api, Pages, host_and_viewer, screenshot
from tests.infra import ROOT

pytestmark = pytest.mark.browser

PHONE = (390, 844)
# A draw closes at its countdown, then every web process's tick (1 s) draws it.
DRAW_TIMEOUT_MS = 20_000


async def start_draw(host_page: Page, prize: str, rule: str, *, countdown_seconds: int) -> None:
    """The host panel's draw form: one winner of `prize`, entered by `rule`."""
    draw_form = host_page.get_by_test_id("draw-form")
    await draw_form.get_by_test_id("engage-prize").fill(prize)
    await draw_form.get_by_test_id("engage-winner_count").fill("1")
    await draw_form.get_by_test_id("engage-rule").select_option(rule)
    await draw_form.get_by_test_id("engage-countdown_seconds").fill(str(countdown_seconds))
    await draw_form.get_by_test_id("start-draw").click()


async def test_the_host_drops_a_rain_and_starts_a_draw_and_a_viewer_grabs_and_wins(
        api: Api, pages: Pages, server: LiveServer) -> None:
    show = await api.show(title="Friday drop")
    host, room = show.host, show.room
    host_page, room_page, viewer = await host_and_viewer(api, pages, host, room)
    phone_viewer = await api.signup("Ana")
    phone_page = await pages.watch(show, phone_viewer, width=PHONE[0], height=PHONE[1],
                                   has_touch=True)

    # the host drops a rain of 5 envelopes, 10.00 in all, opening in 2 s
    rain_form = host_page.get_by_test_id("rain-form")
    await rain_form.get_by_test_id("engage-envelope_count").fill("5")
    await rain_form.get_by_test_id("engage-pool").fill("10.00")
    await rain_form.get_by_test_id("engage-countdown_seconds").fill("2")
    await rain_form.get_by_test_id("engage-duration_seconds").fill("30")
    await rain_form.get_by_test_id("drop-rain").click()

    # the viewer sees the countdown and the commitment, then grabs once it opens
    rain = room_page.get_by_test_id("rain")
    await expect(rain.get_by_test_id("rain-countdown")).to_contain_text("Opens in")
    await expect(rain.get_by_test_id("seed-hash")).not_to_be_empty()
    grab = rain.get_by_test_id("grab-button")
    await expect(grab).to_be_enabled(timeout=10_000)
    await grab.click()
    await expect(rain.get_by_test_id("rain-won")).to_contain_text("You got $")
    await expect(rain.get_by_test_id("grab-button")).to_have_count(0)
    # on a phone the rain sits over the video, the Grab button in reach, nothing sideways
    phone_grab = phone_page.get_by_test_id("grab-button")
    await expect(phone_grab).to_be_in_viewport()
    await phone_grab.tap()
    await expect(phone_page.get_by_test_id("rain-won")).to_contain_text("You got $")
    assert await phone_page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth")
    await screenshot(phone_page, "engagement-phone")
    # the host's card sees the rain too, with no Grab button for them
    await expect(host_page.get_by_test_id("rain")).to_contain_text("Red envelope rain")
    await expect(host_page.get_by_test_id("grab-button")).to_have_count(0)

    # a second drop while this one runs is refused by name in the form
    await rain_form.get_by_test_id("drop-rain").click()
    await expect(rain_form.locator(".form-error")).to_contain_text("has not ended yet")

    # the host starts an in-room draw of one prize, drawn in 6 s
    await start_draw(host_page, "Tea set", "in_room", countdown_seconds=6)

    draw = room_page.get_by_test_id("draw")
    await expect(draw.get_by_test_id("draw-prize")).to_contain_text("Tea set")
    await expect(draw.get_by_test_id("draw-countdown")).to_contain_text("Draws in")
    await draw.get_by_test_id("join-draw").click()
    await expect(draw.get_by_test_id("draw-entered")).to_contain_text("You're in")
    await screenshot(room_page, "engagement-viewer-open")

    # at the close the room sees the winner, and the viewer that they won
    await expect(draw.get_by_test_id("draw-winners")).to_contain_text("Leo", timeout=DRAW_TIMEOUT_MS)
    await expect(draw.get_by_test_id("draw-result")).to_have_attribute("data-result", "won")
    await expect(host_page.get_by_test_id("draw-winners")).to_contain_text("Leo")
    await screenshot(room_page, "engagement-viewer-drawn")

    # the public verification page agrees with what the room was shown
    await draw.get_by_test_id("draw-verify").click()
    await expect(room_page.get_by_test_id("verify-verdict")).to_have_attribute("data-ok", "true")
    await expect(room_page.get_by_test_id("verify-recomputed")).to_have_text(str(viewer.id))
    await expect(room_page.get_by_test_id("verify-winners")).to_have_text(str(viewer.id))
    # and the reader's browser, with its own WebCrypto, comes to the same answer
    await expect(room_page.get_by_test_id("browser-verdict")).to_have_attribute("data-ok", "true")
    await screenshot(room_page, "engagement-verify")

    # and so does the command line, from the public API alone
    draw_id = int(room_page.url.rstrip("/").split("/")[-2])
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "web.cli", "verify-draw", str(draw_id),
                         "--url", server.url], cwd=ROOT, capture_output=True, text=True,
        timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "matches" in done.stdout and done.stdout.rstrip().endswith("verified")

    # the host starts a draw that follows the host; the phone viewer follows from the room and
    # is in, and at the close, as the only follower, wins
    await start_draw(host_page, "Mug", "follows", countdown_seconds=5)
    phone_draw = phone_page.get_by_test_id("draw")
    await expect(phone_draw.get_by_test_id("draw-prize")).to_contain_text("Mug")
    await expect(phone_draw.get_by_test_id("draw-rule")).to_contain_text("Follow the host")
    await expect(phone_draw.get_by_test_id("join-draw")).to_have_count(0)
    await phone_page.locator("#follow-btn").click()
    await expect(phone_draw.get_by_test_id("draw-entered")).to_contain_text("you're in")
    await expect(phone_draw.get_by_test_id("draw-winners")).to_contain_text(
        "Ana", timeout=DRAW_TIMEOUT_MS)
    await expect(phone_draw.get_by_test_id("draw-result")).to_have_attribute("data-result", "won")
