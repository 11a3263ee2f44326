"""Connecting: the hello snapshot, authentication, origins, unknown rooms."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer, MakeUser
from tests.realtime.conftest import Connect


async def test_hello_carries_room_lineup_pin_and_offset(make_user: MakeUser, make_product, make_room,
                                                        client: httpx.AsyncClient,
                                                        connect_viewer: Connect) -> None:
    # given a live room with a lineup and a pinned product
    host = await make_user("host")
    scarf, hat = await make_product(host), await make_product(host, title="Hat")
    room = await make_room(host, products=[scarf, hat], live=True)
    response = await client.post(f"/api/rooms/{room['id']}/pin", json={"product_id": hat["id"]},
                                 headers=host.headers)
    assert response.status_code == 200, response.text
    viewer_user = await make_user("viewer", name="Ana")

    # when a logged-in viewer connects
    viewer = await connect_viewer(room["id"], user=viewer_user)
    hello = await viewer.next("hello")

    # then the first frame is the hello with the room's state
    data = hello["data"]
    assert viewer.events[0]["type"] == "hello"
    assert data["room"]["id"] == room["id"] and data["room"]["status"] == "live"
    assert [p["id"] for p in data["lineup"]] == [scarf["id"], hat["id"]]
    assert data["pin"]["id"] == hat["id"]
    assert data["offset"] >= 1
    assert data["you"] == {"id": viewer_user.id, "display_name": "Ana", "role": "viewer"}
    assert data["muted"] is False and data["resumed"] is False
    assert data["chat"] == [] and data["sale"] is None
    assert data["slow_mode_seconds"] == 0
    assert data["viewers"] >= 1 and data["likes"] == 0


async def test_hello_rebuilds_a_room_redis_has_never_seen(make_user: MakeUser, make_room,
                                                          connect_viewer: Connect) -> None:
    # given a room whose state was never published (created, nothing else)
    host = await make_user("host")
    room = await make_room(host)

    # when a guest connects
    viewer = await connect_viewer(room["id"])
    hello = await viewer.next("hello")

    # then the state is rebuilt from PostgreSQL
    assert hello["data"]["room"]["status"] == "scheduled"
    assert hello["data"]["you"] is None and hello["data"]["pin"] is None


async def test_unknown_room_is_closed_with_4404(connect_viewer: Connect) -> None:
    viewer = await connect_viewer(999_999)
    assert await viewer.closed_with() == 4404


async def test_a_room_id_past_bigint_gets_an_error_event_and_4404(connect_viewer: Connect) -> None:
    viewer = await connect_viewer(2**63)

    error = await viewer.next("error")
    assert error["data"] == {"code": "not_found", "message": "no such room", "field": "room_id"}
    assert await viewer.closed_with() == 4404


async def test_bad_token_is_closed_with_4401(make_user: MakeUser, make_room,
                                             connect_viewer: Connect, live_server: LiveServer) -> None:
    from websockets.asyncio.client import connect

    host = await make_user("host")
    room = await make_room(host)
    ws = await connect(f"{live_server.ws_url}/ws/rooms/{room['id']}?token=forged")
    try:
        from tests.realtime.conftest import Viewer

        assert await Viewer(ws).closed_with() == 4401
    finally:
        await ws.close()


async def test_cookie_websocket_from_a_foreign_origin_is_refused(make_user: MakeUser, make_room,
                                                                 connect_viewer: Connect) -> None:
    # given a logged-in user's session cookie
    host = await make_user("host")
    room = await make_room(host)
    user = await make_user("viewer")

    # when a page on another site opens the websocket with it
    viewer = await connect_viewer(room["id"], user=user, cookie=True, origin="http://evil.example")

    # then it is closed with 4403 before any data
    assert await viewer.closed_with() == 4403
    assert viewer.events == []


async def test_cookie_websocket_from_our_origin_is_the_user(make_user: MakeUser, make_room,
                                                            connect_viewer: Connect) -> None:
    host = await make_user("host")
    room = await make_room(host)
    user = await make_user("viewer")

    viewer = await connect_viewer(room["id"], user=user, cookie=True)
    hello = await viewer.next("hello")

    assert hello["data"]["you"]["id"] == user.id


async def test_guest_from_a_foreign_origin_may_watch(make_user: MakeUser, make_room,
                                                     connect_viewer: Connect) -> None:
    host = await make_user("host")
    room = await make_room(host)

    viewer = await connect_viewer(room["id"], origin="http://elsewhere.example")

    assert (await viewer.next("hello"))["data"]["you"] is None
