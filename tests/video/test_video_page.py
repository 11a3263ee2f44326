"""Product tags on a short video, and its page: the poster, the video playing, and each tag's
card appearing at its moment and opening the product (headless Chromium)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.context import Services
from core.settings import Settings
from live import videos
from tests.conftest import LiveServer, poll_until
from tests.video.clips import make_clip


@pytest.fixture(autouse=True)
def need_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed; the video tests need `apt-get install ffmpeg`")


async def _ready_video(client: httpx.AsyncClient, services: Services, settings: Settings,
                       host: Any, clip: Path) -> dict[str, Any]:
    response = await client.post("/api/videos", params={"title": "Rain jacket in the rain"},
                                 content=clip.read_bytes(),
                                 headers={**host.headers, "Content-Type": "video/mp4"})
    assert response.status_code == 202, response.text
    video: dict[str, Any] = response.json()
    assert await videos.process_video(services, settings.video, video["id"]) == "ready"
    return video


async def _tagged_video(client: httpx.AsyncClient, services: Services, settings: Settings,
                        host: Any, clip: Path, product: dict[str, Any],
                        at_ms: int) -> dict[str, Any]:
    """A ready video of the clip with one tag: the product at that moment."""
    video = await _ready_video(client, services, settings, host, clip)
    response = await client.put(f"/api/videos/{video['id']}/tags",
                                json={"tags": [{"product_id": product["id"], "at_ms": at_ms}]},
                                headers=host.headers)
    assert response.status_code == 200
    return video


async def test_tags_are_the_hosts_products_within_the_video(
        client: httpx.AsyncClient, services: Services, settings: Settings, make_user: Any,
        make_product: Any, tmp_path: Path) -> None:
    host, other = await make_user("host"), await make_user("host")
    jacket = await make_product(host, title="Jacket")
    boots = await make_product(host, title="Boots")
    theirs = await make_product(other, title="Not yours")
    video = await _ready_video(client, services, settings, host,
                               make_clip(tmp_path / "c.mp4", seconds=3, size="640x360"))
    url = f"/api/videos/{video['id']}/tags"

    saved = await client.put(url, json={"tags": [{"product_id": boots["id"], "at_ms": 2000},
                                                 {"product_id": jacket["id"], "at_ms": 500}]},
                             headers=host.headers)
    foreign = await client.put(url, json={"tags": [{"product_id": theirs["id"], "at_ms": 0}]},
                               headers=host.headers)
    too_late = await client.put(url, json={"tags": [{"product_id": jacket["id"], "at_ms": 60_000}]},
                                headers=host.headers)
    not_host = await client.put(url, json={"tags": []}, headers=other.headers)

    assert saved.status_code == 200, saved.text
    assert (foreign.status_code, too_late.status_code, not_host.status_code) == (422, 422, 403)
    assert foreign.json()["error"]["field"] == "tags.0.product_id"
    body = (await client.get(f"/api/videos/{video['id']}")).json()
    assert [(t["at_ms"], t["product"]["title"]) for t in body["tags"]] == [(500, "Jacket"),
                                                                           (2000, "Boots")]


async def test_the_video_page_plays_and_shows_a_tag_card_at_its_moment(
        live_server: LiveServer, chromium: Any, client: httpx.AsyncClient, services: Services,
        settings: Settings, make_user: Any, make_product: Any, tmp_path: Path) -> None:
    host = await make_user("host")
    jacket = await make_product(host, title="Rain jacket", price_minor=8900, currency="EUR")
    video = await _tagged_video(client, services, settings, host,
                                make_clip(tmp_path / "c.mp4", seconds=5, size="640x360"),
                                jacket, at_ms=1500)
    context = await chromium.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await page.goto(f"{live_server.url}/videos/{video['id']}")
        # the poster first
        poster = await page.get_attribute("#short-video", "poster")
        assert poster == f"/media/videos/{video['id']}/poster.jpg"
        assert (await client.get(poster)).status_code == 200

        async def played_to(seconds: float) -> bool:
            return bool(await page.evaluate(
                f"document.querySelector('#short-video').currentTime > {seconds}"))

        # no card before its moment
        assert await page.locator("[data-testid=tag-card]").count() == 0
        await poll_until(lambda: played_to(2.0), timeout=30, interval=0.1,
                         message="the video to play past the tag")
        card = page.get_by_test_id("tag-card")
        await card.wait_for(timeout=5000)
        assert "Rain jacket" in await card.inner_text()

        await card.click()
        dialog = page.get_by_test_id("product-dialog")
        await dialog.wait_for(timeout=5000)
        assert "Rain jacket" in await dialog.inner_text()
        assert errors == []

        # the page recorded the view and the card's click for the video's report (the
        # server's recorder writes them within a second or so)
        from analytics.models import AnalyticsEvent

        async def recorded() -> bool:
            async with services.db.session() as session:
                kinds = set(await session.scalars(select(AnalyticsEvent.kind).where(
                    AnalyticsEvent.video_id == video["id"])))
            return {"video_view", "product_click"} <= kinds

        await poll_until(recorded, timeout=15, interval=0.2,
                         message="the view and the click to be recorded")
    finally:
        await context.close()


async def test_the_feed_lists_ready_videos_newest_first(
        client: httpx.AsyncClient, services: Services, settings: Settings, make_user: Any,
        tmp_path: Path) -> None:
    host = await make_user("host")
    clip = make_clip(tmp_path / "c.mp4", seconds=2, size="640x360")
    older = await _ready_video(client, services, settings, host, clip)
    newer = await _ready_video(client, services, settings, host, clip)
    waiting = (await client.post("/api/videos", params={"title": "Not yet"},
                                 content=clip.read_bytes(),
                                 headers={**host.headers, "Content-Type": "video/mp4"})).json()

    feed = (await client.get("/api/videos")).json()["videos"]
    page = await client.get("/videos")

    assert [v["id"] for v in feed] == [newer["id"], older["id"]]
    assert page.status_code == 200
    assert page.text.index(f"/videos/{newer['id']}") < page.text.index(f"/videos/{older['id']}")
    assert f"/videos/{waiting['id']}\"" not in page.text


async def test_a_replay_lists_a_chapter_per_product_that_jumps_to_its_moment(
        live_server: LiveServer, chromium: Any, client: httpx.AsyncClient, services: Services,
        settings: Settings, make_user: Any, make_product: Any, make_room: Any,
        tmp_path: Path) -> None:
    from sqlalchemy import update

    from live.models import ShortVideo

    host = await make_user("host")
    hat = await make_product(host, title="Straw hat")
    bag = await make_product(host, title="Tote bag")
    room = await make_room(host, products=[hat, bag])
    video = await _ready_video(client, services, settings, host,
                               make_clip(tmp_path / "c.mp4", seconds=8, size="640x360"))
    # (the recording and the pins are covered by test_replays.py: here, the page)
    async with services.db.transaction() as session:
        await session.execute(update(ShortVideo).where(ShortVideo.id == video["id"])
                              .values(room_id=room["id"]))
    response = await client.put(f"/api/videos/{video['id']}/tags", json={"tags": [
        {"product_id": hat["id"], "at_ms": 1000}, {"product_id": bag["id"], "at_ms": 6000},
        {"product_id": hat["id"], "at_ms": 7000}]}, headers=host.headers)
    assert response.status_code == 200
    context = await chromium.new_context()
    page = await context.new_page()
    try:
        await page.goto(f"{live_server.url}/videos/{video['id']}")
        chapters = page.get_by_test_id("chapter")
        await chapters.first.wait_for(timeout=5000)
        assert [await c.inner_text() for c in await chapters.all()] == ["0:01 Straw hat",
                                                                         "0:06 Tote bag"]

        await chapters.nth(1).click()

        async def jumped() -> bool:
            return bool(await page.evaluate(
                "document.querySelector('#short-video').currentTime >= 6"))

        await poll_until(jumped, timeout=15, interval=0.1, message="the jump to the tote bag")
        card = page.get_by_test_id("tag-card").first
        await card.wait_for(timeout=5000)
        assert "Tote bag" in await card.inner_text()
        assert "Current price" in await card.inner_text()
    finally:
        await context.close()


async def test_a_product_on_flash_sale_is_bought_from_the_video_and_attributed_to_it(
        live_server: LiveServer, chromium: Any, client: httpx.AsyncClient, services: Services,
        settings: Settings, make_user: Any, make_product: Any, make_room: Any,
        tmp_path: Path) -> None:
    from orders.models import Order

    # given a ready video tagging a scarf that the host's live room has on flash sale now
    host, buyer = await make_user("host"), await make_user()
    scarf = await make_product(host, title="Silk scarf", price_minor=4000, stock=20)
    room = await make_room(host, products=[scarf], live=True)
    response = await client.post(f"/api/rooms/{room['id']}/sales", json={
        "product_id": scarf["id"], "price_minor": 2500, "quantity": 5, "per_user_limit": 1,
        "duration_seconds": 600}, headers=host.headers)
    assert response.status_code == 201, response.text
    video = await _tagged_video(client, services, settings, host,
                                make_clip(tmp_path / "c.mp4", seconds=3, size="640x360"),
                                scarf, at_ms=0)
    context = await chromium.new_context()
    await context.add_cookies([{"name": "livesell_session", "value": buyer.token,
                                "url": live_server.url}])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        # when the viewer opens the card and buys from the dialog
        await page.goto(f"{live_server.url}/videos/{video['id']}")
        await page.get_by_test_id("tag-card").click()
        buy = page.get_by_test_id("video-buy")
        await buy.wait_for(timeout=5000)
        assert "25.00" in await buy.inner_text()
        await buy.click()
        await page.get_by_test_id("video-pay").wait_for(timeout=10_000)
        order_id = int(await page.get_by_test_id("video-buy-note").get_attribute("data-order-id")
                       or 0)

        # then the order is the flash sale's, attributed to the video
        async with services.db.session() as session:
            order = await session.get(Order, order_id)
        assert order is not None and order.user_id == buyer.id
        assert (order.source_kind, order.source_id, order.amount_minor) == (
            "video", video["id"], 2500)
        assert errors == []
    finally:
        await context.close()
