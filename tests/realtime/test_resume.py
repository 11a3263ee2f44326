"""Resume, tested the zulip way: an old hello plus the missed events must equal a fresh hello."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.context import Services
from realtime.chat import post_chat
from realtime.publish import RECENT_CHAT_LENGTH, history_key, publish_room
from tests.conftest import MakeUser, settle_stock_news
from tests.conftest import TestUser as User
from tests.realtime.conftest import Connect, Viewer


class ClientState:
    """What a page keeps, built only from a hello and the events after it (docs/realtime.md)."""

    def __init__(self, hello: dict[str, Any]) -> None:
        data = hello["data"]
        self.offset: int = data["offset"]
        self.room = data["room"]
        self.lineup = data["lineup"]
        self.pin = data["pin"]
        self.chat = list(data["chat"])
        self.slow_mode_seconds = data["slow_mode_seconds"]
        self.you = data["you"]
        self.muted = data["muted"]
        # The units left of each product the room heard of (`variant_stock`), kept by product.
        self.units = {name: value for name, value in data.items()
                      if name.startswith("variant_stock:")}

    def apply(self, event: dict[str, Any]) -> None:
        kind, data = event["type"], event["data"]
        if "offset" in event:
            assert event["offset"] == self.offset + 1, "events come in order, without gaps"
            self.offset = event["offset"]
        if kind == "room":
            self.room = data
            self.slow_mode_seconds = data["slow_mode_seconds"]
        elif kind == "pin":
            self.pin = data["product"]
        elif kind == "unpin":
            self.pin = None
        elif kind == "lineup":
            self.lineup = data["products"]
            if self.pin is not None:
                self.pin = next((p for p in self.lineup if p["id"] == self.pin["id"]), self.pin)
        elif kind == "chat":
            self.chat = [*self.chat, data][-RECENT_CHAT_LENGTH:]
        elif kind == "variant_stock":
            self.units = {**self.units, f"variant_stock:{data['product_id']}": data}
        elif kind == "moderation":
            if data["action"] == "delete":
                self.chat = [line for line in self.chat if line["id"] != data["message_id"]]
            elif self.you is not None and data["user_id"] == self.you["id"]:
                self.muted = data["action"] == "mute"

    def view(self) -> dict[str, Any]:
        return {"offset": self.offset, "room": self.room, "lineup": self.lineup, "pin": self.pin,
                "chat": self.chat, "slow_mode_seconds": self.slow_mode_seconds,
                "muted": self.muted, "units": self.units}


async def _read_resume(viewer: Viewer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    first = await viewer.next("resume", "hello")
    if first["type"] == "hello":
        return first, []
    events: list[dict[str, Any]] = []
    offset = first["data"]["from_offset"]
    while offset < first["data"]["to_offset"]:
        event = await viewer.next(where=lambda e: "offset" in e)
        events.append(event)
        offset = event["offset"]
    return first, events


async def _chat(services: Services, room_id: int, user: User, text: str) -> None:
    await post_chat(services.redis, services.keys, room_id,
                    {"id": user.id, "display_name": user.display_name, "role": user.role}, text,
                    max_length=300, min_interval_ms=0, slow_mode_seconds=0)


@pytest.mark.redis6
async def test_old_hello_plus_missed_events_equals_a_fresh_hello(
        make_user: MakeUser, make_product, make_room, client: httpx.AsyncClient,
        services: Services, connect_viewer: Connect) -> None:
    # given a viewer who saw the room once and went away
    host = await make_user("host")
    scarf, hat, bag = (await make_product(host), await make_product(host, title="Hat"),
                       await make_product(host, title="Bag"))
    room = await make_room(host, products=[scarf, hat], live=True)
    room_id = room["id"]
    ana, bob = await make_user("viewer", name="Ana"), await make_user("viewer", name="Bob")
    await _chat(services, room_id, ana, "before")
    first = await connect_viewer(room_id, user=bob)
    old = ClientState(await first.next("hello"))
    await first.close()

    # when, meanwhile, the room changes in every way a room can
    async def api(method: str, path: str, body: dict[str, Any] | None = None) -> None:
        response = await client.request(method, f"/api/rooms/{room_id}{path}", json=body,
                                        headers=host.headers)
        assert response.status_code < 300, response.text

    await api("POST", "/pin", {"product_id": scarf["id"]})
    for n in range(5):
        await _chat(services, room_id, ana if n % 2 else bob, f"line {n}")
    await api("PATCH", "", {"title": "Late night drop", "slow_mode_seconds": 10})
    await api("PUT", "/lineup", {"product_ids": [hat["id"], scarf["id"], bag["id"]]})
    response = await client.patch(f"/api/products/{scarf['id']}", json={"price_minor": 1500},
                                  headers=host.headers)
    assert response.status_code == 200, response.text
    await api("POST", "/pin", {"product_id": hat["id"]})
    await api("POST", "/mutes", {"user_id": bob.id})
    second = await connect_viewer(room_id)
    await second.next("hello")
    await _chat(services, room_id, ana, "to be deleted")
    line = await second.next("chat", where=lambda e: e["data"]["text"] == "to be deleted")
    await api("DELETE", f"/chat/{line['data']['id']}")
    await api("DELETE", "/pin")
    # (the units left of the pinned and lined-up products, told a moment after)
    await settle_stock_news(services)

    # and the viewer comes back with its last offset
    back = await connect_viewer(room_id, user=bob, offset=old.offset)
    resume, missed = await _read_resume(back)
    fresh = await connect_viewer(room_id, user=bob)
    fresh_hello = await fresh.next("hello")

    # then it is told what it missed, and applying that gives the fresh snapshot
    assert resume["type"] == "resume"
    assert resume["data"]["from_offset"] == old.offset
    assert resume["data"]["to_offset"] == fresh_hello["data"]["offset"]
    assert {"pin", "chat", "room", "lineup", "moderation", "unpin",
            "variant_stock"} <= {e["type"] for e in missed}
    for event in missed:
        old.apply(event)
    assert old.view() == ClientState(fresh_hello).view()
    assert old.muted is True and old.pin is None


async def test_resume_at_the_current_offset_sends_nothing_more(
        make_user: MakeUser, make_room, connect_viewer: Connect) -> None:
    host = await make_user("host")
    room = await make_room(host, live=True)
    first = await connect_viewer(room["id"])
    offset = (await first.next("hello"))["data"]["offset"]

    again = await connect_viewer(room["id"], offset=offset)
    resume = await again.next("resume", "hello")

    assert resume["type"] == "resume"
    assert resume["data"]["from_offset"] == resume["data"]["to_offset"] == offset


@pytest.mark.redis6
async def test_an_offset_trimmed_from_the_history_gets_a_fresh_hello(
        make_user: MakeUser, make_room, services: Services, connect_viewer: Connect) -> None:
    # given a viewer's offset, and later events whose oldest has been trimmed away
    host = await make_user("host")
    room = await make_room(host, live=True)
    first = await connect_viewer(room["id"])
    offset = (await first.next("hello"))["data"]["offset"]
    for n in range(3):
        await publish_room(services.redis, services.keys, room["id"], "chat",
                           {"id": f"m{n}", "user": {"id": 1, "display_name": "x", "role": "host"},
                            "text": str(n)})
    await services.redis.zremrangebyscore(history_key(services.keys, room["id"]), 0, offset + 1)

    # when it comes back with that offset
    again = await connect_viewer(room["id"], offset=offset)

    # then it starts over from a fresh hello at the current offset
    hello = await again.next("resume", "hello")
    assert hello["type"] == "hello" and hello["data"]["offset"] == offset + 3


async def test_an_unknown_offset_gets_a_fresh_hello(make_user: MakeUser, make_room,
                                                    connect_viewer: Connect) -> None:
    host = await make_user("host")
    room = await make_room(host, live=True)

    viewer = await connect_viewer(room["id"], offset=10_000)

    assert (await viewer.next("resume", "hello"))["type"] == "hello"
