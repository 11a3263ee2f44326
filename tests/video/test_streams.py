"""The stream lifecycle without nginx: nginx's callbacks as the app sees them, who may call
them, and the sweep that ends a room whose stream stayed gone past the grace period."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from core.context import Services
from core.settings import Secret, Settings
from live import streams
from live.models import Room, RoomEvent, RoomStream
from tests.conftest import count_rows
from tests.video.stream_helpers import age_streams, publish, publish_and_end, sweep
from web.app import create_app

CALLBACK = "/internal/ingest/on_publish"


def _form(key: str, call: str = "publish", client_id: str = "7", app: str = "live") -> dict[str, str]:
    return {"call": call, "app": app, "name": key, "clientid": client_id, "addr": "127.0.0.1",
            "tcurl": "rtmp://127.0.0.1/live", "type": "live"}


async def _counts(services: Services) -> tuple[int, ...]:
    """(streams, room events)"""
    return await count_rows(services, RoomStream, RoomEvent)


async def test_publish_callback_redirects_the_key_to_the_public_name(
        client: httpx.AsyncClient, room: dict[str, Any]) -> None:
    response = await client.post(CALLBACK, data=_form(room["stream_key"]))

    assert response.status_code == 302
    assert response.headers["location"] == f"room-{room['id']}"


async def test_a_second_publisher_is_refused_while_the_first_is_on(
        client: httpx.AsyncClient, services: Services, room: dict[str, Any]) -> None:
    first = await client.post(CALLBACK, data=_form(room["stream_key"], client_id="7"))
    assert first.status_code == 302
    before = await _counts(services)

    second = await client.post(CALLBACK, data=_form(room["stream_key"], client_id="8"))

    assert second.status_code == 409
    assert second.json()["error"]["code"] == "stream_busy"
    assert await _counts(services) == before


@pytest.mark.parametrize("form", [
    {"call": "publish", "app": "live", "clientid": "7"},  # no name
    {"call": "publish", "app": "other", "name": "a" * 32, "clientid": "7"},
    {"call": "play", "app": "live", "name": "a" * 32, "clientid": "7"},
    {"call": "publish", "app": "live", "name": "bad key with spaces", "clientid": "7"},
    {"call": "publish", "app": "live", "name": "a" * 32, "clientid": "x7"},
])
async def test_bad_callback_input_is_a_4xx_json_and_changes_nothing(
        client: httpx.AsyncClient, services: Services, make_user: Any, make_room: Any,
        form: dict[str, str]) -> None:
    host = await make_user("host")
    await make_room(host)
    before = await _counts(services)

    response = await client.post(CALLBACK, data=form)

    assert response.status_code == 422
    assert response.json()["error"]["field"]
    assert await _counts(services) == before


async def test_callbacks_from_another_machine_are_refused(
        app: Any, services: Services, room: dict[str, Any]) -> None:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        response = await http.post(CALLBACK, data=_form(room["stream_key"]))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_ingest"
    assert await _counts(services) == (0, 1)  # the room's creation only


@pytest.fixture
async def secret_app(services: Services, settings: Settings) -> AsyncIterator[Any]:
    with_secret = dataclasses.replace(settings, ingest=dataclasses.replace(
        settings.ingest, callback_secret=Secret("nginx-shared-secret")))
    application = create_app(with_secret, services)
    async with application.router.lifespan_context(application):
        yield application


async def test_with_a_callback_secret_only_callers_with_it_are_heard(
        secret_app: Any, room: dict[str, Any]) -> None:
    transport = httpx.ASGITransport(app=secret_app, client=("10.0.0.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        without = await http.post(CALLBACK, data=_form(room["stream_key"]))
        wrong = await http.post(CALLBACK + "?secret=guess", data=_form(room["stream_key"]))
        right = await http.post(CALLBACK + "?secret=nginx-shared-secret",
                                data=_form(room["stream_key"]))

    assert (without.status_code, wrong.status_code, right.status_code) == (403, 403, 302)


async def test_only_the_host_rotates_the_key_and_it_is_never_logged(
        client: httpx.AsyncClient, services: Services, make_user: Any, make_room: Any) -> None:
    host = await make_user("host")
    other = await make_user("host")
    room = await make_room(host)

    refused = await client.post(f"/api/rooms/{room['id']}/stream-key", headers=other.headers)
    rotated = await client.post(f"/api/rooms/{room['id']}/stream-key", headers=host.headers)

    assert refused.status_code == 403
    assert rotated.status_code == 200
    new_key = rotated.json()["stream_key"]
    assert new_key != room["stream_key"] and rotated.json()["ingest_url"].startswith("rtmp://")
    async with services.db.session() as session:
        logged = [e.data for e in await session.scalars(select(RoomEvent).where(
            RoomEvent.room_id == room["id"], RoomEvent.type == "stream_key_rotated"))]
    assert len(logged) == 1 and new_key not in str(logged)


async def _status(services: Services, room_id: int) -> str:
    async with services.db.session() as session:
        return str(await session.scalar(select(Room.status).where(Room.id == room_id)))


async def test_a_stream_gone_past_the_grace_period_ends_the_room(
        services: Services, room: dict[str, Any]) -> None:
    room_id = await publish_and_end(services, room["stream_key"], "7")
    await age_streams(services, room_id, 61)

    ended = await sweep(services)

    assert ended == [room_id]
    assert await _status(services, room_id) == "ended"


async def test_a_stream_back_within_the_grace_period_keeps_the_room_live(
        services: Services, room: dict[str, Any]) -> None:
    room_id = await publish_and_end(services, room["stream_key"], "7")
    await age_streams(services, room_id, 30)

    await publish(services, room["stream_key"], "9")
    await age_streams(services, room_id, 120)  # a long stream since, still on
    async with services.db.transaction() as session:  # … and nginx still reports it
        await session.execute(update(RoomStream).where(RoomStream.ended_at.is_(None))
                              .values(last_seen_at=func.now()))
    ended = await sweep(services)

    assert ended == []
    assert await _status(services, room_id) == "live"


async def test_a_room_live_without_any_stream_is_left_alone(
        services: Services, make_user: Any, make_room: Any) -> None:
    host = await make_user("host")
    room = await make_room(host, live=True)

    ended = await streams.end_rooms_without_stream(services, grace_seconds=0.001, update_seconds=1)

    assert ended == []
    assert await _status(services, room["id"]) == "live"


async def test_a_publisher_nginx_stopped_reporting_is_ended_and_a_new_one_accepted(
        services: Services, room: dict[str, Any]) -> None:
    await publish(services, room["stream_key"])
    await age_streams(services, room["id"], 31)  # three missed updates: nginx is gone

    again = await publish(services, room["stream_key"])

    assert again.room_id == room["id"]
    async with services.db.session() as session:
        reasons = list(await session.scalars(select(RoomStream.end_reason)
                                             .order_by(RoomStream.id)))
    assert reasons == ["lost", None]


async def test_ending_the_room_cuts_off_its_encoder_at_the_next_update(
        client: httpx.AsyncClient, services: Services, make_user: Any, make_room: Any) -> None:
    host = await make_user("host")
    room = await make_room(host)
    await publish(services, room["stream_key"])
    assert await streams.stream_alive(services, room["stream_key"], "7") == room["id"]

    response = await client.post(f"/api/rooms/{room['id']}/status", json={"status": "ended"},
                                 headers=host.headers)
    assert response.status_code == 200

    update_reply = await client.post("/internal/ingest/on_update", data=_form(
        room["stream_key"], call="update_publish"))
    assert update_reply.status_code == 409
    assert update_reply.json()["error"]["code"] == "room_ended"
