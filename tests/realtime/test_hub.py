"""The hub on the in-memory backend, with in-process sockets: fan-out, slow consumers, batching, gaps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from core.context import Services
from realtime import protocol
from realtime.backend import MemoryBackend, NotConnected, RedisBackend
from realtime.hub import Hub, HubConfig
from realtime.publish import encode_body, publish_room, room_channel
from tests.conftest import poll_until

ROOM_ID = 7


class FakeSocket:
    """A client the test drives: frames sent to it are kept; `stuck` never takes one."""

    def __init__(self, *, stuck: bool = False) -> None:
        self.sent: list[str] = []
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.close_code: int | None = None
        self.stuck = stuck

    async def send(self, frame: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.sent.append(frame)

    async def receive(self) -> str | None:
        return await self.inbox.get()

    async def close(self, code: int, reason: str = "") -> None:
        self.close_code = code
        self.inbox.put_nowait(None)

    def events(self) -> list[dict[str, Any]]:
        """Every event after the hello, unbatched, leaving out viewer counts."""
        out: list[dict[str, Any]] = []
        for raw in self.sent[1:]:
            frame = orjson.loads(raw)
            out.extend(frame["data"]["events"] if frame["type"] == "batch" else [frame])
        return [e for e in out if e["type"] != "viewers"]

    def room_frames(self) -> list[str]:
        return [f for f in self.sent if f.startswith('{"offset":')]


async def _no_room_in_postgres(room_id: int) -> bool:
    return False


def make_hub(services: Services, **config: Any) -> tuple[Hub, MemoryBackend]:
    backend = MemoryBackend()
    hub = Hub(backend, services.redis, services.keys, HubConfig(**config), _no_room_in_postgres)
    return hub, backend


def event(offset: int, event_type: str, data: Any) -> bytes:
    # What publish.lua puts on the channel.
    return b'{"offset":' + str(offset).encode() + b"," + encode_body(event_type, data)[1:]


@pytest.fixture
async def room_state(services: Services) -> int:
    """The room's state in Redis, as live.actions would have published it; its offset."""
    return await publish_room(services.redis, services.keys, ROOM_ID, "room",
                              {"id": ROOM_ID, "status": "live"},
                              state={"room": {"id": ROOM_ID, "status": "live", "host_id": 1,
                                              "slow_mode_seconds": 0}})


async def serve(hub: Hub, count: int, *, stuck: int = 0) -> list[FakeSocket]:
    sockets = [FakeSocket(stuck=i < stuck) for i in range(count)]
    for sock in sockets:
        asyncio.create_task(hub.serve(sock, ROOM_ID, None))  # noqa: RUF006 (the hub tracks them)

    async def all_greeted() -> bool:
        room = hub.rooms.get(ROOM_ID)
        return room is not None and sum(c.ready for c in room.connections) == count

    await poll_until(all_greeted, message="every socket greeted")
    return sockets


async def huge_room(start_hub: StartHub, *, batch_interval_ms: int,
                    ) -> tuple[Hub, MemoryBackend, list[FakeSocket]]:
    """A hub whose room is "huge" (chat batched) from 3 viewers on, and its 3 viewers."""
    hub, backend = await start_hub(batch_min_connections=3, batch_interval_ms=batch_interval_ms)
    return hub, backend, await serve(hub, 3)


async def publish_pins(services: Services, backend: MemoryBackend, room_state: int,
                       count: int) -> None:
    """Pins of products 1..count, one event each, after the room's state."""
    for n in range(1, count + 1):
        await backend.publish(room_channel(services.keys, ROOM_ID),
                              event(room_state + n, "pin", {"product": {"id": n}}))


async def publish_chat_then_pin(services: Services, backend: MemoryBackend, room_state: int,
                                chats: int) -> None:
    """`chats` chat lines at once, then a pin, after the room's state."""
    channel = room_channel(services.keys, ROOM_ID)
    for n in range(1, chats + 1):
        await backend.publish(channel, event(room_state + n, "chat", {"id": str(n), "text": "hi"}))
    await backend.publish(channel, event(room_state + chats + 1, "pin", {"product": {"id": 1}}))


async def until_each_has(sockets: list[FakeSocket], count: int, message: str, *,
                         frames: bool = False) -> None:
    """Every socket has `count` events (or room frames) sent to it."""
    async def delivered() -> bool:
        return all(len(s.room_frames() if frames else s.events()) == count for s in sockets)

    await poll_until(delivered, message=message)


@pytest.fixture
async def started() -> AsyncIterator[list[Hub]]:
    hubs: list[Hub] = []
    yield hubs
    for hub in hubs:
        # Bounded: a stop that never returns (seen once, not understood) fails this test with
        # its traceback instead of hanging the run.
        await asyncio.wait_for(hub.stop(), 30)


StartHub = Callable[..., Awaitable[tuple[Hub, MemoryBackend]]]


@pytest.fixture
def start_hub(services: Services, started: list[Hub]) -> StartHub:
    """A hub on an in-memory backend with the given HubConfig, started now, stopped after."""
    async def start(**config: Any) -> tuple[Hub, MemoryBackend]:
        hub, backend = make_hub(services, **config)
        await hub.start()
        started.append(hub)
        return hub, backend

    return start


async def test_one_publish_reaches_every_connection_as_the_same_frame(
        services: Services, room_state: int, start_hub: StartHub) -> None:
    # given 200 viewers of one room
    hub, backend = await start_hub()
    sockets = await serve(hub, 200)

    # when 20 events are published once each
    await publish_pins(services, backend, room_state, 20)

    # then every viewer gets all 20, in order, and it is one string shared by all
    await until_each_has(sockets, 20, "20 events on 200 sockets", frames=True)
    first = sockets[0].room_frames()
    assert [orjson.loads(f)["offset"] for f in first] == list(range(room_state + 1, room_state + 21))
    for sock in sockets:
        assert all(mine is theirs for mine, theirs in zip(sock.room_frames(), first, strict=True))
        assert orjson.loads(sock.sent[0])["type"] == "hello"


async def test_a_slow_consumer_is_dropped_without_slowing_the_others(
        services: Services, room_state: int, start_hub: StartHub) -> None:
    # given a room where one viewer never takes a frame, and small send queues
    hub, backend = await start_hub(send_queue_frames=16)
    stuck, *others = await serve(hub, 11, stuck=1)

    # when 100 events are published, each taken by the others before the next
    for n in range(1, 101):
        await backend.publish(room_channel(services.keys, ROOM_ID),
                              event(room_state + n, "chat", {"id": str(n), "text": "hi"}))

        async def taken(count: int = n) -> bool:
            return all(len(s.room_frames()) == count for s in others)

        await poll_until(taken, message=f"event {n} taken")

    # then the stuck one is closed with 4408 and the others got every event
    async def settled() -> bool:
        return stuck.close_code is not None and all(len(s.room_frames()) == 100 for s in others)

    await poll_until(settled, message="slow consumer dropped, others served")
    assert stuck.close_code == protocol.CLOSE_SLOW_CONSUMER
    assert ROOM_ID in hub.rooms and len(hub.rooms[ROOM_ID].connections) == 10


async def test_chat_in_a_huge_room_is_batched_and_state_is_never_held_back(
        services: Services, room_state: int, start_hub: StartHub) -> None:
    # given a room "huge" from 3 viewers on
    _, backend, sockets = await huge_room(start_hub, batch_interval_ms=50)

    # when 30 chat lines arrive at once, then a pin
    await publish_chat_then_pin(services, backend, room_state, 30)

    # then each viewer gets all 31 events in order, in far fewer frames
    await until_each_has(sockets, 31, "31 events")
    for sock in sockets:
        events = sock.events()
        assert [e["offset"] for e in events] == list(range(room_state + 1, room_state + 32))
        assert events[-1]["type"] == "pin"
        assert len(sock.sent) < 12


def frames_by_type(sock: FakeSocket) -> list[list[str]]:
    """The event types of each frame after the hello, leaving out frames of viewer counts only."""
    out = []
    for raw in sock.sent[1:]:
        frame = orjson.loads(raw)
        inner = frame["data"]["events"] if frame["type"] == "batch" else [frame]
        types = [e["type"] for e in inner if e["type"] != "viewers"]
        if types:
            out.append(types)
    return out


async def test_a_pin_with_chat_pending_goes_at_once_in_the_same_message_as_the_chat(
        services: Services, room_state: int, start_hub: StartHub) -> None:
    # given a huge room whose chat would wait a minute for its batch
    _, backend, sockets = await huge_room(start_hub, batch_interval_ms=60_000)

    # when a chat line arrives (it goes at once: no batch was sent yet), two more, then a pin
    await publish_chat_then_pin(services, backend, room_state, 3)

    # then the pin does not wait, and the held chat and the pin are one message, in order
    await until_each_has(sockets, 4, "chat and pin delivered")
    for sock in sockets:
        assert frames_by_type(sock) == [["chat"], ["chat", "chat", "pin"]]
        assert [e["offset"] for e in sock.events()] == list(range(room_state + 1, room_state + 5))


async def test_likes_in_a_huge_room_wait_for_the_next_batch_instead_of_a_message_of_their_own(
        services: Services, room_state: int, start_hub: StartHub) -> None:
    # given a huge room whose chat waits a minute for its batch, and a logged-in viewer
    hub, backend, sockets = await huge_room(start_hub, batch_interval_ms=60_000)
    liker = FakeSocket()
    asyncio.create_task(hub.serve(  # noqa: RUF006 (the hub tracks it)
        liker, ROOM_ID, {"id": 1, "display_name": "Ann", "role": "viewer"}))
    room = hub.rooms[ROOM_ID]

    async def greeted() -> bool:
        return sum(c.ready for c in room.connections) == 4

    await poll_until(greeted, message="the liker greeted")
    channel = room_channel(services.keys, ROOM_ID)
    await backend.publish(channel, event(room_state + 1, "chat", {"id": "1", "text": "hi"}))
    await backend.publish(channel, event(room_state + 2, "chat", {"id": "2", "text": "hi"}))

    # when the viewer likes, the presence report counts it, and then a pin comes
    liker.inbox.put_nowait('{"type": "like", "count": 5}')

    async def counted() -> bool:
        return room.likes_total == 5

    await poll_until(counted, message="the likes counted")
    await backend.publish(channel, event(room_state + 3, "pin", {"product": {"id": 1}}))

    # then the likes went out with the held chat and the pin, not in a message before them
    await until_each_has(sockets, 4, "chat, likes and pin delivered")
    for sock in sockets:
        assert frames_by_type(sock) == [["chat"], ["chat", "likes", "pin"]]


async def test_the_groups_of_a_huge_room_take_turns_and_each_viewer_gets_every_line_once(
        services: Services, room_state: int, start_hub: StartHub) -> None:
    # given a huge room in two groups, whose turns the test gives by hand (a minute apart)
    hub, backend = await start_hub(batch_min_connections=4, batch_groups=2,
                                   batch_interval_ms=60_000)
    sockets = await serve(hub, 4)
    room = hub.rooms[ROOM_ID]
    first, second = (set(group) for group in room.groups)
    assert len(first) == len(second) == 2
    channel = room_channel(services.keys, ROOM_ID)

    def turn() -> None:
        assert room.tick_handle is not None
        room.tick_handle.cancel()
        room.tick()

    def everyone(count: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return all(len(s.events()) == count for s in sockets)
        return check

    # when a line comes to the quiet room, it goes to everyone at once
    await backend.publish(channel, event(room_state + 1, "chat", {"id": "1", "text": "hi"}))
    await poll_until(everyone(1), message="the first line to all")

    # when two more come, each group gets them on its turn, the first group first
    await backend.publish(channel, event(room_state + 2, "chat", {"id": "2", "text": "hi"}))
    await backend.publish(channel, event(room_state + 3, "chat", {"id": "3", "text": "hi"}))
    turn()
    in_first = [s for s in sockets if any(c.socket is s for c in first)]
    in_second = [s for s in sockets if any(c.socket is s for c in second)]
    assert len(in_first) == len(in_second) == 2

    async def first_group_served() -> bool:
        return all(len(s.events()) == 3 for s in in_first)

    await poll_until(first_group_served, message="the first group's turn")
    assert all(len(s.events()) == 1 for s in in_second)
    turn()
    await poll_until(everyone(3), message="the second group's turn")

    # when a whole round of turns finds nothing, the turns stop, and the next line goes at once
    turn()
    turn()
    assert room.tick_handle is None
    await backend.publish(channel, event(room_state + 4, "chat", {"id": "4", "text": "hi"}))
    await poll_until(everyone(4), message="the next line to all at once")

    # then every viewer got every line once, in order
    for sock in sockets:
        assert [e["offset"] for e in sock.events()] == list(range(room_state + 1, room_state + 5))


async def test_a_gap_in_offsets_is_filled_from_the_history(
        services: Services, room_state: int, start_hub: StartHub) -> None:
    # given a viewer, and three events in the room's history
    hub, backend = await start_hub()
    [sock] = await serve(hub, 1)
    channel = room_channel(services.keys, ROOM_ID)
    offsets = [await publish_room(services.redis, services.keys, ROOM_ID, "chat",
                                  {"id": str(n), "text": str(n)}) for n in range(3)]

    # when pub/sub delivers only the first and the last (a dropped connection, say)
    await backend.publish(channel, event(offsets[0], "chat", {"id": "0", "text": "0"}))
    await backend.publish(channel, event(offsets[2], "chat", {"id": "2", "text": "2"}))

    # then the viewer still gets all three, in order
    async def delivered() -> bool:
        return len(sock.room_frames()) == 3

    await poll_until(delivered, message="three events")
    assert [e["offset"] for e in sock.events()] == offsets


async def test_bad_frames_are_answered_and_counted(services: Services, room_state: int,
                                                   start_hub: StartHub) -> None:
    hub, _ = await start_hub(max_bad_frames=2)
    [sock] = await serve(hub, 1)

    for _ in range(3):
        sock.inbox.put_nowait("{")

    async def closed() -> bool:
        return sock.close_code is not None

    await poll_until(closed, message="closed for bad frames")
    assert [e["data"]["code"] for e in sock.events()] == ["bad_json"] * 3
    assert sock.close_code == protocol.CLOSE_TOO_MANY_BAD_FRAMES


async def test_stopping_the_hub_closes_connections_with_going_away(
        services: Services, room_state: int) -> None:
    hub, _ = make_hub(services)
    await hub.start()
    sockets = await serve(hub, 3)

    await hub.stop()

    assert [s.close_code for s in sockets] == [protocol.CLOSE_GOING_AWAY] * 3


async def test_memory_backend_delivers_to_subscribed_channels_only() -> None:
    backend = MemoryBackend()
    received: list[tuple[str, bytes]] = []
    backend.on_message = lambda channel, payload: received.append((channel, payload))
    await backend.connect()

    await backend.subscribe("a")
    await backend.publish("a", b"1")
    await backend.publish("b", b"2")
    await backend.unsubscribe("a")
    await backend.publish("a", b"3")

    assert received == [("a", b"1")]
    await backend.disconnect()


async def test_a_redis_backend_used_before_connect_says_so() -> None:
    # given a backend that was never connected (nothing listens on port 1: nothing is tried)
    backend = RedisBackend("redis://127.0.0.1:1/0", idle_channel="idle")

    # when it is asked to subscribe or publish, then it refuses with what is missing
    with pytest.raises(NotConnected, match="before connect"):
        await backend.subscribe("a")
    with pytest.raises(NotConnected, match="before connect"):
        await backend.publish("a", b"1")


def test_offsets_and_types_are_read_without_decoding() -> None:
    frame = event(42, "pin", {"product": {"type": "not this"}})

    assert protocol.frame_offset(frame) == 42
    assert protocol.frame_type(frame) == "pin"
    assert protocol.frame_offset(encode_body("likes", {})) is None


async def test_events_published_while_pub_sub_was_down_still_arrive_in_order(
        services: Services, room_state: int, started: list[Hub]) -> None:
    # given a hub on real Redis pub/sub, with a viewer who has seen one event
    backend = RedisBackend(services.settings.redis_url,
                           idle_channel=services.keys("hub", "idle", "reconnect-test"))
    hub = Hub(backend, services.redis, services.keys, HubConfig(), _no_room_in_postgres)
    await hub.start()
    started.append(hub)
    [sock] = await serve(hub, 1)
    offsets = [await publish_room(services.redis, services.keys, ROOM_ID, "chat",
                                  {"id": "a", "text": "a"})]

    async def seen(count: int) -> bool:
        return len(sock.room_frames()) == count

    await poll_until(lambda: seen(1), message="the first event")

    # when the hub's pub/sub connection is killed and events are published meanwhile
    ours = [c for c in await services.redis.client_list() if c.get("name") == backend.client_name]
    assert len(ours) == 1
    await services.redis.execute_command("CLIENT", "KILL", "ID", ours[0]["id"])
    for text in "bcd":
        offsets.append(await publish_room(services.redis, services.keys, ROOM_ID, "chat",
                                          {"id": text, "text": text}))

    # then, once it is back, the viewer has every event, in order, once
    await poll_until(lambda: seen(4), message="the missed events")
    assert [e["offset"] for e in sock.events() if e["type"] == "chat"] == offsets


async def test_an_event_in_the_snapshot_that_arrives_late_is_not_sent_twice(
        services: Services, room_state: int, start_hub: StartHub) -> None:
    # given a viewer whose hello is at the room's offset
    hub, backend = await start_hub()
    [sock] = await serve(hub, 1)
    channel = room_channel(services.keys, ROOM_ID)

    # when pub/sub delivers that offset's event only now (Redis answered the snapshot first), then the next
    await backend.publish(channel, event(room_state, "room", {"id": ROOM_ID, "status": "live"}))
    await backend.publish(channel, event(room_state + 1, "pin", {"product": {"id": 1}}))

    # then the viewer gets only the event after its snapshot
    async def delivered() -> bool:
        return len(sock.room_frames()) >= 1

    await poll_until(delivered, message="the next event")
    assert [e["offset"] for e in sock.events()] == [room_state + 1]
    assert orjson.loads(sock.sent[0])["data"]["offset"] == room_state


async def test_viewers_get_a_fresh_hello_when_redis_lost_the_room_and_it_was_rebuilt(
        services: Services, room_state: int, start_hub: StartHub) -> None:
    # given a viewer who has seen a few events
    hub, backend = await start_hub()
    [sock] = await serve(hub, 1)
    channel = room_channel(services.keys, ROOM_ID)
    for n in range(1, 4):
        await backend.publish(channel, event(room_state + n, "pin", {"product": {"id": n}}))

    # when Redis loses the room's keys and the state is rebuilt from PostgreSQL (offsets restart)
    keys = [k async for k in services.redis.scan_iter(match=services.keys.room(ROOM_ID, "*"))]
    await services.redis.delete(*keys)
    rebuilt = await publish_room(services.redis, services.keys, ROOM_ID, "snapshot_rebuilt", {},
                                 state={"room": {"id": ROOM_ID, "status": "ended", "host_id": 1,
                                                 "slow_mode_seconds": 0}, "pin": None})
    await backend.publish(channel, event(rebuilt, "snapshot_rebuilt", {}))

    # then the viewer is sent a fresh hello with the rebuilt state and the new offset
    async def rehello() -> bool:
        return sum(orjson.loads(f)["type"] == "hello" for f in sock.sent) == 2

    await poll_until(rehello, message="a fresh hello")
    hello = next(orjson.loads(f) for f in reversed(sock.sent) if '"type":"hello"' in f)
    assert hello["data"]["offset"] == rebuilt == 1
    assert hello["data"]["room"]["status"] == "ended" and hello["data"]["pin"] is None
