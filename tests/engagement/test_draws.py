"""Lucky draws: keyword entries from the chat, in-room entries counted only when present at
the close, the winners picked by the published algorithm, each entrant told, the refusals,
and a draw that cannot be changed once its seed is committed."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.context import Services
from engagement import draws, fairness
from engagement.models import EntryRule
from tests.conftest import MakeUser, TestUser, poll_until
from tests.engagement.conftest import LiveRoom, close_draw_now
from tests.realtime.conftest import Connect

MakeViewers = Callable[[int], Awaitable[list[TestUser]]]


async def start(client: httpx.AsyncClient, room: LiveRoom, **overrides: Any) -> dict[str, Any]:
    body = {"prize": "A silk scarf", "winner_count": 2, "rule": "keyword", "keyword": "lucky",
            "countdown_seconds": 5, **overrides}
    response = await client.post(f"/api/rooms/{room.id}/draws", json=body,
                                 headers=room.host.headers)
    assert response.status_code == 201, response.text
    draw: dict[str, Any] = response.json()
    return draw


async def drawn(client: httpx.AsyncClient, draw_id: int) -> dict[str, Any]:
    latest: dict[str, Any] = {}

    async def done() -> bool:
        latest.update((await client.get(f"/api/draws/{draw_id}")).json())
        return latest["status"] == "drawn"
    await poll_until(done, timeout=20, interval=0.2, message=f"draw {draw_id} drawn")
    return latest


async def test_a_keyword_draw_enters_who_sent_the_keyword_and_tells_each_entrant(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_viewers: MakeViewers, connect_viewer: Connect, services: Services) -> None:
    room = await live_room()
    viewers = await make_viewers(5)
    sockets = [await connect_viewer(room.id, user=v) for v in viewers]
    host_socket = await connect_viewer(room.id, user=room.host)
    for socket in [*sockets, host_socket]:
        await socket.next("hello")
    draw = await start(client, room, winner_count=2)
    assert draw["seed"] is None and draw["entries"] == 0
    started = await sockets[0].next("draw")
    assert started["data"]["action"] == "started"
    assert started["data"]["draw"]["seed_hash"] == draw["seed_hash"]

    # four viewers send the keyword (any case, inside a line), one chats something else, and
    # the host's own line with the keyword does not enter them
    for socket in sockets[:4]:
        await socket.send({"type": "chat", "text": "I want it, LUCKY me!"})
    await sockets[4].send({"type": "chat", "text": "hello all"})
    await host_socket.send({"type": "chat", "text": "say lucky to enter"})
    for socket in sockets[:4]:
        assert (await socket.next("draw", where=lambda e: e["data"]["action"] == "entered"))[
            "data"]["draw_id"] == draw["id"]

    result = await drawn(client, draw["id"])
    entered = sorted(v.id for v in viewers[:4])
    assert result["entrants"] == entered
    seed = bytes.fromhex(result["seed"])
    assert hashlib.sha256(seed).hexdigest() == draw["seed_hash"]
    assert result["winners"] == fairness.pick_winners(seed, entered, 2)
    assert [w["id"] for w in result["winner_names"]] == result["winners"]

    # the room sees the winners, and each entrant whether they won
    room_event = await sockets[4].next("draw", where=lambda e: e["data"]["action"] == "drawn")
    assert room_event["data"]["draw"]["winners"] == result["winners"]
    for viewer, socket in zip(viewers[:4], sockets[:4], strict=True):
        told = await socket.next("draw", where=lambda e: e["data"]["action"] == "result")
        assert told["data"]["result"] == ("won" if viewer.id in result["winners"] else "lost")


async def test_an_in_room_draw_counts_only_joined_viewers_still_present_at_the_close(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_viewers: MakeViewers, connect_viewer: Connect) -> None:
    room = await live_room()
    stays, leaves, never_joins = await make_viewers(3)
    stay_socket = await connect_viewer(room.id, user=stays)
    leave_socket = await connect_viewer(room.id, user=leaves)
    watcher = await connect_viewer(room.id, user=never_joins)
    for socket in (stay_socket, leave_socket, watcher):
        await socket.next("hello")
    # (a mark of presence lasts 3 s: 9 s leave the one who leaves time to drop out, however
    # slow the machine)
    draw = await start(client, room, rule="in_room", keyword=None, winner_count=5,
                       countdown_seconds=9)
    for viewer in (stays, leaves):
        response = await client.post(f"/api/draws/{draw['id']}/enter", headers=viewer.headers)
        assert response.status_code == 200 and response.json()["new"] is True
    again = await client.post(f"/api/draws/{draw['id']}/enter", headers=stays.headers)
    assert again.json() == {"draw_id": draw["id"], "entered": True, "new": False}
    await leave_socket.close()

    result = await drawn(client, draw["id"])
    assert result["entrants"] == [stays.id]
    assert result["winners"] == [stays.id]
    told = await stay_socket.next("draw", where=lambda e: e["data"]["action"] == "result")
    assert told["data"]["result"] == "won"


async def test_draw_refusals_name_their_reason(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_user: MakeUser, services: Services) -> None:
    room = await live_room()
    viewer = await make_user()
    body = {"prize": "Scarf", "winner_count": 1, "rule": "in_room", "countdown_seconds": 5}

    response = await client.post(f"/api/rooms/{room.id}/draws", json=body, headers=viewer.headers)
    assert response.status_code == 403
    response = await client.post(f"/api/rooms/{room.id}/draws", headers=room.host.headers,
                                 json={**body, "rule": "keyword"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "keyword"
    response = await client.post(f"/api/rooms/{room.id}/draws", headers=room.host.headers,
                                 json={**body, "rule": "follows_host"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "rule"

    keyword_draw = await start(client, room, winner_count=1)
    response = await client.post(f"/api/rooms/{room.id}/draws", json=body,
                                 headers=room.host.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "draw_in_progress"
    response = await client.post(f"/api/draws/{keyword_draw['id']}/enter", headers=viewer.headers)
    assert response.status_code == 409
    assert response.json()["error"] == {"code": "enter_by_keyword", "field": "draw_id",
                                        "keyword": "lucky",
                                        "message": "send “lucky” in the chat to enter"}
    await close_draw_now(services, keyword_draw["id"])
    await drawn(client, keyword_draw["id"])

    in_room = await start(client, room, rule="in_room", keyword=None)
    response = await client.post(f"/api/draws/{in_room['id']}/enter", headers=room.host.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "host_cannot_enter"
    await close_draw_now(services, in_room["id"])
    await drawn(client, in_room["id"])
    response = await client.post(f"/api/draws/{in_room['id']}/enter", headers=viewer.headers)
    assert response.status_code == 409 and response.json()["error"]["code"] == "draw_closed"
    assert await draws.entered_users(services, in_room["id"]) == []


async def test_a_draw_cannot_be_altered_or_rerun_once_its_seed_is_committed(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        services: Services) -> None:
    room = await live_room()
    draw = await start(client, room, rule="in_room", keyword=None)
    for change in ("seed = decode(repeat('00', 32), 'hex'), "
                   "seed_hash = encode(sha256(decode(repeat('00', 32), 'hex')), 'hex')",
                   "winner_count = 9", "prize = 'something else'",
                   "closes_at = closes_at + interval '1 hour'"):
        with pytest.raises(DBAPIError, match="cannot be altered"):
            async with services.db.transaction() as session:
                await session.execute(text(f"update draws set {change} where id = :id"),
                                      {"id": draw["id"]})
    with pytest.raises(DBAPIError, match="seed_committed"):
        async with services.db.transaction() as session:
            await session.execute(text("insert into draws (room_id, host_id, prize, "
                                       "winner_count, rule, seed, seed_hash, closes_at) values "
                                       "(:room, :host, 'x', 1, 'in_room', '\\x00', 'abc', now())"),
                                  {"room": room.id, "host": room.host.id})

    await close_draw_now(services, draw["id"])
    result = await drawn(client, draw["id"])
    assert await draws.run_draw(services, draw["id"]) is False
    with pytest.raises(DBAPIError, match="cannot be altered"):
        async with services.db.transaction() as session:
            await session.execute(text("update draws set winners = '{1}' where id = :id"),
                                  {"id": draw["id"]})
    assert (await client.get(f"/api/draws/{draw['id']}")).json() == result


async def test_a_follows_draw_enters_every_follower_of_the_host_at_the_close(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_viewers: MakeViewers, services: Services) -> None:
    # given a host with two followers, a viewer who follows then unfollows, and one who never
    # follows
    room = await live_room()
    early, late, gone, never = await make_viewers(4)
    for viewer in (early, gone):
        response = await client.post(f"/api/hosts/{room.host.id}/follow", headers=viewer.headers)
        assert response.status_code == 200, response.text
    # a follows draw takes no keyword
    response = await client.post(f"/api/rooms/{room.id}/draws", headers=room.host.headers,
                                 json={"prize": "Scarf", "winner_count": 2, "rule": "follows",
                                       "keyword": "x", "countdown_seconds": 5})
    assert response.status_code == 422 and response.json()["error"]["field"] == "keyword"

    # when the host starts a draw that follows the host (a short one: started directly)
    draw = await draws.start_draw(services, room.host.principal, room.id, draws.DrawTerms(
        prize="A scarf", winner_count=2, rule=EntryRule.FOLLOWS, keyword=None,
        countdown_seconds=2))
    # and, while it is open, one viewer follows, one unfollows, and one taps Join
    assert (await client.post(f"/api/hosts/{room.host.id}/follow",
                              headers=late.headers)).status_code == 200
    assert (await client.delete(f"/api/hosts/{room.host.id}/follow",
                                headers=gone.headers)).status_code == 200
    response = await client.post(f"/api/draws/{draw.id}/enter", headers=never.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "enter_by_following"
    # (following is being in, until the close)
    for viewer, expected in ((late, True), (never, False), (gone, False)):
        mine = (await client.get(f"/api/rooms/{room.id}/engagement",
                                 headers=viewer.headers)).json()
        assert mine["draw"]["rule"] == "follows" and mine["you"]["entered"] is expected

    # then at the close the followers of that moment are the entrants, and the published data
    # recomputes the winners
    result = await drawn(client, draw.id)
    assert result["entrants"] == sorted([early.id, late.id])
    assert sorted(await draws.entered_users(services, draw.id)) == result["entrants"]
    check = draws.verify(result["seed"], result["seed_hash"], result["entrants"],
                         result["winner_count"], result["winners"])
    assert check.commitment_ok and check.winners_ok and len(result["winners"]) == 2
    mine = (await client.get(f"/api/rooms/{room.id}/engagement", headers=never.headers)).json()
    assert mine["you"]["entered"] is False
