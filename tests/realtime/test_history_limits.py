"""Bounded room memory: the resume history by bytes as well as by count, and a small hello."""

from __future__ import annotations

import httpx
import orjson
import pytest

from core.context import Services
from live.schemas import DESCRIPTION_MAX_LENGTH, LINEUP_MAX_PRODUCTS
from realtime import publish
from realtime.publish import history_bytes_key, history_key, publish_room
from tests.conftest import MakeUser
from tests.realtime.conftest import Connect


async def _history_bytes(services: Services, room_id: int) -> int:
    frames = await services.redis.zrange(history_key(services.keys, room_id), 0, -1)
    return sum(len(frame) for frame in frames)


@pytest.mark.redis6
async def test_history_is_capped_by_bytes_and_resume_still_works(
        make_user: MakeUser, make_room, services: Services, connect_viewer: Connect) -> None:
    # given a room and a viewer who saw it a moment ago
    host = await make_user("host")
    room = await make_room(host, live=True)
    room_id = room["id"]
    first = await connect_viewer(room_id)
    old_offset = (await first.next("hello"))["data"]["offset"]
    await first.close()

    # when far more than the cap in large events is published (well under the count cap)
    big = "x" * 64 * 1024
    events = publish.HISTORY_MAX_BYTES // len(big) * 3
    for n in range(events):
        await publish_room(services.redis, services.keys, room_id, "note", {"n": n, "text": big})

    # then the stored history stays under the cap, and its counter says what it holds
    stored = await _history_bytes(services, room_id)
    assert stored <= publish.HISTORY_MAX_BYTES
    assert stored > publish.HISTORY_MAX_BYTES // 2
    assert int(await services.redis.get(history_bytes_key(services.keys, room_id))) == stored
    kept = await services.redis.zcard(history_key(services.keys, room_id))
    assert 1 < kept < events

    # and a viewer behind what is kept gets a fresh hello instead of a gap
    back = await connect_viewer(room_id, offset=old_offset)
    hello = await back.next("hello", "resume")
    assert hello["type"] == "hello"
    latest = hello["data"]["offset"]

    # and one within what is kept resumes with exactly the missed events
    recent = await connect_viewer(room_id, offset=latest - 2)
    resume = await recent.next("resume", "hello")
    assert resume["type"] == "resume" and resume["data"]["to_offset"] == latest
    missed = [await recent.next("note") for _ in range(2)]
    assert [e["offset"] for e in missed] == [latest - 1, latest]


async def test_one_event_larger_than_the_cap_is_still_kept_alone(
        make_user: MakeUser, make_room, services: Services) -> None:
    host = await make_user("host")
    room = await make_room(host)
    room_id = room["id"]
    await publish_room(services.redis, services.keys, room_id, "note", {"text": "small"})

    await publish_room(services.redis, services.keys, room_id, "note",
                       {"text": "y" * (publish.HISTORY_MAX_BYTES + 1)})

    frames = await services.redis.zrange(history_key(services.keys, room_id), 0, -1)
    assert len(frames) == 1 and b"yyyy" in frames[0]
    assert int(await services.redis.get(history_bytes_key(services.keys, room_id))) == len(frames[0])


async def test_hello_stays_small_with_a_full_lineup_of_long_descriptions(
        make_user: MakeUser, make_product, make_room, client: httpx.AsyncClient,
        connect_viewer: Connect) -> None:
    # given a room with the largest lineup allowed, every product with the longest description
    host = await make_user("host")
    products = [await make_product(host, title=f"Product {n}",
                                   description="d" * DESCRIPTION_MAX_LENGTH)
                for n in range(LINEUP_MAX_PRODUCTS)]
    room = await make_room(host, products=products, live=True)
    pinned = products[7]
    response = await client.post(f"/api/rooms/{room['id']}/pin",
                                 json={"product_id": pinned["id"]}, headers=host.headers)
    assert response.status_code == 200, response.text

    # when a viewer connects
    viewer = await connect_viewer(room["id"])
    raw = await viewer.ws.recv()

    # then the hello is small: the lineup carries what its cards show, not the descriptions
    # (100 descriptions alone would be 200 kB)
    assert len(raw) < 32 * 1024
    hello = orjson.loads(raw)
    assert hello["type"] == "hello"
    lineup = hello["data"]["lineup"]
    assert [p["id"] for p in lineup] == [p["id"] for p in products]
    assert {"id", "title", "price_minor", "currency", "stock", "image_url"} <= set(lineup[0])
    # the pinned product keeps its description (its card shows it), the others leave it out
    assert len([p for p in lineup if "description" in p]) <= 1
    assert hello["data"]["pin"]["description"] == "d" * DESCRIPTION_MAX_LENGTH

    # and the page can fetch the details by URL
    response = await client.get(f"/api/rooms/{room['id']}/lineup")
    assert response.status_code == 200
    assert all(p["description"] == "d" * DESCRIPTION_MAX_LENGTH
               for p in response.json()["products"])
