"""A viewer that stops reading is dropped; the room goes on without waiting for it."""

from __future__ import annotations

from core.context import Services
from realtime.publish import publish_room
from tests.conftest import MakeUser
from tests.realtime.conftest import Connect

# Big enough that the kernel's socket buffers and the hub's 1 MiB bound overflow
# after a few dozen events, small enough to stay quick on loopback.
BLOB = "x" * 100_000


async def test_a_viewer_who_stops_reading_is_dropped_and_the_others_get_everything(
        make_user: MakeUser, make_room, services: Services, connect_viewer: Connect) -> None:
    # given a reading viewer, and one whose client stops reading after one message
    host = await make_user("host")
    room = await make_room(host, live=True)
    reader = await connect_viewer(room["id"])
    await reader.next("hello")
    await connect_viewer(room["id"], max_queue=1, close_timeout=1)
    await reader.next("viewers", where=lambda e: e["data"]["count"] == 2)

    # when 200 large events are published, the reader taking each one
    for n in range(200):
        await publish_room(services.redis, services.keys, room["id"], "chat",
                           {"id": f"m{n}", "user": {"id": host.id, "display_name": "h",
                                                     "role": "host"}, "text": BLOB})
        line = await reader.next("chat")
        assert line["data"]["id"] == f"m{n}"

    # then the stuck viewer has been dropped (the room counts one viewer again)
    def alone(event: dict) -> bool:
        return event["type"] == "viewers" and event["data"]["count"] == 1

    if not any(alone(e) for e in reader.events):
        await reader.next("viewers", where=alone, timeout=15)
