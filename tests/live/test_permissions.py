"""Only a room's own host (or ops) can change the room, its lineup, pin, or moderate it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from core.context import Services
from live.models import LineupItem, Product, Room, RoomEvent, RoomMute
from tests.conftest import capture_news


def room_actions(room_id: int, product_id: int, viewer_id: int) -> list[tuple[str, str, Any]]:
    return [
        ("PATCH", f"/api/rooms/{room_id}", {"title": "Hijacked"}),
        ("POST", f"/api/rooms/{room_id}/status", {"status": "ended"}),
        ("PUT", f"/api/rooms/{room_id}/lineup", {"product_ids": []}),
        ("POST", f"/api/rooms/{room_id}/pin", {"product_id": product_id}),
        ("DELETE", f"/api/rooms/{room_id}/pin", None),
        ("POST", f"/api/rooms/{room_id}/mutes", {"user_id": viewer_id}),
        ("DELETE", f"/api/rooms/{room_id}/mutes/{viewer_id}", None),
        ("DELETE", f"/api/rooms/{room_id}/chat/m-1", None),
        ("PATCH", f"/api/products/{product_id}", {"title": "Hijacked"}),
        ("GET", f"/api/rooms/{room_id}/events", None),
    ]


async def _snapshot(services: Services) -> tuple[Any, ...]:
    async with services.db.session() as session:
        rooms = [(r.title, r.status, r.pinned_product_id) for r in await session.scalars(select(Room))]
        products = [p.title for p in await session.scalars(select(Product))]
        counts = [await session.scalar(select(func.count()).select_from(table))
                  for table in (LineupItem, RoomEvent, RoomMute)]
    return tuple(rooms), tuple(products), tuple(counts)


@pytest.mark.parametrize("who", ["other_host", "viewer", "guest"])
async def test_only_the_rooms_host_can_change_it(client, make_user, make_product, make_room,
                                                 services: Services, who):
    # given a live room with a pinned product, owned by `host`
    host = await make_user("host")
    viewer = await make_user("viewer")
    product = await make_product(host)
    room = await make_room(host, products=[product], live=True)
    await client.post(f"/api/rooms/{room['id']}/pin", json={"product_id": product["id"]},
                      headers=host.headers)
    actors = {"other_host": await make_user("host"), "viewer": viewer, "guest": None}
    actor = actors[who]
    before = await _snapshot(services)

    # when someone else tries every action on it
    async with capture_news(services) as published:
        for method, path, body in room_actions(room["id"], product["id"], viewer.id):
            headers = actor.headers if actor else {}
            response = await client.request(method, path, json=body, headers=headers)

            # then each is refused with 401 (guest) or 403 (logged in), as JSON
            expected = 401 if actor is None else 403
            assert response.status_code == expected, (method, path, response.text)
            assert response.json()["error"]["code"]

    # and nothing changed, and the room heard nothing
    assert await _snapshot(services) == before
    assert published == []


async def test_ops_can_act_on_any_room(client, make_user, make_product, make_room):
    host = await make_user("host")
    ops = await make_user("ops")
    product = await make_product(host)
    room = await make_room(host, products=[product], live=True)

    pinned = await client.post(f"/api/rooms/{room['id']}/pin", json={"product_id": product["id"]},
                               headers=ops.headers)
    ended = await client.post(f"/api/rooms/{room['id']}/status", json={"status": "ended"},
                              headers=ops.headers)

    assert pinned.status_code == 200 and ended.json()["status"] == "ended"


async def test_a_viewer_cannot_create_rooms_or_products(client, make_user, services: Services):
    viewer = await make_user("viewer")

    room = await client.post("/api/rooms", json={"title": "Mine"}, headers=viewer.headers)
    product = await client.post("/api/products", json={"title": "A", "price_minor": 1,
                                                       "currency": "USD", "stock": 1},
                                headers=viewer.headers)

    assert room.status_code == 403 and product.status_code == 403
    assert await _snapshot(services) == ((), (), (0, 0, 0))
