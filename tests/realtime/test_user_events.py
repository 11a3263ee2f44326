"""User events: offsets, delivery to every connection of the user in any room, and replay
of what a user missed while offline (docs/realtime.md, "User events")."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from core.context import Services
from realtime import history
from realtime.backend import RedisBackend
from realtime.hub import Hub, HubConfig
from realtime.publish import (
    USER_EPOCH_UNIT,
    USER_HISTORY_LENGTH,
    publish_room,
    publish_user,
    user_history_key,
    user_offset_key,
)
from tests.conftest import MakeUser, poll_until
from tests.orders.conftest import MakeSale, buy
from tests.orders.regular_helpers import pay
from tests.realtime.conftest import Connect, Viewer
from tests.realtime.test_hub import FakeSocket


async def _greeted(viewer: Viewer) -> dict[str, Any]:
    await viewer.next("hello", "resume")
    return await viewer.next("user_resume")


async def test_a_buyer_offline_while_their_order_is_paid_gets_it_on_reconnect(
        client: httpx.AsyncClient, make_sale: MakeSale, make_user: MakeUser,
        make_room: Any, connect_viewer: Connect, services: Services) -> None:
    # given a buyer who watched a room (and kept the user offset their page was given), left,
    # and whose order was then paid while no page of theirs was open
    sale = await make_sale(quantity=5)
    buyer = await make_user()
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]
    first = await connect_viewer(sale.room["id"], user=buyer)
    greeting = await _greeted(first)
    kept_offset = greeting["data"]["to_offset"]
    await first.close()
    await pay(client, services, order["id"])

    # when they come back, in another room, with the offset they kept
    other_room = await make_room(sale.host, live=True)
    back = await connect_viewer(other_room["id"], user=buyer, user_offset=kept_offset)

    # then they are told what they missed and get the paid order, once, with its offset
    resumed = await _greeted(back)
    event = await back.next("order")
    assert resumed["data"] == {"from_offset": kept_offset, "to_offset": event["user_offset"],
                               "complete": True}
    assert event["user_offset"] > kept_offset
    assert event["data"]["id"] == order["id"] and event["data"]["status"] == "paid"
    await back.send({"type": "ping"})
    await back.next("pong")
    assert [e for e in back.events if e["type"] == "order"] == [event]


async def test_two_tabs_in_different_rooms_both_get_the_order_update(
        client: httpx.AsyncClient, make_sale: MakeSale, make_user: MakeUser,
        make_room: Any, connect_viewer: Connect, services: Services) -> None:
    # given a buyer with one tab in the sale's room and one in another host's room
    sale = await make_sale(quantity=5)
    buyer = await make_user()
    other_host = await make_user("host")
    other_room = await make_room(other_host, live=True)
    order = (await buy(client, buyer, sale.id, "k")).json()["order"]
    tab_one = await connect_viewer(sale.room["id"], user=buyer)
    tab_two = await connect_viewer(other_room["id"], user=buyer, cookie=True)
    offsets = [(await _greeted(tab))["data"]["to_offset"] for tab in (tab_one, tab_two)]

    # when the order is paid
    await pay(client, services, order["id"])

    # then both tabs hear it live, with the same user offset
    heard = [await tab.next("order") for tab in (tab_one, tab_two)]
    assert [e["data"]["status"] for e in heard] == ["paid", "paid"]
    assert heard[0]["user_offset"] == heard[1]["user_offset"] > offsets[0] == offsets[1]
    # and a guest in the room hears nothing of it
    guest = await connect_viewer(sale.room["id"])
    await guest.next("hello")
    await guest.send({"type": "ping"})
    await guest.next("pong")
    assert not [e for e in guest.events if e["type"] in ("order", "user_resume")]


async def test_replay_and_live_delivery_never_double_an_event(
        make_user: MakeUser, make_room: Any, connect_viewer: Connect,
        services: Services) -> None:
    # given a user with two events they have not seen
    host = await make_user("host")
    room = await make_room(host, live=True)
    user = await make_user()
    for n in (1, 2):
        await publish_user(services.redis, services.keys, user.id, "notification", {"n": n})

    # when they reconnect from offset 0 and a third event follows
    viewer = await connect_viewer(room["id"], user=user, user_offset=0)
    resumed = await _greeted(viewer)
    await publish_user(services.redis, services.keys, user.id, "notification", {"n": 3})

    # then they get 1, 2 and 3, each once and in order, numbered from the counter's epoch
    got = [await viewer.next("notification") for _ in range(3)]
    assert resumed["data"]["complete"] is True
    assert [e["data"]["n"] for e in got] == [1, 2, 3]
    first = got[0]["user_offset"]
    assert first % USER_EPOCH_UNIT == 1 and first // USER_EPOCH_UNIT > 1_700_000_000_000
    assert [e["user_offset"] for e in got] == [first, first + 1, first + 2]
    await viewer.send({"type": "ping"})
    await viewer.next("pong")
    assert len([e for e in viewer.events if e["type"] == "notification"]) == 3


async def test_a_client_further_behind_than_the_history_is_told_it_missed_some(
        make_user: MakeUser, services: Services) -> None:
    # given more events than a user's history keeps
    user = await make_user()
    offsets = [await publish_user(services.redis, services.keys, user.id, "notification",
                                  {"n": n}) for n in range(USER_HISTORY_LENGTH + 5)]

    # when a client that saw only the first asks, and one that saw all but two
    behind = await history.read_user_since(services.redis, services.keys, user.id, offsets[0])
    close = await history.read_user_since(services.redis, services.keys, user.id, offsets[-3])

    # then the first gets what is kept, flagged incomplete; the second exactly its two
    assert behind.complete is False and len(behind.frames) == USER_HISTORY_LENGTH
    assert behind.to_offset == offsets[-1] == offsets[0] + USER_HISTORY_LENGTH + 4
    assert close.complete is True and len(close.frames) == 2
    # and a client with no offset yet is sent nothing but where things stand, read from the
    # counter alone: not the history it is sent none of
    reads = ReadsSeen(services.redis)
    fresh = await history.read_user_since(reads, services.keys, user.id, None)  # type: ignore[arg-type]
    assert fresh.frames == [] and fresh.to_offset == offsets[-1]
    assert reads.names == ["get"]


async def test_user_events_published_while_pub_sub_was_down_still_arrive_once(
        services: Services, make_user: MakeUser) -> None:
    # given a hub on real Redis pub/sub with a signed-in viewer who has seen one user event
    room_id = 424242
    await publish_room(services.redis, services.keys, room_id, "room", {"id": room_id},
                       state={"room": {"id": room_id, "status": "live", "host_id": 1,
                                       "slow_mode_seconds": 0}})
    user = await make_user()
    backend = RedisBackend(services.settings.redis_url,
                           idle_channel=services.keys("hub", "idle", "user-repair-test"))

    async def no_room(room_id: int) -> bool:
        return False

    hub = Hub(backend, services.redis, services.keys, HubConfig(), no_room)
    await hub.start()
    sock = FakeSocket()
    serving = asyncio.create_task(hub.serve(
        sock, room_id, {"id": user.id, "display_name": user.display_name, "role": "viewer"},
        user_resume_from=0))

    def told() -> list[int]:
        return [orjson.loads(f)["data"]["n"] for f in sock.sent
                if orjson.loads(f)["type"] == "notification"]

    try:
        await poll_until(lambda: _true(any('"user_resume"' in f for f in sock.sent)),
                         message="the user greeting")
        await publish_user(services.redis, services.keys, user.id, "notification", {"n": 1})
        await poll_until(lambda: _true(told() == [1]), message="the first event")

        # when the hub's pub/sub connection is killed and user events are published meanwhile
        ours = [c for c in await services.redis.client_list()
                if c.get("name") == backend.client_name]
        await services.redis.execute_command("CLIENT", "KILL", "ID", ours[0]["id"])
        for n in (2, 3):
            await publish_user(services.redis, services.keys, user.id, "notification", {"n": n})

        # then, once it is back, the viewer has every event, in order, once
        await poll_until(lambda: _true(told() == [1, 2, 3]), message="the missed user events")
        await publish_user(services.redis, services.keys, user.id, "notification", {"n": 4})
        await poll_until(lambda: _true(told() == [1, 2, 3, 4]), message="a live one after")
    finally:
        sock.inbox.put_nowait(None)
        await serving
        await hub.stop()


async def _true(value: bool) -> bool:
    return value


async def test_a_client_offset_from_before_the_counter_was_lost_gets_everything_kept(
        make_user: MakeUser, services: Services, make_room: Any,
        connect_viewer: Connect) -> None:
    # given a user whose page kept offset 50, and whose counter and history Redis then lost
    user = await make_user()
    host = await make_user("host")
    room = await make_room(host, live=True)
    for n in range(3):
        await publish_user(services.redis, services.keys, user.id, "notification", {"n": n})
    await services.redis.delete(user_offset_key(services.keys, user.id),
                                user_history_key(services.keys, user.id))
    for n in (1, 2):
        await publish_user(services.redis, services.keys, user.id, "notification", {"n": n})

    # when the page comes back with its old offset
    viewer = await connect_viewer(room["id"], user=user, user_offset=50)

    # then it is told the events are incomplete, and sent every one that is kept
    resumed = await _greeted(viewer)
    got = [await viewer.next("notification") for _ in range(2)]
    first = got[0]["user_offset"]
    assert resumed["data"] == {"from_offset": 50, "to_offset": first + 1, "complete": False}
    assert [(e["user_offset"], e["data"]["n"]) for e in got] == [(first, 1), (first + 1, 2)]


async def test_a_counter_lost_while_connected_does_not_silence_the_users_events(
        make_user: MakeUser, services: Services, make_room: Any,
        connect_viewer: Connect) -> None:
    # given a connected user who has seen three events, of a counter's life that began in an
    # earlier millisecond of Redis's clock than the next life will (publish_user.lua: a life
    # starts at its millisecond * USER_EPOCH_UNIT + 1, so a life made again within the
    # millisecond the lost one began starts at the lost one's first offset, below what the
    # connection saw; on a quiet machine the steps below take less than a millisecond)
    user = await make_user()
    room = await make_room(await make_user("host"), live=True)
    viewer = await connect_viewer(room["id"], user=user, user_offset=0)
    await _greeted(viewer)
    for n in range(3):
        await publish_user(services.redis, services.keys, user.id, "notification", {"n": n})
    seen = [await viewer.next("notification") for _ in range(3)]
    began_ms = seen[0]["user_offset"] // USER_EPOCH_UNIT

    async def redis_clock_past(millisecond: int) -> bool:
        seconds, microseconds = await services.redis.time()
        return int(seconds) * 1000 + int(microseconds) // 1000 > millisecond

    await poll_until(lambda: redis_clock_past(began_ms),
                     message="Redis's clock to leave the millisecond the life began")

    # when Redis loses the user's counter and history, and a new event is published
    await services.redis.delete(user_offset_key(services.keys, user.id),
                                user_history_key(services.keys, user.id))
    offset = await publish_user(services.redis, services.keys, user.id, "notification",
                                {"n": "after"})

    # then the connection delivers it at once: its offset is above every one of the lost life
    event = await viewer.next("notification")
    assert event["data"]["n"] == "after" and event["user_offset"] == offset
    assert offset > seen[-1]["user_offset"]


class ReadsSeen:
    """The real Redis client, noting the name of each command asked of it."""

    def __init__(self, redis: Any) -> None:
        self.redis, self.names = redis, []

    def __getattr__(self, name: str) -> Any:
        self.names.append(name)
        return getattr(self.redis, name)
