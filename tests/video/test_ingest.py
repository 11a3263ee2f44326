"""Going live from an encoder: nginx-rtmp asks the app about each publish (live/streams.py,
web/api_ingest.py). ffmpeg pushes a test pattern to a real nginx on loopback ports."""

from __future__ import annotations

import time
from typing import Any

import httpx
from sqlalchemy import func, select

from core.context import Services
from live.models import RoomEvent, RoomStream
from tests.conftest import poll_until
from tests.video.conftest import Ingest, playlist_ready

# Long enough for nginx's callback, ffmpeg's start and a few one-second segments on a busy
# two-core machine.
PUBLISH_TIMEOUT = 30.0


async def _room(ingest: Ingest, room_id: int, host: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=ingest.url, timeout=10) as http:
        response = await http.get(f"/api/rooms/{room_id}", headers=host.headers)
    assert response.status_code == 200, response.text
    room: dict[str, Any] = response.json()
    return room


async def _event_types(services: Services, room_id: int) -> list[str]:
    async with services.db.session() as session:
        return list(await session.scalars(select(RoomEvent.type).where(RoomEvent.room_id == room_id)
                                          .order_by(RoomEvent.id)))


async def _stream_count(services: Services) -> int:
    async with services.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(RoomStream)) or 0)


def _files_under(ingest: Ingest) -> list[str]:
    return [str(p.relative_to(ingest.layout.hls_dir)) for p in ingest.layout.hls_dir.rglob("*")]


async def _refused(ingest: Ingest, key: str) -> int:
    """Push with `key` and wait for nginx to refuse it: ffmpeg gives up with an error."""
    push = ingest.push(key, seconds=20)

    async def exited() -> bool:
        return push.poll() is not None

    await poll_until(exited, timeout=PUBLISH_TIMEOUT, message="ffmpeg to be refused")
    return push.returncode


async def test_publish_with_the_room_key_goes_live_and_serves_hls_under_the_public_id(
        ingest_pushes: Ingest, services: Services, make_user: Any, make_room: Any) -> None:
    ingest = ingest_pushes
    host = await make_user("host")
    room = await make_room(host)
    key = room["stream_key"]
    assert room["status"] == "scheduled"

    started = time.monotonic()
    ingest.push(key)
    playlist = ingest.playlist_url(room["id"])
    await poll_until(lambda: playlist_ready(playlist), timeout=PUBLISH_TIMEOUT,
                     interval=0.1, message="the first HLS segment")
    latency = time.monotonic() - started
    print(f"\nffmpeg start -> first playable HLS segment: {latency:.2f} s")

    assert (await _room(ingest, room["id"], host))["status"] == "live"
    files = _files_under(ingest)
    assert f"room-{room['id']}" in files
    assert not any(key in name for name in files)  # served under the public id, never the key
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(playlist, headers={"Origin": "http://example.test"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "no-cache" in response.headers["cache-control"]
    types = await _event_types(services, room["id"])
    assert types[-2:] == ["room_live", "stream_started"]


async def test_stopping_the_encoder_records_the_stream_end_and_the_show_goes_on(
        ingest_pushes: Ingest, services: Services, make_user: Any, make_room: Any) -> None:
    ingest = ingest_pushes
    host = await make_user("host")
    room = await make_room(host)
    ingest.push(room["stream_key"])
    await poll_until(lambda: playlist_ready(ingest.playlist_url(room["id"])),
                     timeout=PUBLISH_TIMEOUT, interval=0.1, message="the stream")

    ingest.stop_pushes()

    async def ended() -> bool:
        return "stream_ended" in await _event_types(services, room["id"])

    await poll_until(ended, timeout=PUBLISH_TIMEOUT, interval=0.1, message="the stream's end")
    async with services.db.session() as session:
        stream = await session.scalar(select(RoomStream).where(RoomStream.room_id == room["id"]))
    assert stream is not None and stream.ended_at is not None and stream.end_reason == "done"
    # A dropped encoder does not end the show: the grace period (and the sweep) decide that.
    assert (await _room(ingest, room["id"], host))["status"] == "live"

    # The encoder comes back: the same room, live again, the stream marked as resumed.
    ingest.push(room["stream_key"])

    async def resumed() -> bool:
        async with services.db.session() as session:
            return bool(await session.scalar(select(func.count()).select_from(RoomStream).where(
                RoomStream.room_id == room["id"], RoomStream.ended_at.is_(None))))

    await poll_until(resumed, timeout=PUBLISH_TIMEOUT, interval=0.1, message="the second stream")
    async with services.db.session() as session:
        last = await session.scalar(select(RoomEvent).where(
            RoomEvent.room_id == room["id"], RoomEvent.type == "stream_started")
            .order_by(RoomEvent.id.desc()).limit(1))
    assert last is not None and last.data["resumed"] is True


async def test_a_wrong_key_is_refused_and_nothing_is_written(
        ingest_pushes: Ingest, services: Services, make_user: Any, make_room: Any) -> None:
    host = await make_user("host")
    room = await make_room(host)

    assert await _refused(ingest_pushes, "not-the-key-of-any-room-000000") != 0

    assert (await _room(ingest_pushes, room["id"], host))["status"] == "scheduled"
    assert await _stream_count(services) == 0
    assert f"room-{room['id']}" not in _files_under(ingest_pushes)


async def test_a_rotated_key_is_refused(ingest_pushes: Ingest, services: Services,
                                        make_user: Any, make_room: Any) -> None:
    host = await make_user("host")
    room = await make_room(host)
    old_key = room["stream_key"]
    async with httpx.AsyncClient(base_url=ingest_pushes.url, timeout=10) as http:
        response = await http.post(f"/api/rooms/{room['id']}/stream-key", headers=host.headers)
    assert response.status_code == 200, response.text
    assert response.json()["stream_key"] != old_key

    assert await _refused(ingest_pushes, old_key) != 0

    assert (await _room(ingest_pushes, room["id"], host))["status"] == "scheduled"
    assert await _stream_count(services) == 0


async def test_an_ended_room_refuses_a_publish(ingest_pushes: Ingest, services: Services,
                                               make_user: Any, make_room: Any,
                                               client: httpx.AsyncClient) -> None:
    host = await make_user("host")
    room = await make_room(host)
    response = await client.post(f"/api/rooms/{room['id']}/status", json={"status": "ended"},
                                 headers=host.headers)
    assert response.status_code == 200, response.text

    assert await _refused(ingest_pushes, room["stream_key"]) != 0

    assert await _stream_count(services) == 0
    assert f"room-{room['id']}" not in _files_under(ingest_pushes)


async def test_rotating_the_key_cuts_off_its_publisher(
        ingest_pushes: Ingest, services: Services, make_user: Any, make_room: Any) -> None:
    ingest = ingest_pushes
    host = await make_user("host")
    room = await make_room(host)
    push = ingest.push(room["stream_key"], seconds=120)
    await poll_until(lambda: playlist_ready(ingest.playlist_url(room["id"])),
                     timeout=PUBLISH_TIMEOUT, interval=0.1, message="the stream")

    async with httpx.AsyncClient(base_url=ingest.url, timeout=10) as http:
        response = await http.post(f"/api/rooms/{room['id']}/stream-key", headers=host.headers)
    assert response.status_code == 200, response.text

    async def cut_off() -> bool:
        return push.poll() is not None

    await poll_until(cut_off, timeout=PUBLISH_TIMEOUT, interval=0.1, message="the cut-off")

    async def ended() -> bool:
        return "stream_ended" in await _event_types(services, room["id"])

    await poll_until(ended, timeout=PUBLISH_TIMEOUT, interval=0.1, message="the stream's end")
