"""The live room plays the stream an encoder pushes (headless Chromium, hls.js): it waits for
the host before the first segment, plays, and picks the stream up again after a drop."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import poll_until
from tests.video.conftest import Ingest

# ffmpeg's start, nginx's callback, the first segments and hls.js's start, on a busy machine.
PLAY_TIMEOUT_MS = 40_000
# player.js's PLAYLIST_POLL_MS: how often a player on air looks for the playlist.
PLAYLIST_POLL_SECONDS = 2.0


async def _wait(page: Any, expression: str, timeout_ms: int = 5000) -> None:
    """Poll `expression` in the page (page.wait_for_function would `eval` inside the page,
    which its CSP refuses, and the CSP is part of what is tested here)."""

    async def true() -> bool:
        return bool(await page.evaluate(expression))

    await poll_until(true, timeout=timeout_ms / 1000, interval=0.1, message=expression)


async def _current_time(page: Any) -> float:
    return float(await page.evaluate("document.querySelector('#player').currentTime"))


async def test_the_room_plays_the_pushed_stream_and_recovers_after_a_drop(
        ingest_pushes: Ingest, chromium: Any, make_user: Any, make_room: Any) -> None:
    ingest = ingest_pushes
    host = await make_user("host")
    room = await make_room(host)
    async with httpx.AsyncClient(base_url=ingest.url, timeout=10) as http:
        response = await http.post(f"/api/rooms/{room['id']}/status", json={"status": "live"},
                                   headers=host.headers)
    assert response.status_code == 200, response.text
    context = await chromium.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    hls_requests: list[str] = []
    page.on("request", lambda request: hls_requests.append(request.url)
            if "/hls/" in request.url else None)
    try:
        # given a viewer in the live room before the host's encoder is on: nothing is on air,
        # so the player waits for the host without fetching anything
        await page.goto(f"{ingest.url}/rooms/{room['id']}")
        await _wait(page, "document.querySelector('#conn-state').dataset.state === 'open'")
        await _wait(page, "document.querySelector('#player').dataset.state === 'idle'")
        assert "Waiting for the host" in await page.inner_text("#poster-text")
        await page.evaluate("window.__sameDocument = true")
        # (an absence: a poll interval of the player passes without a playlist request, and
        # no poll is scheduled)
        await asyncio.sleep(PLAYLIST_POLL_SECONDS)
        assert hls_requests == []
        assert await page.evaluate("window.livesell.video.pollTimer === null")

        # when the encoder pushes, then the on_air event starts the player in the same page,
        # and the video plays: its time advances
        ingest.push(room["stream_key"], seconds=120)
        await _wait(page, "document.querySelector('#player').currentTime > 1",
                                     PLAY_TIMEOUT_MS)
        assert await page.evaluate("window.__sameDocument === true")
        assert any(url.endswith(f"/room-{room['id']}/index.m3u8") for url in hls_requests)
        first = await _current_time(page)
        await _wait(page, f"document.querySelector('#player').currentTime > {first + 1}",
            PLAY_TIMEOUT_MS)
        assert await page.is_visible("#player")

        # when the encoder drops and comes back, then the same page (no reload) plays on
        ingest.stop_pushes()
        dropped_at = await _current_time(page)
        ingest.push(room["stream_key"], seconds=120)
        await _wait(page, "document.querySelector('#player').dataset.state === 'playing'"
                          f" && document.querySelector('#player').currentTime > {dropped_at + 2}",
                    PLAY_TIMEOUT_MS)
        assert await page.evaluate("window.__sameDocument === true")
        assert errors == []
    finally:
        await context.close()


async def test_the_room_waits_again_when_the_stream_stops_and_plays_when_it_is_back(
        ingest_pushes: Ingest, chromium: Any, make_user: Any, make_room: Any) -> None:
    ingest = ingest_pushes
    host = await make_user("host")
    room = await make_room(host)
    context = await chromium.new_context()
    page = await context.new_page()
    try:
        # given a viewer watching the stream
        ingest.push(room["stream_key"], seconds=120)
        await page.goto(f"{ingest.url}/rooms/{room['id']}")
        await _wait(page, "document.querySelector('#player').currentTime > 1", PLAY_TIMEOUT_MS)
        await page.evaluate("window.__sameDocument = true")

        # when the encoder stops for longer than the player waits out a stall
        ingest.stop_pushes()
        await _wait(page, "document.querySelector('#player').dataset.state === 'waiting'",
                    PLAY_TIMEOUT_MS)
        assert "Waiting for the host" in await page.inner_text("#poster-text")

        # then, once it is back, the same page plays again
        ingest.push(room["stream_key"], seconds=120)
        await _wait(page, "document.querySelector('#player').dataset.state === 'playing'"
                          " && document.querySelector('#player').currentTime > 1",
                    PLAY_TIMEOUT_MS)
        generation = await page.evaluate("window.livesell.video.generation")
        played = await _current_time(page)
        await _wait(page, f"document.querySelector('#player').currentTime > {played + 1}",
                    PLAY_TIMEOUT_MS)
        assert await page.evaluate("window.__sameDocument === true")
        assert await page.evaluate("window.livesell.video.generation") == generation
    finally:
        await context.close()
