"""The short video feeds in headless Chromium: a viewer who follows a host switches /videos to
Following and sees only that host's videos, and pages on with "More videos"; a guest who picks
Following is asked to sign in.

Ready videos are inserted as rows (the feeds read rows; the transcode has its own tests)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from core.context import Services
from live.models import ShortVideo, VideoStatus
from tests.e2e.conftest import Account, Api, Pages
from web.api_videos import FEED_LIMIT

pytestmark = pytest.mark.browser

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def ready_videos(services: Services, host: Account, count: int,
                       first: datetime) -> list[int]:
    rows = [ShortVideo(host_id=host.id, title=f"{host.display_name} #{n}",
                       status=VideoStatus.READY.value, size_bytes=1000,
                       content_type="video/mp4", duration_ms=5000, width=360, height=640,
                       renditions=[360], ready_at=first + timedelta(minutes=n))
            for n in range(count)]
    async with services.db.transaction() as session:
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def shown(page: Page) -> list[int]:
    items = page.get_by_test_id("video-feed").locator("li.video-feed-item")
    return [int(i) for i in await items.evaluate_all("els => els.map(e => e.dataset.videoId)")]


async def test_a_viewer_switches_to_following_and_sees_only_the_followed_hosts_videos(
        api: Api, pages: Pages, services: Services) -> None:
    # given two hosts with videos, the newest of all Zed's, and a viewer who follows Mia
    mia = await api.signup("Mia", role="host")
    zed = await api.signup("Zed", role="host")
    viewer = await api.signup("Ann")
    mias = await ready_videos(services, mia, FEED_LIMIT + 3, START)
    zeds = await ready_videos(services, zed, 3, START + timedelta(days=1))
    await api.call("POST", f"/api/hosts/{mia.id}/follow", viewer)

    # when the viewer opens the feeds: For you is everyone's, newest first
    page = await pages.open("/videos", viewer)
    for_you = page.get_by_test_id("feed-tab-for-you")
    await expect(for_you).to_have_attribute("aria-current", "page")
    assert (await shown(page))[:3] == list(reversed(zeds))

    # and switches to Following
    await page.get_by_test_id("feed-tab-following").click()
    await expect(page.get_by_test_id("feed-tab-following")).to_have_attribute(
        "aria-current", "page")
    assert page.url.endswith("/videos?feed=following")

    # then only Mia's videos are listed, newest first, a page of them
    newest_first = list(reversed(mias))
    await expect(page.get_by_test_id("video-feed-link")).to_have_count(FEED_LIMIT)
    assert await shown(page) == newest_first[:FEED_LIMIT]
    await expect(page.get_by_test_id("video-feed-link").first).to_contain_text("Mia")

    # and "More videos" brings the rest, each once, and then goes away
    await page.get_by_test_id("feed-more").click()
    await expect(page.get_by_test_id("video-feed-link")).to_have_count(len(mias))
    assert await shown(page) == newest_first
    await expect(page.get_by_test_id("feed-more")).to_be_hidden()

    # and a video opens from the list
    await page.get_by_test_id("video-feed-link").first.click()
    await page.wait_for_url(f"**/videos/{newest_first[0]}")


async def test_a_guest_on_following_is_asked_to_sign_in_and_one_following_nobody_is_pointed_to_hosts(
        api: Api, pages: Pages, services: Services) -> None:
    mia = await api.signup("Mia", role="host")
    await ready_videos(services, mia, 2, START)
    viewer = await api.signup("Ann")

    guest = await pages.open("/videos")
    await guest.get_by_test_id("feed-tab-following").click()
    prompt = guest.get_by_test_id("feed-sign-in")
    await expect(prompt).to_contain_text("Sign in")
    await prompt.get_by_role("link", name="Sign in").click()
    await guest.wait_for_url(re.compile(r"/login\?next="))
    assert guest.url.endswith("/login?next=/videos%3Ffeed%3Dfollowing")

    page = await pages.open("/videos?feed=following", viewer)
    empty = page.get_by_test_id("feed-follow-someone")
    await expect(empty).to_contain_text("You don't follow any hosts yet")
    await empty.get_by_role("link", name="Mia").click()
    await page.wait_for_url(f"**/hosts/{mia.id}")
    # from the host's page the viewer follows, and Following has the videos
    await page.get_by_test_id("follow-button").click()
    await expect(page.get_by_test_id("follow-button")).to_have_text("Following")
    await page.goto(f"{page.url.split('/hosts/')[0]}/videos?feed=following")
    await expect(page.get_by_test_id("video-feed-link")).to_have_count(2)
