"""A room's replay: nginx's recording of the show, joined, transcoded, and tagged with each
pin at its moment in the recording."""

from __future__ import annotations

import re
from typing import Any

import httpx

from core.context import Services
from core.settings import Settings
from live import replays, transcode, videos
from tests.conftest import poll_until
from tests.video.conftest import Ingest, playlist_ready

TIMEOUT = 40.0


async def _media_sequence(url: str) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(url)).text
    found = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
    return int(found.group(1)) if found else -1


async def test_an_ended_show_becomes_a_replay_with_its_pins_at_their_moments(
        ingest_pushes: Ingest, client: httpx.AsyncClient, services: Services,
        settings: Settings, make_user: Any, make_product: Any, make_room: Any) -> None:
    ingest = ingest_pushes
    host = await make_user("host")
    scarf = await make_product(host, title="Silk scarf")
    room = await make_room(host, products=[scarf])
    playlist = ingest.playlist_url(room["id"])

    # given a show that streamed, with a product pinned a few seconds in
    ingest.push(room["stream_key"], seconds=120)
    await poll_until(lambda: playlist_ready(playlist), timeout=TIMEOUT, interval=0.1,
                     message="the stream")
    start = await _media_sequence(playlist)

    async def streamed(segments: int) -> bool:
        return await _media_sequence(playlist) >= start + segments

    await poll_until(lambda: streamed(2), timeout=TIMEOUT, interval=0.2, message="2 s more")
    pinned = await client.post(f"/api/rooms/{room['id']}/pin", json={"product_id": scarf["id"]},
                               headers=host.headers)
    assert pinned.status_code == 200, pinned.text
    pin_sequence = await _media_sequence(playlist)
    await poll_until(lambda: streamed(pin_sequence - start + 2), timeout=TIMEOUT, interval=0.2,
                     message="2 s after the pin")
    ingest.stop_pushes()
    ended = await client.post(f"/api/rooms/{room['id']}/status", json={"status": "ended"},
                              headers=host.headers)
    assert ended.status_code == 200

    async def recorded() -> bool:
        files = replays.recordings(ingest.records, room["id"])
        if not files:
            return False
        try:
            return transcode.probe(files[-1]).duration_seconds > 3
        except transcode.TranscodeError:
            return False

    await poll_until(recorded, timeout=TIMEOUT, interval=0.2, message="nginx's recording")

    # when the replay is built (the beat's live.build_replays) and transcoded
    video_id = await replays.build_replay(services, settings.video, ingest.records, room["id"])
    assert video_id is not None
    assert await replays.build_replay(services, settings.video, ingest.records,
                                      room["id"]) == video_id  # once
    assert await videos.process_video(services, settings.video, video_id) == "ready"

    # then it is a ready video of the show, with the pin as a tag inside the recording
    body = (await client.get(f"/api/videos/{video_id}")).json()
    assert body["status"] == "ready" and body["room_id"] == room["id"]
    [tag] = body["tags"]
    assert tag["product"]["id"] == scarf["id"]
    assert 1000 <= tag["at_ms"] < body["duration_ms"]
    print(f"\npin at {tag['at_ms']} ms of a {body['duration_ms']} ms replay")
