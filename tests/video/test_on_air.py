"""The room's `on_air` state: set by an accepted publish, kept through a drop within the grace
period, cleared when the grace period is over; in the hub's snapshot (and rebuilt the same
from PostgreSQL), sent as an `on_air` room event, and in the room page's boot. The player's
side is in test_player_browser.py."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from core.context import Services
from live import queries, streams
from live.actions import rebuild_room_state
from realtime.history import read_snapshot
from tests.conftest import capture_news
from tests.video.stream_helpers import age_streams, publish, publish_and_end, sweep


async def _snapshot_on_air(services: Services, room_id: int) -> Any:
    snapshot = await read_snapshot(services.redis, services.keys, room_id)
    return snapshot.state.get("on_air")


async def _rebuilt_on_air(services: Services, room_id: int) -> Any:
    async with services.db.session() as session:
        return (await queries.room_state(session, room_id))["on_air"]


def _on_air_events(captured: list[dict[str, Any]]) -> list[Any]:
    return [(e["data"], e["state"]) for e in captured if e["type"] == "on_air"]


def _boot(page: httpx.Response) -> dict[str, Any]:
    found = re.search(r'<script id="boot" type="application/json">(.*?)</script>', page.text,
                      re.S)
    assert found is not None
    boot: dict[str, Any] = json.loads(found.group(1))
    return boot


async def test_a_live_room_without_a_stream_is_not_on_air(
        client: httpx.AsyncClient, services: Services, make_user: Any, make_room: Any) -> None:
    host = await make_user("host")
    room = await make_room(host, live=True)

    assert await _rebuilt_on_air(services, room["id"]) is False
    assert _boot(await client.get(f"/rooms/{room['id']}"))["video"]["on_air"] is False


async def test_a_publish_puts_the_room_on_air_in_its_snapshot_and_as_an_event(
        client: httpx.AsyncClient, services: Services, make_user: Any, make_room: Any) -> None:
    # given a live room whose viewers are waiting for the host's encoder
    host = await make_user("host")
    room = await make_room(host, live=True)

    # when nginx accepts the encoder's publish
    async with capture_news(services) as captured:
        await publish(services, room["stream_key"])

    # then the room hears it is on air, its snapshot says so, a rebuild from PostgreSQL agrees,
    # and a page loaded now starts on air
    assert _on_air_events(captured) == [({"on_air": True}, {"on_air": True})]
    assert await _snapshot_on_air(services, room["id"]) is True
    assert await _rebuilt_on_air(services, room["id"]) is True
    assert _boot(await client.get(f"/rooms/{room['id']}"))["video"]["on_air"] is True


async def test_a_drop_within_the_grace_period_keeps_the_room_on_air(
        services: Services, room: dict[str, Any]) -> None:
    await publish(services, room["stream_key"])

    # when the encoder drops, and the sweep runs within the grace period
    async with capture_news(services) as captured:
        await streams.end_publish(services, room["stream_key"], "7")
        await age_streams(services, room["id"], 30)
        ended = await sweep(services)

    # then nothing takes it off air: players keep looking for the stream to come back
    assert ended == []
    assert _on_air_events(captured) == []
    assert await _snapshot_on_air(services, room["id"]) is True
    assert await _rebuilt_on_air(services, room["id"]) is True


async def test_the_grace_period_over_takes_the_room_off_air_as_it_ends(
        services: Services, room: dict[str, Any]) -> None:
    await publish_and_end(services, room["stream_key"])
    await age_streams(services, room["id"], 61)

    async with capture_news(services) as captured:
        ended = await sweep(services)

    assert ended == [room["id"]]
    # (the room hears it ended from the RoomEnded handler, after the commit, and off air from
    # the sweep: in either order the page stops looking, as an ended room is off air too)
    assert sorted(e["type"] for e in captured) == ["on_air", "room"]
    assert _on_air_events(captured) == [({"on_air": False}, {"on_air": False})]
    [ended_event] = [e for e in captured if e["type"] == "room"]
    assert ended_event["state"]["on_air"] is False and ended_event["data"]["status"] == "ended"
    assert await _snapshot_on_air(services, room["id"]) is False
    assert await _rebuilt_on_air(services, room["id"]) is False


async def test_the_host_ending_the_room_takes_it_off_air(
        client: httpx.AsyncClient, services: Services, make_user: Any, make_room: Any) -> None:
    host = await make_user("host")
    room = await make_room(host)
    await publish(services, room["stream_key"])

    response = await client.post(f"/api/rooms/{room['id']}/status", json={"status": "ended"},
                                 headers=host.headers)

    assert response.status_code == 200, response.text
    assert await _snapshot_on_air(services, room["id"]) is False
    # and a rebuilt state says the same
    await rebuild_room_state(services, room["id"])
    assert await _snapshot_on_air(services, room["id"]) is False
