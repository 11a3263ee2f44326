"""Anyone can check a draw and a rain from what is published, with docs/engagement.md in hand.

This file reimplements the published algorithms from the documentation alone and imports
nothing of the engagement package: it reads the public JSON over HTTP (the seed's hash shown
at the start; the seed, the entrant list, the winners and the envelopes afterwards) and
recomputes them. If the code and the documentation part ways, this fails.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from core.context import Services
from tests.conftest import TestUser, poll_until
from tests.engagement.conftest import LiveRoom, close_draw_now, drop
from tests.realtime.conftest import Connect

# docs/engagement.md, "The random numbers" --------------------------------------------------

class Numbers:
    def __init__(self, seed: bytes, label: str) -> None:
        self.seed, self.label, self.counter = seed, label, 0

    def below(self, bound: int) -> int:
        limit = 2**64 - (2**64 % bound)
        while True:
            message = f"{self.label}:{self.counter}".encode("ascii")
            self.counter += 1
            u = int.from_bytes(hmac.new(self.seed, message, hashlib.sha256).digest()[:8], "big")
            if u < limit:
                return u % bound


# docs/engagement.md, "The draw" ------------------------------------------------------------

def winners_of(seed: bytes, entrants: list[int], count: int) -> list[int]:
    order = sorted(entrants)
    numbers = Numbers(seed, "draw")
    for i in range(min(count, len(order))):
        j = i + numbers.below(len(order) - i)
        order[i], order[j] = order[j], order[i]
    return order[:min(count, len(order))]


# docs/engagement.md, "The split" -----------------------------------------------------------

def amounts_of(seed: bytes, total: int, count: int, minimum: int) -> list[int]:
    spare = total - count * minimum
    numbers = Numbers(seed, "rain")
    cuts = sorted(numbers.below(spare + 1) for _ in range(count - 1))
    edges = [0, *cuts, spare]
    return [minimum + edges[i + 1] - edges[i] for i in range(count)]


def test_the_worked_example_of_the_documentation() -> None:
    # The example in docs/engagement.md: seed 00 01 02 ... 1f.
    seed = bytes(range(32))
    assert hashlib.sha256(seed).hexdigest() == (
        "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd")
    assert amounts_of(seed, 100, 4, 5) == [5, 32, 6, 57]
    assert amounts_of(seed, 10_000, 10, 1) == [3, 1326, 28, 1061, 2321, 2394, 970, 923, 774, 200]
    assert winners_of(seed, [5, 3, 9, 1, 7], 2) == [1, 5]


async def test_a_draw_checks_out_from_its_published_data_alone(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_viewers: Callable[[int], Awaitable[list[TestUser]]],
        connect_viewer: Connect, services: Services) -> None:
    room = await live_room()
    viewers = await make_viewers(9)
    sockets = [await connect_viewer(room.id, user=v) for v in viewers]
    for socket in sockets:
        await socket.next("hello")
    response = await client.post(f"/api/rooms/{room.id}/draws", headers=room.host.headers, json={
        "prize": "Tea set", "winner_count": 3, "rule": "keyword", "keyword": "tea",
        "countdown_seconds": 5})
    committed = response.json()["seed_hash"]
    for socket in sockets:
        await socket.send({"type": "chat", "text": "tea please"})
    for socket in sockets:  # every entry in, then no need to wait out the countdown
        await socket.next("draw", where=lambda e: e["data"]["action"] == "entered")
    await close_draw_now(services, response.json()["id"])

    published: dict[str, Any] = {}

    async def drawn() -> bool:
        published.update((await client.get(f"/api/draws/{response.json()['id']}")).json())
        return published["status"] == "drawn"
    await poll_until(drawn, timeout=20, interval=0.2, message="the draw")

    seed = bytes.fromhex(published["seed"])
    assert hashlib.sha256(seed).hexdigest() == committed == published["seed_hash"]
    assert published["entrants"] == sorted(v.id for v in viewers)
    assert winners_of(seed, published["entrants"], 3) == published["winners"]


async def test_a_rain_checks_out_from_its_published_data_alone(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_viewers: Callable[[int], Awaitable[list[TestUser]]]) -> None:
    room = await live_room()
    viewers = await make_viewers(15)
    await room.admit(*viewers)
    # (open for 3 s: 15 grabs one after another fit in it on a busy machine)
    rain = await drop(client, room, envelope_count=40, total_minor=12_345, min_minor=7,
                      duration_seconds=3)
    for viewer in viewers:
        response = await client.post(f"/api/rains/{rain['id']}/grab", headers=viewer.headers)
        assert response.status_code == 201, response.text
    published: dict[str, Any] = {}

    async def settled() -> bool:
        reply = await client.get(f"/api/rains/{rain['id']}/envelopes")
        if reply.status_code == 200:
            published.update(reply.json())
        return reply.status_code == 200
    await poll_until(settled, timeout=15, interval=0.2, message="the rain's envelopes")

    seed = bytes.fromhex(published["rain"]["seed"])
    assert hashlib.sha256(seed).hexdigest() == rain["seed_hash"]
    amounts = [e["amount_minor"] for e in published["envelopes"]]
    assert amounts == amounts_of(seed, 12_345, 40, 7)
    assert published["rain"]["returned_minor"] == sum(
        e["amount_minor"] for e in published["envelopes"] if e["user_id"] is None)
