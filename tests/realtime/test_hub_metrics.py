"""The hub's counters (once per fan-out, not per viewer) and the gauges read off it at scrape."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY

from core.context import Services
from realtime import protocol
from realtime.hub import Hub
from realtime.publish import room_channel
from tests.conftest import poll_until
from tests.realtime import test_hub
from tests.realtime.test_hub import (
    ROOM_ID,
    FakeSocket,
    StartHub,
    event,
    publish_pins,
    serve,
    until_each_has,
)

# The hub tests' fixtures, shared.
room_state = test_hub.room_state
started = test_hub.started
start_hub = test_hub.start_hub


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_fan_out_is_counted_per_frame_and_per_recipient(
        services: Services, room_state: int, start_hub: StartHub) -> None:
    # given 30 viewers of one room
    hub, backend = await start_hub()
    sockets = await serve(hub, 30)
    fanouts, frames, messages = (sample("livesell_ws_fanouts_total"),
                                 sample("livesell_ws_frames_sent_total"),
                                 sample("livesell_ws_messages_received_total"))

    # when 5 events are published
    await publish_pins(services, backend, room_state, 5)
    await until_each_has(sockets, 5, "5 events on 30 sockets", frames=True)

    # then 5 messages came in and were fanned out 5 times to 30 viewers (ticks may add more)
    assert sample("livesell_ws_messages_received_total") - messages == 5
    assert sample("livesell_ws_fanouts_total") - fanouts >= 5
    assert sample("livesell_ws_frames_sent_total") - frames >= 150


async def test_a_dropped_slow_consumer_is_counted(services: Services, room_state: int,
                                                 start_hub: StartHub) -> None:
    hub, backend = await start_hub(send_queue_frames=4)
    [stuck] = await serve(hub, 1, stuck=1)
    before = sample("livesell_ws_slow_consumers_total")

    for n in range(1, 21):
        await backend.publish(room_channel(services.keys, ROOM_ID),
                              event(room_state + n, "chat", {"id": str(n), "text": "hi"}))

    async def dropped() -> bool:
        return stuck.close_code is not None

    await poll_until(dropped, message="the stuck viewer dropped")
    assert stuck.close_code == protocol.CLOSE_SLOW_CONSUMER
    assert sample("livesell_ws_slow_consumers_total") - before == 1


async def test_scrape_reads_connections_and_rooms_off_the_hub(app: Any, client, make_user,
                                                              room_state: int) -> None:
    # given two viewers on the app's own hub
    ops = await make_user("ops")
    hub: Hub = app.state.hub
    sockets = [FakeSocket(), FakeSocket()]
    tasks = [asyncio.create_task(hub.serve(sock, ROOM_ID, None)) for sock in sockets]

    async def greeted() -> bool:
        room = hub.rooms.get(ROOM_ID)
        return room is not None and sum(c.ready for c in room.connections) == 2

    await poll_until(greeted, message="both greeted")
    try:
        # when ops scrape
        text = (await client.get("/metrics", headers=ops.headers)).text

        # then the gauges say so
        assert "livesell_ws_connections 2.0" in text
        assert "livesell_ws_rooms 1.0" in text
    finally:
        for sock in sockets:
            sock.inbox.put_nowait(None)
        await asyncio.gather(*tasks)
