"""Two web processes on one Redis: the hub fans out between them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, MakeUser, TestUser, stop_server
from tests.infra import TestInfra as Infra
from tests.realtime.conftest import Connect, Viewer, start_hub_server


@pytest.fixture(scope="module")
def other_server(infra: Infra) -> Iterator[LiveServer]:
    # The other websocket implementation, so both of the hub's send paths meet here.
    server = start_hub_server(infra, ws="websockets")
    yield server
    stop_server(server)


async def watched_room(make_user: MakeUser, make_product: Any, make_room: Any,
                       connect_viewer: Connect, server: LiveServer,
                       ) -> tuple[TestUser, dict[str, Any], dict[str, Any], Viewer]:
    """A host, their scarf, their live room showing it, and a viewer of the room connected to
    this process, past its hello."""
    host = await make_user("host")
    scarf = await make_product(host)
    room = await make_room(host, products=[scarf], live=True)
    viewer = await connect_viewer(room["id"], server=server)
    await viewer.next("hello")
    return host, scarf, room, viewer


async def pin_through(server: LiveServer, host: TestUser, room: dict[str, Any],
                      product: dict[str, Any]) -> None:
    """The host pins the product through this process's HTTP API."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(f"/api/rooms/{room['id']}/pin",
                                   json={"product_id": product["id"]}, headers=host.headers)
    assert response.status_code == 200, response.text


async def test_a_pin_made_through_one_process_reaches_a_viewer_of_the_other(
        make_user: MakeUser, make_product, make_room, live_server: LiveServer,
        other_server: LiveServer, connect_viewer: Connect) -> None:
    # given a room, and a viewer connected to the second process
    host, scarf, room, viewer = await watched_room(make_user, make_product, make_room,
                                                   connect_viewer, other_server)

    # when the host pins through the first process's HTTP API
    await pin_through(live_server, host, room, scarf)

    # then the viewer on the other process sees the pin
    pin = await viewer.next("pin")
    assert pin["data"]["product"]["id"] == scarf["id"]


@pytest.mark.redis6
async def test_chat_and_viewer_counts_span_processes(
        make_user: MakeUser, make_room, live_server: LiveServer, other_server: LiveServer,
        connect_viewer: Connect) -> None:
    # given one viewer on each process
    host = await make_user("host")
    room = await make_room(host, live=True)
    here = await connect_viewer(room["id"], user=await make_user("viewer", name="Ana"))
    there = await connect_viewer(room["id"], server=other_server)
    await here.next("hello")
    await there.next("hello")

    # when the first one chats
    await here.send({"type": "chat", "text": "hello from process one"})

    # then the other process's viewer gets it, and both count 2 viewers
    line = await there.next("chat")
    assert line["data"]["text"] == "hello from process one"
    await there.next("viewers", where=lambda e: e["data"]["count"] == 2)
    await here.next("viewers", where=lambda e: e["data"]["count"] == 2)


async def test_room_events_reach_viewers_even_with_a_leftover_hub_backend_url(
        infra: Infra, make_user: MakeUser, make_product, make_room,
        connect_viewer: Connect) -> None:
    # given a process started with HUB_BACKEND_URL=memory:// (once a setting; events are
    # published from a Lua script in Redis, so that backend heard none of them)
    server = start_hub_server(infra, {"HUB_BACKEND_URL": "memory://"})
    viewer: Viewer | None = None
    try:
        host, scarf, room, viewer = await watched_room(make_user, make_product, make_room,
                                                       connect_viewer, server)

        # when the host pins a product
        await pin_through(server, host, room, scarf)

        # then the viewer sees the pin: the hub listens on Redis pub/sub whatever the variable says
        pin = await viewer.next("pin")
        assert pin["data"]["product"]["id"] == scarf["id"]
    finally:
        # Closed while its server is still there to answer the close.
        if viewer is not None:
            await viewer.close()
        stop_server(server)
