"""Viewer counts across processes, without ghosts from processes that died."""

from __future__ import annotations

import pytest

from core.context import Services
from realtime import presence
from realtime.presence import RoomReport
from realtime.publish import publish_user
from tests.conftest import MakeUser, poll_until
from tests.realtime.conftest import Connect


@pytest.mark.redis6
async def test_counts_of_a_process_that_stopped_reporting_expire(services: Services) -> None:
    # given two processes serving a room, 3 and 2 viewers
    await presence.report(services.redis, services.keys, "process-a", [RoomReport(5, 3, 0)],
                          ttl_ms=300)
    [both] = await presence.report(services.redis, services.keys, "process-b",
                                   [RoomReport(5, 2, 4)], ttl_ms=300)
    assert (both.viewers, both.likes) == (5, 4)

    # when process a dies (stops reporting) and process b keeps reporting
    async def only_b_counted() -> bool:
        [totals] = await presence.report(services.redis, services.keys, "process-b",
                                         [RoomReport(5, 2, 0)], ttl_ms=300)
        return totals.viewers == 2

    # then a's viewers drop out of the count once its reports are older than the ttl
    await poll_until(only_b_counted, message="the dead process's viewers to expire")
    assert int(await services.redis.get(presence.peak_key(services.keys, 5))) == 5


async def test_a_clean_leave_removes_the_count_at_once(services: Services) -> None:
    await presence.report(services.redis, services.keys, "process-a", [RoomReport(6, 3, 0)],
                          ttl_ms=10_000)

    await presence.leave(services.redis, services.keys, "process-a", [6])

    [totals] = await presence.report(services.redis, services.keys, "process-b",
                                     [RoomReport(6, 1, 0)], ttl_ms=10_000)
    assert totals.viewers == 1


async def test_user_events_reach_only_that_users_connections(
        make_user: MakeUser, make_room, services: Services, connect_viewer: Connect) -> None:
    # given two logged-in viewers in a room
    host = await make_user("host")
    room = await make_room(host, live=True)
    ana, bob = await make_user("viewer", name="Ana"), await make_user("viewer", name="Bob")
    ana_socket = await connect_viewer(room["id"], user=ana)
    bob_socket = await connect_viewer(room["id"], user=bob)
    for socket in (ana_socket, bob_socket):
        await socket.next("hello")
        await socket.next("user_resume")  # subscribed to the user's channel by then

    # when an event is published to Ana alone, then one to the room
    await publish_user(services.redis, services.keys, ana.id, "order", {"order_id": 17})
    await bob_socket.send({"type": "ping"})

    # then Ana gets hers, and Bob's next frame is his pong, not her order
    order = await ana_socket.next("order")
    assert order["data"] == {"order_id": 17} and "offset" not in order
    assert (await bob_socket.next("order", "pong"))["type"] == "pong"


async def test_the_hosts_own_panel_is_not_counted_as_a_viewer(
        make_user: MakeUser, make_room, connect_viewer: Connect) -> None:
    # given a room whose host has their panel open, and an ops user watching too
    host = await make_user("host")
    room = await make_room(host, live=True)
    host_socket = await connect_viewer(room["id"], user=host)
    hello = await host_socket.next("hello")
    assert hello["data"]["viewers"] == 0
    ops_socket = await connect_viewer(room["id"], user=await make_user("ops"))
    await ops_socket.next("hello")

    # when one viewer joins
    viewer = await connect_viewer(room["id"], user=await make_user("viewer"))
    assert (await viewer.next("hello"))["data"]["viewers"] == 1

    # then "Watching now" on the host's panel says 1, never more (the staff are not counted)
    await host_socket.next("viewers", where=lambda e: e["data"]["count"] == 1)
    counts = [e["data"]["count"] for e in host_socket.events if e["type"] == "viewers"]
    assert max(counts) == 1
