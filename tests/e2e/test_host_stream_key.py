"""The host panel's stream settings: the ingest server and the key to paste into OBS, the key
hidden until shown, and a new key on demand (docs/video.md)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.conftest import Api, Pages


async def test_host_sees_the_ingest_url_and_makes_a_new_key(api: Api, pages: Pages) -> None:
    # given a host on their room's page
    host = await api.signup("Noor", role="host")
    room = await api.room(host, live=False)
    page = await pages.open(f"/host/rooms/{room['id']}", host)
    page.on("dialog", lambda dialog: dialog.accept())

    # then the server is shown, and the key only once revealed
    await expect(page.get_by_test_id("ingest-url")).to_have_text("rtmp://127.0.0.1:1935/live")
    key = page.get_by_test_id("stream-key")
    await expect(key).not_to_contain_text(room["stream_key"])
    await page.locator("#key-toggle").click()
    await expect(key).to_have_text(room["stream_key"])

    # when they make a new key
    await page.get_by_test_id("key-rotate").click()
    await expect(page.locator("#toasts")).to_contain_text("New stream key made")

    # then the room has a new key, hidden again, and shown when revealed
    stored = await api.call("GET", f"/api/rooms/{room['id']}", host)
    assert stored["stream_key"] != room["stream_key"]
    await expect(key).not_to_contain_text(stored["stream_key"])
    await page.locator("#key-toggle").click()
    await expect(key).to_have_text(stored["stream_key"])
