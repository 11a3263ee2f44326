"""Rooms, products, the lineup and pins over the JSON API."""

from __future__ import annotations

from sqlalchemy import func, select

from core.context import Services
from live.models import RoomEvent, RoomEventType
from realtime.publish import ServerEvent
from tests.conftest import capture_news


async def test_host_builds_a_room_goes_live_and_pins(client, make_user, make_product, services):
    # given a host with two products
    host = await make_user("host")
    scarf = await make_product(host, title="Scarf")
    mug = await make_product(host, title="Mug", price_minor=850, currency="EUR")

    # when they create a room, line up both, go live and pin each in turn
    room = (await client.post("/api/rooms", json={"title": "Friday drop",
                                                  "playback_url": "https://cdn.example.com/a.m3u8"},
                              headers=host.headers)).json()
    assert room["status"] == "scheduled" and room["stream_key"]
    lineup = await client.put(f"/api/rooms/{room['id']}/lineup",
                              json={"product_ids": [mug["id"], scarf["id"]]}, headers=host.headers)
    assert [p["title"] for p in lineup.json()["products"]] == ["Mug", "Scarf"]
    live = await client.post(f"/api/rooms/{room['id']}/status", json={"status": "live"},
                             headers=host.headers)
    assert live.json()["status"] == "live" and live.json()["started_at"]
    async with capture_news(services) as published:
        await client.post(f"/api/rooms/{room['id']}/pin", json={"product_id": scarf["id"]},
                          headers=host.headers)
        await client.post(f"/api/rooms/{room['id']}/pin", json={"product_id": mug["id"]},
                          headers=host.headers)
        await client.delete(f"/api/rooms/{room['id']}/pin", headers=host.headers)

    # then the room tells viewers each change, in order, with the state it implies (a pin
    # also sends the product's units left, coalesced, which may land anywhere among these)
    pins = [e for e in published if e["type"] != ServerEvent.VARIANT_STOCK]
    assert [(e["type"], (e["data"].get("product") or {}).get("title")) for e in pins] == [
        ("pin", "Scarf"), ("pin", "Mug"), ("unpin", None)]
    assert pins[-1]["state"] == {"pin": None}
    detail = (await client.get(f"/api/rooms/{room['id']}")).json()
    assert detail["pinned_product_id"] is None
    assert "stream_key" not in detail  # a guest never sees the stream key


async def test_every_room_change_is_in_the_event_log(client, make_user, make_product, make_room,
                                                      services: Services):
    host = await make_user("host")
    product = await make_product(host)
    room = await make_room(host, products=[product], live=True)
    await client.post(f"/api/rooms/{room['id']}/pin", json={"product_id": product["id"]},
                      headers=host.headers)
    await client.post(f"/api/rooms/{room['id']}/status", json={"status": "ended"},
                      headers=host.headers)

    events = (await client.get(f"/api/rooms/{room['id']}/events", headers=host.headers)).json()
    assert [e["type"] for e in events["events"]] == [
        RoomEventType.ROOM_CREATED, RoomEventType.LINEUP_SET, RoomEventType.ROOM_LIVE,
        RoomEventType.PIN, RoomEventType.ROOM_ENDED]
    assert all(e["created_at"] for e in events["events"])


async def test_status_moves_only_forward(client, make_user, make_room):
    host = await make_user("host")
    room = await make_room(host, live=True)
    await client.post(f"/api/rooms/{room['id']}/status", json={"status": "ended"},
                      headers=host.headers)

    again = await client.post(f"/api/rooms/{room['id']}/status", json={"status": "live"},
                              headers=host.headers)

    assert again.status_code == 409
    assert again.json()["error"] == {"code": "illegal_transition", "field": "status",
                                     "message": "a room cannot move from ended to live",
                                     "from": "ended", "to": "live"}


async def test_pin_needs_a_product_of_the_lineup(client, make_user, make_product, make_room,
                                                 services: Services):
    host = await make_user("host")
    in_lineup = await make_product(host)
    elsewhere = await make_product(host)
    room = await make_room(host, products=[in_lineup], live=True)
    async with services.db.session() as session:
        before = await session.scalar(select(func.count()).select_from(RoomEvent))

    response = await client.post(f"/api/rooms/{room['id']}/pin",
                                 json={"product_id": elsewhere["id"]}, headers=host.headers)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_in_lineup"
    assert response.json()["error"]["field"] == "product_id"
    async with services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(RoomEvent)) == before


async def test_lineup_rejects_another_hosts_product(client, make_user, make_product, make_room):
    host = await make_user("host")
    other = await make_user("host")
    theirs = await make_product(other)
    room = await make_room(host)

    response = await client.put(f"/api/rooms/{room['id']}/lineup",
                                json={"product_ids": [theirs["id"]]}, headers=host.headers)

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "product_ids"
    assert (await client.get(f"/api/rooms/{room['id']}/lineup")).json()["products"] == []


async def test_changing_a_product_updates_lineups_of_open_rooms(client, make_user, make_product,
                                                                make_room, services):
    host = await make_user("host")
    product = await make_product(host, title="Old")
    room = await make_room(host, products=[product])

    async with capture_news(services) as published:
        response = await client.patch(f"/api/products/{product['id']}", json={"title": "New"},
                                      headers=host.headers)

    assert response.json()["title"] == "New"
    assert published[0]["room_id"] == room["id"] and published[0]["type"] == "lineup"
    assert published[0]["data"]["products"][0]["title"] == "New"


async def test_commission_terms_are_set_at_creation_and_seen_only_by_the_host(
        client, make_user, make_product, services):
    host = await make_user("host")
    viewer = await make_user("viewer")
    product = await make_product(host, commission_rate_bp=1500)
    room = (await client.post("/api/rooms", json={"title": "Terms", "commission_rate_bp": 800},
                              headers=host.headers)).json()
    assert product["commission_rate_bp"] == 1500 and room["commission_rate_bp"] == 800

    async with capture_news(services) as published:
        await client.put(f"/api/rooms/{room['id']}/lineup", json={"product_ids": [product["id"]]},
                         headers=host.headers)

    as_host = (await client.get(f"/api/rooms/{room['id']}", headers=host.headers)).json()
    as_viewer = (await client.get(f"/api/rooms/{room['id']}", headers=viewer.headers)).json()
    assert as_host["commission_rate_bp"] == 800
    assert "commission_rate_bp" not in as_viewer
    assert all("commission_rate_bp" not in p for p in as_viewer["lineup"])
    assert all("commission_rate_bp" not in p
               for event in published for p in event["data"].get("products", []))
